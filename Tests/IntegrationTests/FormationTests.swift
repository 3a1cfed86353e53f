import Foundation
import Testing
import WRaftAPI
import WRaftClient

extension RealProcessTests {
    /// Issue 3: 3- and 5-node clusters formed through `/connect` + `/start`, connects in random order.
    @Suite struct FormationTests {
        @Test(arguments: [(3, UInt64(11)), (5, UInt64(29))])
        func clusterFormsWithConnectsInRandomOrder(nodes: Int, seed: UInt64) async throws {
            try await ClusterFixture.withCluster(nodes: nodes, name: "formation\(nodes)", seed: seed) { cluster in
                let states = try await cluster.states()
                #expect(states.count == nodes)
                let leaders = states.values.filter(\.isLeader)
                #expect(leaders.count == 1, "seed=\(seed)")
                let leaderID = try #require(leaders.first?.id)
                let allIDs = Set(states.values.map(\.id))
                #expect(allIDs.count == nodes, "every node has its own id")
                for (index, state) in states {
                    #expect(state.status == "running", "node \(index) seed=\(seed)")
                    #expect(state.leader?.id == leaderID, "node \(index) agrees on the leader, seed=\(seed)")
                    #expect(Set(state.members.map(\.id)) == allIDs, "node \(index) knows every member, seed=\(seed)")
                    #expect(state.members.allSatisfy { $0.voter })
                    let node = await cluster.nodes[index]
                    #expect(state.httpAddress == node.httpAddress.description)
                    #expect(state.raftAddress == node.raftAddress.description)
                }
                #expect(Set(states.values.compactMap(\.clusterID)).count <= 1, "one cluster id")

                // A write through the last node (a follower or not) is readable from every node.
                let writer = try await cluster.client(nodes - 1)
                let written = try await writer.put("formed", "yes \(nodes)")
                for index in 0..<nodes {
                    let read = try await cluster.client(index).get("formed")
                    #expect(read?.text == "yes \(nodes)", "node \(index) seed=\(seed)")
                    #expect(read?.index == written.index)
                }
            }
        }

        @Test func startIsIdempotentAndASecondClusterCannotMerge() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "conflict") { cluster in
                let first = try await cluster.client(0)
                try await first.start()
                let term = try await first.state().term

                // Two running clusters cannot be ordered against each other: 409 cluster_conflict.
                var otherOptions = try ClusterFixture.options(nodes: 1, name: "conflict-other")
                otherOptions.connectOrderSeed = nil
                try await ClusterFixture.withLaunched(otherOptions, form: true) { other in
                    let otherRaft = await other.nodes[0].raftAddress.description
                    let error = await #expect(throws: WRaftClientError.self) { try await first.connect(peer: otherRaft) }
                    #expect(error?.httpStatus == 409)
                    #expect(error?.httpErrorCode == .clusterConflict)
                }
                let state = try await first.state()
                #expect(state.members.count == 3)
                #expect(state.term >= term)
            }
        }
    }
}
