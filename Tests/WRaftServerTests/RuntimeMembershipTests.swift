import Foundation
import RaftCore
import Testing

@testable import WRaftServer

/// Joining a running cluster, promotion, removal, conflicts.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeMembershipTests {
    @Test func anEmptyNodeJoinsThroughASnapshotAndIsPromoted() async throws {
        let cluster = TestCluster(size: 4) { $0.snapshotEntries = 20; $0.snapshotRetainedEntries = 5 }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            for node in cluster.nodes[1...2] {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader(among: [0, 1, 2])
            let runtime = try cluster.nodes[leader].runtime
            for number in 0..<60 {
                _ = try await runtime.write(WriteRequest(key: "k\(number)", operation: .put(value: [UInt8(number)])), deadline: deadline())
            }
            #expect(await runtime.state().snapshotIndex > 0)

            // The fourth node joins through a follower (forwarded to the leader).
            let joiner = try cluster.nodes[3].runtime
            let outcome = try await joiner.connect(peerRaftAddress: cluster.nodes[(leader + 1) % 3].options.raftAddress)
            guard case .joined(let clusterID, _) = outcome else {
                Issue.record("expected a join, got \(outcome)")
                return
            }
            #expect(clusterID == (await runtime.state().clusterID))
            let joinerID = await joiner.state().id

            try await TestCluster.waitUntil("the joiner is promoted to voter") {
                let members = try await cluster.nodes[leader].runtime.state().members
                return members.first { $0.id == joinerID }?.voter == true
            }
            try await TestCluster.waitUntil("the joiner caught up") {
                (try await joiner.read(key: "k59", consistency: .local, deadline: deadline()))?.value == [59]
            }
            #expect(await joiner.state().snapshotIndex > 0)
            let read = try await joiner.read(key: "k0", consistency: .linearizable, deadline: deadline())
            #expect(read?.value == [0])
            // The joiner writes too.
            _ = try await joiner.write(WriteRequest(key: "from-joiner", operation: .put(value: [1])), deadline: deadline())
            #expect(await joiner.state().members.count == 4)
        }
    }

    @Test func aJoinerRestartedBeforeItsLogNamesAnyoneStillCatchesUp() async throws {
        let cluster = TestCluster(size: 4)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            for node in cluster.nodes[1...2] {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader(among: [0, 1, 2])
            _ = try await cluster.nodes[leader].runtime.write(
                WriteRequest(key: "before", operation: .put(value: [1])), deadline: deadline())

            // The joiner is paused (no raft traffic) so that it restarts with an empty log: only its
            // identity file can tell it where its peers are.
            let joiner = cluster.nodes[3]
            try await joiner.runtime.inject(.pause)
            let outcome = try await joiner.runtime.connect(peerRaftAddress: cluster.nodes[leader].options.raftAddress)
            guard case .joined = outcome else {
                Issue.record("expected a join, got \(outcome)")
                return
            }
            #expect(try await joiner.runtime.state().lastLogIndex == 0)
            await joiner.stop()
            try await joiner.open()
            try await TestCluster.waitUntil("the restarted joiner catches up") {
                (try await joiner.runtime.read(key: "before", consistency: .local, deadline: deadline()))?.value == [1]
            }
        }
    }

    @Test func aMemberRestartedOnOtherAddressesIsRefusedWithAClearMessage() async throws {
        let directories = (0..<3).map { _ in FileManager.default.temporaryDirectory.appendingPathComponent("wraft-moved-\(UUID())").path }
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        let cluster = TestCluster(size: 3, directories: directories)
        try await cluster.openAll()
        try await cluster.formAndStart()
        _ = try await cluster.waitForLeader()
        await cluster.stopAll()
        let moved = TestCluster(size: 3, directories: directories) { $0.raftPort += 100 }
        var refusal: (any Error)?
        do {
            try await moved.nodes[0].open()
        } catch {
            refusal = error
        }
        await moved.stopAll()
        let message = try #require(refusal as? NodeStartupError).description
        #expect(message.contains("restart it on those addresses"))
        #expect(message.contains("mem:10002"))
    }

    @Test func aRunningNodeInvitesAnEmptyOne() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            _ = try await cluster.nodes[1].runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            try await cluster.nodes[0].runtime.start()
            _ = try await cluster.waitForLeader(among: [0, 1])
            let outcome = try await cluster.nodes[0].runtime.connect(peerRaftAddress: cluster.nodes[2].options.raftAddress)
            guard case .joined = outcome else {
                Issue.record("expected a join, got \(outcome)")
                return
            }
            #expect(try await cluster.nodes[2].runtime.state().status == "running")
            // Connecting again is harmless: the node is already a member.
            let again = try await cluster.nodes[0].runtime.connect(peerRaftAddress: cluster.nodes[2].options.raftAddress)
            guard case .joined = again else {
                Issue.record("expected joined again, got \(again)")
                return
            }
        }
    }

    @Test func twoRunningClustersConflict() async throws {
        let cluster = TestCluster(size: 4)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            _ = try await cluster.nodes[1].runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            _ = try await cluster.nodes[3].runtime.connect(peerRaftAddress: cluster.nodes[2].options.raftAddress)
            try await cluster.nodes[0].runtime.start()
            try await cluster.nodes[2].runtime.start()
            _ = try await cluster.waitForLeader(among: [0, 1])
            _ = try await cluster.waitForLeader(among: [2, 3])
            let error = await caughtNodeError {
                _ = try await cluster.nodes[0].runtime.connect(peerRaftAddress: cluster.nodes[2].options.raftAddress)
            }
            guard case .clusterConflict = error else {
                Issue.record("expected a cluster conflict, got \(String(describing: error))")
                return
            }
            // Starting again is idempotent.
            try await cluster.nodes[0].runtime.start()
        }
    }

    @Test func aMemberAndThenTheLeaderAreRemoved() async throws {
        let cluster = TestCluster(size: 4)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let follower = (leader + 1) % 4
            let followerID = try #require(NodeID(hex: try await cluster.nodes[follower].runtime.state().id))
            // Removal asked of another follower is forwarded to the leader.
            let asker = try cluster.nodes[(leader + 2) % 4].runtime
            try await asker.removeMember(followerID, deadline: deadline())
            #expect(try await cluster.nodes[leader].runtime.state().members.count == 3)
            // The asker applies the removal once the leader tells it of the commit (within
            // `commitBroadcastDelayTicks`); until then a second removal waits for the first.
            let removalIndex = try await cluster.nodes[leader].runtime.state().appliedIndex
            for _ in 0..<200 where await asker.state().appliedIndex < removalIndex { try await Task.sleep(for: .milliseconds(10)) }
            #expect(await asker.state().appliedIndex >= removalIndex)
            let missing = await caughtNodeError { try await asker.removeMember(followerID, deadline: deadline()) }
            if case .notFound = missing {} else { Issue.record("removing a non-member: \(String(describing: missing))") }

            // The leader removes itself: it steps down and the others elect a new leader.
            let remaining = (0..<4).filter { $0 != follower && $0 != leader }
            let leaderID = try #require(NodeID(hex: try await cluster.nodes[leader].runtime.state().id))
            try await cluster.nodes[leader].runtime.removeMember(leaderID, deadline: deadline())
            let newLeader = try await cluster.waitForLeader(among: remaining)
            #expect(newLeader != leader)
            let state = try await cluster.nodes[newLeader].runtime.state()
            #expect(state.members.count == 2)
            _ = try await cluster.nodes[newLeader].runtime.write(
                WriteRequest(key: "after", operation: .put(value: [1])), deadline: deadline())
        }
    }
}
