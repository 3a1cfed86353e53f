import RaftCore
import Testing

@testable import WRaftServer

/// Whole clusters of `NodeRuntime`s on the in-memory harness: formation, writes, reads, CAS,
/// forwarding, restart, membership, faults.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeClusterTests {
    @Test func threeNodesFormAClusterAndServeWritesAndReads() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {

            let before = try await cluster.nodes[0].runtime.state()
            #expect(before.status == "initial")
            #expect(before.members.count == 1)

            // n-1 connects, then every node knows every other.
            _ = try await cluster.nodes[1].runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            let merged = try await cluster.nodes[2].runtime.connect(peerRaftAddress: cluster.nodes[1].options.raftAddress)
            guard case .merged(let members) = merged else {
                Issue.record("expected a merge, got \(merged)")
                return
            }
            #expect(members.count == 3)
            for node in cluster.nodes {
                #expect(try await node.runtime.state().members.count == 3)
            }

            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader()
            for node in cluster.nodes {
                let state = try await node.runtime.state()
                #expect(state.status == "running")
                #expect(state.clusterID == (try await cluster.nodes[0].runtime.state().clusterID))
            }

            let runtime = try cluster.nodes[leader].runtime
            let written = try await runtime.write(
                WriteRequest(key: "greeting", operation: .put(value: Array("hello".utf8))), deadline: deadline())
            #expect(written.key == "greeting")
            #expect(written.index > 1)
            #expect(written.deleted == nil)

            let read = try await runtime.read(key: "greeting", consistency: .linearizable, deadline: deadline())
            #expect(read?.value == Array("hello".utf8))
            #expect(read?.index == written.index)
            #expect(try await runtime.read(key: "absent", consistency: .linearizable, deadline: deadline()) == nil)

            // A follower's write is forwarded by the core and answered once applied here.
            let follower = try cluster.nodes[(leader + 1) % 3].runtime
            let forwarded = try await follower.write(
                WriteRequest(key: "from-follower", operation: .put(value: [1, 2, 3])), deadline: deadline())
            #expect(forwarded.index > written.index)
            let readOnFollower = try await follower.read(key: "from-follower", consistency: .linearizable, deadline: deadline())
            #expect(readOnFollower?.value == [1, 2, 3])
            let greetingOnFollower = try await follower.read(key: "greeting", consistency: .linearizable, deadline: deadline())
            #expect(greetingOnFollower?.value == Array("hello".utf8))
        }
    }

    @Test func compareAndSetAndDelete() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[(leader + 2) % 3].runtime

            let first = try await runtime.write(WriteRequest(key: "k", operation: .put(value: [1])), deadline: deadline())
            await #expect(throws: NodeError.self) {
                _ = try await runtime.write(
                    WriteRequest(key: "k", operation: .put(value: [2]), condition: .valueEquals([9])), deadline: deadline())
            }
            let swapped = try await runtime.write(
                WriteRequest(key: "k", operation: .put(value: [2]), condition: .valueEquals([1])), deadline: deadline())
            #expect(swapped.index > first.index)
            let staleError = await caughtNodeError {
                _ = try await runtime.write(
                    WriteRequest(key: "k", operation: .put(value: [3]), condition: .indexEquals(LogIndex(first.index))),
                    deadline: deadline())
            }
            guard case .compareFailed = staleError else {
                Issue.record("a stale prevIndex must fail with compareFailed, got \(String(describing: staleError))")
                return
            }
            let byIndex = try await runtime.write(
                WriteRequest(key: "k", operation: .put(value: [4]), condition: .indexEquals(LogIndex(swapped.index))),
                deadline: deadline())
            #expect(byIndex.index > swapped.index)
            let created = try await runtime.write(
                WriteRequest(key: "new", operation: .put(value: [5]), condition: .indexEquals(.zero)), deadline: deadline())
            #expect(created.index > byIndex.index)

            let deleted = try await runtime.write(WriteRequest(key: "k", operation: .delete), deadline: deadline())
            #expect(deleted.deleted == true)
            let deletedAgain = try await runtime.write(WriteRequest(key: "k", operation: .delete), deadline: deadline())
            #expect(deletedAgain.deleted == false)
            #expect(try await runtime.read(key: "k", consistency: .linearizable, deadline: deadline()) == nil)

            let listed = try await runtime.list(prefix: "", limit: 10, consistency: .linearizable, deadline: deadline())
            #expect(listed.items.map(\.key) == ["new"])
            #expect(listed.hasMore == false)
        }
    }

    @Test func manyConcurrentWritesAreAllAppliedOnce() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            _ = try await cluster.waitForLeader()
            let runtimes = try cluster.nodes.map { try $0.runtime }
            let writesPerNode = 200
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (position, runtime) in runtimes.enumerated() {
                    group.addTask {
                        for number in 0..<writesPerNode {
                            _ = try await runtime.write(
                                WriteRequest(key: "n\(position)-\(number)", operation: .put(value: [UInt8(number % 256)])),
                                deadline: deadline(.seconds(10)))
                        }
                    }
                }
                try await group.waitForAll()
            }
            for runtime in runtimes {
                let listed = try await runtime.list(prefix: "n", limit: 10_000, consistency: .linearizable, deadline: deadline())
                #expect(listed.items.count == 3 * writesPerNode)
            }
        }
    }

    @Test func localReadsWorkWithoutALeaderAndLinearizableOnesDoNot() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            _ = try await runtime.write(WriteRequest(key: "x", operation: .put(value: [7])), deadline: deadline())
            // Wait until every node applied it, then stop the other two: no quorum any more.
            try await TestCluster.waitUntil("all applied") {
                for node in cluster.nodes where try await node.runtime.read(key: "x", consistency: .local, deadline: deadline()) == nil {
                    return false
                }
                return true
            }
            let follower = cluster.nodes[(leader + 1) % 3]
            for (position, node) in cluster.nodes.enumerated() where position != (leader + 1) % 3 { await node.stop() }
            let local = try await follower.runtime.read(key: "x", consistency: .local, deadline: deadline())
            #expect(local?.value == [7])
            let readError = await caughtNodeError {
                _ = try await follower.runtime.read(key: "x", consistency: .linearizable, deadline: deadline(.milliseconds(600)))
            }
            guard case .noLeader = readError else {
                Issue.record("a linearizable read without a quorum must fail with noLeader, got \(String(describing: readError))")
                return
            }
            let writeError = await caughtNodeError {
                _ = try await follower.runtime.write(
                    WriteRequest(key: "y", operation: .put(value: [1])), deadline: deadline(.milliseconds(600)))
            }
            switch writeError {
            case .noLeader, .unknownOutcome: break
            default: Issue.record("a write without a quorum must fail, got \(String(describing: writeError))")
            }
        }
    }

    @Test func restartFromTheDataKeepsEverythingAcknowledged() async throws {
        let cluster = TestCluster(size: 3) { $0.snapshotEntries = 50 }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            for number in 0..<120 {
                _ = try await runtime.write(WriteRequest(key: "k\(number)", operation: .put(value: [UInt8(number)])), deadline: deadline())
            }
            let clusterID = await runtime.state().clusterID
            // Crash every node, then reopen all on their stores.
            await cluster.stopAll()
            try await cluster.openAll()
            for node in cluster.nodes {
                let state = try await node.runtime.state()
                #expect(state.status == "running")
                #expect(state.clusterID == clusterID)
            }
            let newLeader = try await cluster.waitForLeader()
            let reopened = try cluster.nodes[newLeader].runtime
            let listed = try await reopened.list(prefix: "k", limit: 1_000, consistency: .linearizable, deadline: deadline())
            #expect(listed.items.count == 120)
            let value = try await reopened.read(key: "k119", consistency: .linearizable, deadline: deadline())
            #expect(value?.value == [119])
            #expect(await reopened.state().snapshotIndex > 0)
        }
    }

    @Test func aSnapshotIsTakenOnceEnoughCommandBytesWereApplied() async throws {
        // Entries alone would never trigger one here; 20 writes of 1 KiB pass the byte bound.
        let cluster = TestCluster(size: 3) { $0.snapshotEntries = 1_000_000; $0.snapshotLogBytes = 16 << 10 }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            #expect(await runtime.state().snapshotIndex == 0)
            for number in 0..<20 {
                _ = try await runtime.write(
                    WriteRequest(key: "big\(number)", operation: .put(value: Array(repeating: 7, count: 1_024))), deadline: deadline())
            }
            try await TestCluster.waitUntil("a snapshot by bytes applied") { await runtime.state().snapshotIndex > 0 }
        }
    }
}
