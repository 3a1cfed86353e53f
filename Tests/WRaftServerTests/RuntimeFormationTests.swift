import Testing

@testable import WRaftServer

/// Cluster formation on the in-memory harness, where the formation machine's failure paths
/// meet the runtime: a failed attempt leaves the node as it was, ready to try again.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeFormationTests {
    @Test func aStartThatCannotReachAFounderLeavesTheNodeInitialAndCanBeRepeated() async throws {
        let cluster = TestCluster(size: 3)
        try await cluster.stoppingAll {
            try await cluster.openAll()
            for node in cluster.nodes.dropFirst() {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            await cluster.nodes[2].stop()

            let first = try cluster.nodes[0].runtime
            let error = await caughtNodeError { try await first.start() }
            guard case .peerUnreachable? = error else {
                Issue.record("a founder that does not answer fails the start: \(String(describing: error))")
                return
            }
            #expect(await first.state().status == "initial", "the failed start is undone by the formation machine")
            #expect(await first.formation.state == .initial)

            // The founder is back (initial, knowing only itself): the same /start now forms the cluster.
            try await cluster.nodes[2].open()
            try await first.start()
            _ = try await cluster.waitForLeader()
            for node in cluster.nodes {
                #expect(try await node.runtime.state().status == "running")
            }
        }
    }

    @Test func requestsOfAnotherNodeAreRefusedWhileThisOneIsStarting() async throws {
        let cluster = TestCluster(size: 2)
        try await cluster.stoppingAll {
            try await cluster.openAll()
            let runtime = try cluster.nodes[0].runtime
            // The machine is where the runtime would be during its own /start.
            _ = await runtime.beginStartForTest()
            let refusal = NodeError.wrongState(code: .starting, message: "the node is starting; try again in a moment")
            let merge = await runtime.handleControl(ControlCoding.encode(ControlRequest.merge(members: [])), requester: nil)
            #expect(try ControlCoding.decode(ControlResponse.self, from: merge) == .failure(ControlFailure(refusal)))
            let connectError = await caughtNodeError {
                _ = try await runtime.connect(peerRaftAddress: cluster.nodes[1].options.raftAddress)
            }
            #expect(connectError == refusal)
            #expect(await runtime.state().status == "starting")
        }
    }
}

extension NodeRuntime {
    /// Moves the formation machine as this node's `/start` does first (confirming founders).
    func beginStartForTest() -> FormationStateMachine.Action {
        formation.startRequested()
    }
}
