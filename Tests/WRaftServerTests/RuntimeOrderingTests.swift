import KVStore
import RaftCore
import Testing

@testable import WRaftServer

/// The runtime bugs of issue 9, each reached by putting the runtime's events in an exact order:
/// a store whose writes the test holds (GatedStorage), messages handed to the runtime directly,
/// and the runtime's own retry and snapshot steps called at the chosen moment.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeOrderingTests {
    /// Bug 1: a re-proposed batch the core refuses as overloaded. Each write in it was appended
    /// by this leader already, and that copy commits once it is written: a 503 ("not applied")
    /// would be a lie. The batch is split so the part with room goes in; the rest stays pending.
    @Test func aReproposedBatchWithoutRoomIsSplitAndNoneOfItsWritesIsRefused() async throws {
        let storage = GatedStorage()
        // 1 MiB of uncommitted entries at most: three writes of 200 kB fit, twice that does not.
        let cluster = TestCluster(size: 1, storages: [storage]) { $0.uncommittedBytesMax = 1 << 20 }
        try await cluster.stoppingAll {
            _ = try await Self.start(cluster)
            let runtime = try cluster.nodes[0].runtime
            _ = try await runtime.write(WriteRequest(key: "first", operation: .put(value: [1])), deadline: deadline())

            // Nothing is written from here on: the leader's new entries stay uncommitted.
            await storage.hold(.persists)
            let value = [UInt8](repeating: 7, count: 200_000)
            let writes = (0..<3).map { number in
                Task {
                    try await runtime.write(
                        WriteRequest(key: "w\(number)", operation: .put(value: value)), deadline: deadline(.seconds(30)))
                }
            }
            try await TestCluster.waitUntil("the three writes are appended by the leader") {
                await runtime.writesHandedToLeader == 3
            }
            let lastIndex = try #require(await runtime.coreStatus).lastLogIndex

            // The stall retry hands all three to the core again, in one batch of 600 kB on top of the
            // 600 kB uncommitted: refused whole as overloaded.
            await runtime.retryStalledRequestsNow()
            #expect(await runtime.writesHandedToLeader == 3, "no write already in the log is answered 503")
            let afterRetry = try #require(await runtime.coreStatus).lastLogIndex
            #expect(afterRetry == lastIndex + 2, "the batch is split: the two commands with room are appended again")

            await storage.release()
            for (number, write) in writes.enumerated() {
                let outcome = try await write.value
                #expect(outcome.key == "w\(number)")
            }
            for number in 0..<3 {
                let read = try await runtime.read(key: "w\(number)", consistency: .linearizable, deadline: deadline())
                #expect(read?.value == value)
            }
        }
    }

    /// Bug 3: read attempt ids restarted at 1 in every process, so an answer meant for the
    /// previous process could be matched to a new read and serve it from a stale index.
    @Test func aReadIndexAnswerMeantForThePreviousProcessServesNoNewRead() async throws {
        // A long election timeout: the isolated follower keeps its leader while the test runs.
        let cluster = TestCluster(size: 3) { $0.electionTimeoutMs = 2_000 }
        try await cluster.stoppingAll {
            let (leader, position) = try await Self.start(cluster)
            let leaderRuntime = try cluster.nodes[leader].runtime
            let leaderID = try #require(NodeID(hex: await leaderRuntime.state().id))
            _ = try await leaderRuntime.write(WriteRequest(key: "k", operation: .put(value: Array("old".utf8))), deadline: deadline())
            let oldIndex = try #require(await leaderRuntime.coreStatus).commitIndex

            // The follower's process reads once; the id of that attempt is what a late answer to it carries.
            let previous = try cluster.nodes[position].runtime
            let previousAttempt = ReadRequestID(await previous.nextReadAttempt)
            _ = try await previous.read(key: "k", consistency: .linearizable, deadline: deadline())
            await cluster.nodes[position].stop()
            try await cluster.nodes[position].open()
            let restarted = try cluster.nodes[position].runtime
            let followerID = try #require(NodeID(hex: await restarted.state().id))
            try await TestCluster.waitUntil("the restarted follower follows the leader and applied k=old") {
                guard let status = await restarted.coreStatus else { return false }
                return status.leader == leaderID && status.appliedIndex >= oldIndex
            }

            // The leader stops hearing the follower (and sending to it), then acknowledges k=new.
            try await leaderRuntime.inject(.isolate(peers: [followerID]))
            _ = try await leaderRuntime.write(WriteRequest(key: "k", operation: .put(value: Array("new".utf8))), deadline: deadline())
            let read = Task { try await restarted.read(key: "k", consistency: .linearizable, deadline: deadline(.seconds(20))) }
            try await TestCluster.waitUntil("the read asked the leader") { await restarted.readsAskedOfTheLeader == 1 }
            // The answer to the previous process's read arrives now.
            let term = try #require(await restarted.coreStatus).term
            await restarted.receive(
                Message(from: leaderID, to: followerID, term: term, payload: .readIndexResponse(previousAttempt, oldIndex)))
            try await leaderRuntime.inject(.heal)
            let outcome = try await read.value
            #expect(outcome?.value == Array("new".utf8), "a read that started after k=new was acknowledged sees it")
        }
    }

    /// Bug 2: the follower's own snapshot S1 is still being serialized when the leader's newer
    /// S2 arrives and is installed; saving S1 after it would move the stored snapshot backwards
    /// (StorageEngine traps). S1 is dropped. Installing S2 also restarts the count of bytes
    /// applied since the last snapshot.
    @Test func anOwnSnapshotOvertakenByAnInstalledNewerOneIsDropped() async throws {
        let storages = (0..<3).map { _ in GatedStorage() }
        let cluster = TestCluster(size: 3, storages: storages) {
            $0.snapshotEntries = 20
            $0.snapshotRetainedEntries = 0
        }
        try await cluster.stoppingAll {
            let (leader, position) = try await Self.start(cluster)
            let leaderRuntime = try cluster.nodes[leader].runtime
            let follower = try cluster.nodes[position].runtime
            let followerID = try #require(NodeID(hex: await follower.state().id))
            // 50 kB applied before the install.
            for number in 0..<5 {
                let request = WriteRequest(key: "early\(number)", operation: .put(value: [UInt8](repeating: 1, count: 10_000)))
                _ = try await leaderRuntime.write(request, deadline: deadline())
            }
            let ownIndex = try #require(await leaderRuntime.coreStatus).commitIndex
            try await TestCluster.waitUntil("the follower applied the early writes") {
                await follower.coreStatus?.appliedIndex == ownIndex
            }
            // While the follower is cut off, the leader snapshots past it and compacts its log.
            try await leaderRuntime.inject(.isolate(peers: [followerID]))
            for number in 0..<30 {
                _ = try await leaderRuntime.write(WriteRequest(key: "late\(number)", operation: .put(value: [1])), deadline: deadline())
            }
            try await TestCluster.waitUntil("the leader compacted past the follower") {
                (await leaderRuntime.coreStatus?.snapshotIndex ?? .zero) > ownIndex
            }

            // S1: started now, its bytes ready only when the test says.
            let serialization = TestGate()
            let isStarted = await follower.takeSnapshot { store in
                await serialization.wait()
                return store.snapshot()
            }
            #expect(isStarted)
            try await leaderRuntime.inject(.heal)
            try await TestCluster.waitUntil("the follower installed the leader's snapshot") {
                await follower.lastSnapshotIndex > ownIndex
            }
            #expect(await follower.appliedBytesSinceSnapshot < 50_000, "the count restarts at the installed snapshot")

            await serialization.open()
            await follower.waitForSnapshotInProgress()
            #expect(await follower.state().status == "running")
            #expect(!(await storages[position].savesRequested).contains { $0.index == ownIndex }, "S1 is never saved")
            let read = try await follower.read(key: "late29", consistency: .linearizable, deadline: deadline())
            #expect(read?.value == [1])
        }
    }

    /// Bug 4: snapshots S1, S2, S3 arrive while S1's Ready waits behind a write in progress. The
    /// runtime kept only the two newest received snapshots, so S1's bytes were gone when its
    /// Ready was persisted (a trap). The bytes a queued Ready names are kept until it is done.
    @Test func aQueuedSnapshotReadyKeepsItsBytesWhileNewerSnapshotsArrive() async throws {
        let storages = (0..<3).map { _ in GatedStorage() }
        let cluster = TestCluster(size: 3, storages: storages)
        try await cluster.stoppingAll {
            let (leader, position) = try await Self.start(cluster)
            _ = try await cluster.nodes[leader].runtime.write(WriteRequest(key: "a", operation: .put(value: [1])), deadline: deadline())
            // The test plays the leader of the next term towards the one node left running.
            let runtime = try cluster.nodes[position].runtime
            let leaderID = try #require(NodeID(hex: await cluster.nodes[leader].runtime.state().id))
            let localID = try #require(NodeID(hex: await runtime.state().id))
            for other in 0..<3 where other != position { await cluster.nodes[other].stop() }
            let status = try #require(await runtime.coreStatus)
            let term = status.term.next
            let context = await runtime.context(for: status.membership)

            // A heartbeat of the next term: writing that term is the write the next Readys wait behind.
            await storages[position].hold(.persists)
            await runtime.receive(
                Message(from: leaderID, to: localID, term: term, payload: .heartbeat(HeartbeatRequest(commit: status.commitIndex))))
            try await TestCluster.waitUntil("the new term is being written") { await storages[position].waitingCount == 1 }

            var snapshots: [SnapshotMetadata] = []
            for number in 1...3 {
                let index = LogIndex(status.commitIndex.rawValue + UInt64(10 * number))
                let metadata = SnapshotMetadata(index: index, term: term, membership: status.membership, membershipContext: context)
                snapshots.append(metadata)
                let bytes = Self.snapshotBytes(at: index, term: term, key: "s\(number)")
                await runtime.receiveSnapshot(
                    Message(from: leaderID, to: localID, term: term, payload: .installSnapshot(metadata)), data: bytes,
                    decoded: .success(try KVStore(snapshot: bytes)))
                if number == 1 {
                    try await TestCluster.waitUntil("S1's Ready is queued") { await runtime.persistQueueCount == 1 }
                }
            }
            await storages[position].release()
            try await TestCluster.waitUntil("S3 is installed") { await runtime.coreStatus?.appliedIndex == snapshots[2].index }
            #expect(try await runtime.read(key: "s3", consistency: .local, deadline: deadline())?.value == [3])
            #expect(await runtime.state().status == "running")
        }
    }

    /// Opens, forms and starts `cluster`; the leader's position, and the next node's.
    static func start(_ cluster: TestCluster) async throws -> (leader: Int, next: Int) {
        try await cluster.openAll()
        try await cluster.formAndStart()
        let leader = try await cluster.waitForLeader()
        return (leader, (leader + 1) % cluster.nodes.count)
    }

    /// The bytes of a state machine holding one key, applied at `index`.
    static func snapshotBytes(at index: LogIndex, term: Term, key: String) -> [UInt8] {
        var store = KVStore()
        let number = UInt8(key.dropFirst()) ?? 0
        let command = KVCommand(
            id: ClientRequestID(client: 1, sequence: 1), operation: .put(key: Array(key.utf8), value: [number], condition: .none))
        _ = store.apply(Entry(term: term, index: index, kind: .command, data: command.encoded()))
        return store.snapshot()
    }
}

extension NodeRuntime {
    /// How many pending writes a leader has appended (or a follower forwarded).
    var writesHandedToLeader: Int { proposals.handedCount }

    /// The stall retry as housekeeping runs it once `retryInterval` has passed, with the
    /// re-proposals flushed at once.
    func retryStalledRequestsNow() {
        retryStalledRequests(now: .now + retryInterval)
        flushProposals()
    }

    /// How many pending reads wait for the answer to a read-index request.
    var readsAskedOfTheLeader: Int {
        reads.keys.filter { reads[$0]?.lastRequestedAt != nil && reads[$0]?.readIndex == nil }.count
    }

    var persistQueueCount: Int { pipeline.queuedCount }
}
