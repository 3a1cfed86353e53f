import RaftCore
import Testing

@testable import WRaftServer

/// Fault injection (`/op/...`) and failover on the in-memory harness.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeFaultTests {
    @Test func faultsAreRefusedUnlessEnabled() async throws {
        let cluster = TestCluster(size: 1, faults: false)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            let error = await caughtNodeError { try await cluster.nodes[0].runtime.inject(.pause) }
            #expect(error == .faultsDisabled)
        }
    }

    @Test func faultsShowInStateAndHealClearsThem() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            _ = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[0].runtime
            let peer = try #require(NodeID(hex: try await cluster.nodes[1].runtime.state().id))
            try await runtime.inject(.isolate(peers: [peer]))
            try await runtime.inject(.delay(ms: 5, jitterMs: 2))
            try await runtime.inject(.drop(rate: 0.25))
            try await runtime.inject(.pause)
            let faults = await runtime.state().faults
            #expect(faults == ["paused", "isolated:\(peer)", "delay:5±2ms", "drop:0.25"])
            #expect(await runtime.health().serving == false)
            try await runtime.inject(.heal)
            #expect(await runtime.state().faults.isEmpty)
            #expect(await runtime.health().serving == true)
            let bad = await caughtNodeError { try await runtime.inject(.drop(rate: 1.5)) }
            if case .badRequest = bad {} else { Issue.record("a drop rate above 1 must be refused: \(String(describing: bad))") }
        }
    }

    @Test func aPausedLeaderRefusesWritesAndLinearizableReadsAtOnce() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            _ = try await runtime.write(WriteRequest(key: "k", operation: .put(value: [1])), deadline: deadline())
            try await runtime.inject(.pause)
            let started = ContinuousClock.now
            let writeError = await caughtNodeError {
                _ = try await runtime.write(WriteRequest(key: "k", operation: .put(value: [2])), deadline: deadline(.seconds(5)))
            }
            let readError = await caughtNodeError {
                _ = try await runtime.read(key: "k", consistency: .linearizable, deadline: deadline(.seconds(5)))
            }
            // Refused, not left to time out (which would say 504 unknown_outcome).
            #expect(writeError == .noLeader(retryAfterMs: NodeRuntime.retryAfterMs))
            #expect(readError == .noLeader(retryAfterMs: NodeRuntime.retryAfterMs))
            #expect(ContinuousClock.now - started < .seconds(4))
            // A local read still answers from the paused node's state machine.
            let local = try await runtime.read(key: "k", consistency: .local, deadline: deadline())
            #expect(local?.value == [1])
            try await runtime.inject(.resume)
            _ = try await cluster.waitForLeader()
        }
    }

    @Test func anIsolatedLeaderServesNothingAndTheMajorityGoesOn() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let old = try cluster.nodes[leader].runtime
            _ = try await old.write(WriteRequest(key: "k", operation: .put(value: [1])), deadline: deadline())
            try await old.inject(.isolate(peers: nil))

            let others = (0..<3).filter { $0 != leader }
            let newLeader = try await cluster.waitForLeader(among: others)
            let majority = try cluster.nodes[newLeader].runtime
            _ = try await majority.write(WriteRequest(key: "k", operation: .put(value: [2])), deadline: deadline())

            // The old leader can neither write nor serve a linearizable read (that would be stale).
            let writeError = await caughtNodeError {
                _ = try await old.write(WriteRequest(key: "k", operation: .put(value: [3])), deadline: deadline(.milliseconds(500)))
            }
            #expect(writeError != nil)
            let readError = await caughtNodeError {
                _ = try await old.read(key: "k", consistency: .linearizable, deadline: deadline(.milliseconds(500)))
            }
            #expect(readError == .noLeader(retryAfterMs: NodeRuntime.retryAfterMs))
            // Its local read is stale, by design.
            #expect(try await old.read(key: "k", consistency: .local, deadline: deadline())?.value == [1])

            try await old.inject(.heal)
            try await TestCluster.waitUntil("the healed node converges") {
                try await old.read(key: "k", consistency: .local, deadline: deadline())?.value == [2]
            }
            #expect(try await old.read(key: "k", consistency: .linearizable, deadline: deadline())?.value == [2])
            // The rejected write on the isolated side never took effect.
            #expect(try await majority.read(key: "k", consistency: .linearizable, deadline: deadline())?.value == [2])
        }
    }

    @Test func writesGoOnThroughALeaderCrash() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let follower = try cluster.nodes[(leader + 1) % 3].runtime
            var acknowledged: [String] = []
            for number in 0..<20 {
                _ = try await follower.write(WriteRequest(key: "a\(number)", operation: .put(value: [1])), deadline: deadline())
                acknowledged.append("a\(number)")
            }
            await cluster.nodes[leader].stop()
            // The follower's writes wait for the new leader and then succeed (same deadline).
            for number in 0..<20 {
                _ = try await follower.write(
                    WriteRequest(key: "b\(number)", operation: .put(value: [2])), deadline: deadline(.seconds(5)))
                acknowledged.append("b\(number)")
            }
            try await cluster.nodes[leader].open()
            let listed = try await follower.list(prefix: "", limit: 100, consistency: .linearizable, deadline: deadline())
            #expect(Set(listed.items.map(\.key)) == Set(acknowledged))
            try await TestCluster.waitUntil("the restarted node catches up") {
                try await cluster.nodes[leader].runtime.read(key: "b19", consistency: .local, deadline: deadline()) != nil
            }
        }
    }

    @Test func stepDownAndTransferMoveLeadership() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            _ = try await cluster.nodes[leader].runtime.write(
                WriteRequest(key: "k", operation: .put(value: [1])), deadline: deadline())
            let notLeader = await caughtNodeError { try await cluster.nodes[(leader + 1) % 3].runtime.inject(.stepDown) }
            if case .wrongState = notLeader {} else { Issue.record("step-down on a follower: \(String(describing: notLeader))") }

            try await cluster.nodes[leader].runtime.inject(.stepDown)
            try await TestCluster.waitUntil("another leader") {
                let newLeader = try await cluster.waitForLeader()
                return newLeader != leader
            }
            // A transfer asked of a follower is forwarded to the leader.
            let current = try await cluster.waitForLeader()
            let target = (current + 1) % 3
            let targetID = try #require(NodeID(hex: try await cluster.nodes[target].runtime.state().id))
            try await cluster.nodes[(current + 2) % 3].runtime.inject(.transfer(to: targetID))
            try await TestCluster.waitUntil("the target leads") {
                try await cluster.waitForLeader() == target
            }
        }
    }

    @Test func snapshotOnDemandCompactsTheLog() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[leader].runtime
            for number in 0..<10 {
                _ = try await runtime.write(WriteRequest(key: "k\(number)", operation: .put(value: [1])), deadline: deadline())
            }
            try await runtime.inject(.snapshot)
            try await TestCluster.waitUntil("the snapshot is taken") { await runtime.state().snapshotIndex >= 11 }
            let log = await runtime.log(from: .zero, limit: 100)
            #expect(log.snapshotIndex >= 11)
            #expect(log.entries.last?.summary.isEmpty == false)
        }
    }

    @Test func dropAndDelaySlowButDoNotBreakTheCluster() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            _ = try await cluster.waitForLeader()
            for node in cluster.nodes {
                try await node.runtime.inject(.drop(rate: 0.2))
                try await node.runtime.inject(.delay(ms: 3, jitterMs: 2))
            }
            let runtime = try cluster.nodes[0].runtime
            for number in 0..<20 {
                _ = try await runtime.write(
                    WriteRequest(key: "k\(number)", operation: .put(value: [1])), deadline: deadline(.seconds(10)))
            }
            let listed = try await runtime.list(prefix: "k", limit: 100, consistency: .linearizable, deadline: deadline(.seconds(10)))
            #expect(listed.items.count == 20)
        }
    }
}
