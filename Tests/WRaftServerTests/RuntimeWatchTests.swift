import KVStore
import RaftCore
import Testing

@testable import WRaftServer

/// Watches on real runtimes (in memory, real clock): a follower's watcher sees every change of
/// its prefix once and in order while several clients write; a watch from the history switches
/// to live with no gap and no repeat while writes go on; a compacted start and a snapshot that
/// jumps past a watcher end it with `compacted`.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RuntimeWatchTests {
    /// (revision, kind, key) of each event, the identity a watcher must see once.
    struct Seen: Equatable, CustomStringConvertible {
        var revision: UInt64
        var kind: KVEvent.Kind
        var key: String
        var description: String { "\(revision):\(kind):\(key)" }
        init(_ event: KVEvent) {
            revision = event.revision
            kind = event.kind
            key = String(decoding: event.entry.key, as: UTF8.self)
        }
    }

    /// Reads `stream` until it has seen revision `target` (bounded in time by `timeLimit` and
    /// by the number of deliveries).
    static func read(_ stream: WatchStream, through target: UInt64) async -> (seen: [Seen], end: WatchEnd?) {
        var seen: [Seen] = []
        for _ in 0..<100_000 {
            guard let delivery = await stream.next(progressAfter: .milliseconds(200)) else { break }
            switch delivery {
            case .events(let events): seen += events.map(Seen.init)
            case .progress(let revision): if revision >= target { return (seen, nil) }
            case .ended(let end): return (seen, end)
            }
            if let last = seen.last, last.revision >= target { return (seen, nil) }
        }
        return (seen, nil)
    }

    static func history(_ runtime: NodeRuntime, from revision: UInt64, prefix: String) async throws -> [Seen] {
        try await runtime.store.events(fromRevision: revision, in: .prefix(Array(prefix.utf8)), limit: .max).map(Seen.init)
    }

    private func withStartedCluster(
        configure: @escaping (inout NodeOptions) -> Void = { _ in }, _ body: (TestCluster, Int) async throws -> Void
    ) async throws {
        let cluster = TestCluster(size: 3, configure: configure)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            try await body(cluster, leader)
        }
    }

    @Test func aFollowersWatcherSeesEveryChangeOfItsPrefixOnceAndInOrderUnderConcurrentWriters() async throws {
        try await withStartedCluster { cluster, leader in
            let follower = try cluster.nodes[(leader + 1) % 3].runtime
            _ = try await follower.write(WriteRequest(key: "warmup", operation: .put(value: [0])), deadline: deadline())
            let stream = try await follower.openWatch(WatchRequest(range: .prefix(Array("app/".utf8)), includesPrevious: true))
            defer { stream.cancel() }
            let start = await follower.currentRevision() + 1
            let lease = try await follower.execute(.leaseGrant(id: 0, ttlSeconds: 60), deadline: deadline())
            guard case .leaseGranted(let leaseID, _) = lease else { throw HarnessError.timedOut("a lease grant") }
            // Three clients, one per node, write at once: puts, deletes, transactions, others' keys.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<3 {
                    let runtime = try cluster.nodes[writer].runtime
                    group.addTask {
                        for step in 0..<40 {
                            let key = "app/\(writer)/\(step % 7)"
                            _ = try await runtime.write(WriteRequest(key: key, operation: .put(value: [UInt8(step)])), deadline: deadline())
                            _ = try await runtime.write(WriteRequest(key: "other/\(step)", operation: .put(value: [1])), deadline: deadline())
                            if step % 5 == 4 {
                                _ = try await runtime.write(WriteRequest(key: key, operation: .delete), deadline: deadline())
                            }
                            if step % 8 == 0 {
                                let txn = KVTxn(compares: [], success: [
                                    .put(key: Array("app/txn/\(writer)a".utf8), value: [1], lease: 0),
                                    .put(key: Array("app/txn/\(writer)b".utf8), value: [2], lease: writer == 0 ? leaseID : 0),
                                ], failure: [])
                                _ = try await runtime.execute(.txn(txn), deadline: deadline())
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // A revoke deletes its keys at one revision (lease expiry proposes the same command).
            let revoked = try await follower.execute(.leaseRevoke(id: leaseID), deadline: deadline())
            guard case .leaseRevoked(_, let last) = revoked else { throw HarnessError.timedOut("a revoke") }
            try await TestCluster.waitUntil("the follower applied the revoke") { await follower.currentRevision() >= last }

            let (seen, end) = await Self.read(stream, through: last)
            #expect(end == nil)
            let expected = try await Self.history(follower, from: start, prefix: "app/")
            // Per writer 40 puts, 8 deletes, 5 transactions of two puts; and the revoke's delete.
            let expectedCount = 3 * (40 + 8 + 10) + 1
            #expect(expected.count == expectedCount)
            #expect(seen == expected, "every change of app/ once, in revision order")
            #expect(seen.contains { $0.kind == .delete && $0.key.hasPrefix("app/txn/0b") && $0.revision == last }, "the revoke's delete")
            #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.revision <= $1.revision })
        }
    }

    @Test func aWatchFromTheHistorySwitchesToLiveWithoutAGapOrARepeatWhileWritesGoOn() async throws {
        try await withStartedCluster(configure: { _ in }) { cluster, leader in
            let leaderRuntime = try cluster.nodes[leader].runtime
            let follower = try cluster.nodes[(leader + 2) % 3].runtime
            for step in 0..<300 {
                _ = try await leaderRuntime.write(WriteRequest(key: "k/\(step % 13)", operation: .put(value: [1])), deadline: deadline())
            }
            try await TestCluster.waitUntil("the follower applied the first writes") {
                await follower.currentRevision() >= (await leaderRuntime.currentRevision())
            }
            let from = await follower.currentRevision() - 250
            // Writes go on while the watch replays 250 revisions of history (pages of 1,000
            // events at most, so small pages are forced with a long replay below too).
            let writes = Task {
                for step in 0..<200 {
                    _ = try await leaderRuntime.write(WriteRequest(key: "k/\(step % 11)", operation: .put(value: [2])), deadline: deadline())
                }
            }
            let stream = try await follower.openWatch(WatchRequest(range: .prefix(Array("k/".utf8)), fromRevision: from))
            defer { stream.cancel() }
            try await writes.value
            let last = await leaderRuntime.currentRevision()
            try await TestCluster.waitUntil("the follower applied every write") { await follower.currentRevision() >= last }
            let (seen, end) = await Self.read(stream, through: last)
            #expect(end == nil)
            let expected = try await Self.history(follower, from: from, prefix: "k/")
            #expect(expected.count == Int(last - from + 1))
            #expect(seen == expected)
        }
    }

    @Test func aCompactedStartIsRefusedWithTheCompactionRevision() async throws {
        try await withStartedCluster { cluster, leader in
            let runtime = try cluster.nodes[leader].runtime
            for step in 0..<5 { _ = try await runtime.write(WriteRequest(key: "c/\(step)", operation: .put(value: [1])), deadline: deadline()) }
            let current = await runtime.currentRevision()
            _ = try await runtime.execute(.compact(revision: current - 1), deadline: deadline())
            await #expect(throws: WatchOpenError.compacted(compactRevision: current - 1)) {
                _ = try await runtime.openWatch(WatchRequest(range: .prefix([]), fromRevision: current - 2))
            }
            let fine = try await runtime.openWatch(WatchRequest(range: .prefix([]), fromRevision: current))
            defer { fine.cancel() }
            let (seen, _) = await Self.read(fine, through: current)
            #expect(seen.map(\.revision) == [current])
        }
    }

    @Test func aSnapshotThatJumpsPastAWatcherEndsItWithCompacted() async throws {
        try await withStartedCluster(configure: { options in
            options.snapshotEntries = 20
            options.snapshotRetainedEntries = 2
        }) { cluster, leader in
            let leaderRuntime = try cluster.nodes[leader].runtime
            let laggard = try cluster.nodes[(leader + 1) % 3].runtime
            _ = try await leaderRuntime.write(WriteRequest(key: "s/0", operation: .put(value: [1])), deadline: deadline())
            try await TestCluster.waitUntil("the laggard applied the first write") {
                await laggard.currentRevision() >= (await leaderRuntime.currentRevision())
            }
            let stream = try await laggard.openWatch(WatchRequest(range: .prefix(Array("s/".utf8))))
            defer { stream.cancel() }
            try await laggard.inject(.isolate(peers: nil))
            for step in 1..<100 {
                _ = try await leaderRuntime.write(WriteRequest(key: "s/\(step)", operation: .put(value: [1])), deadline: deadline())
            }
            let current = await leaderRuntime.currentRevision()
            _ = try await leaderRuntime.execute(.compact(revision: current), deadline: deadline())
            try await leaderRuntime.inject(.snapshot)
            try await laggard.inject(.heal)
            try await TestCluster.waitUntil("the laggard caught up") { await laggard.currentRevision() >= current }
            let (_, end) = await Self.read(stream, through: current)
            #expect(end == .compacted(compactRevision: current), "no silent skip: the watcher learns what it missed is gone")
        }
    }
}
