import Foundation
import Testing
import WRaftClient

extension RealProcessTests {
    /// Issue 3: `/op/isolate` of the leader.
    @Suite struct PartitionTests {
        @Test func anIsolatedLeaderServesNeitherWritesNorLinearizableReadsAndHealingConverges() async throws {
            // A longer election timeout keeps a loaded machine from electing for other reasons
            // while the test watches the terms.
            try await ClusterFixture.withCluster(nodes: 3, name: "partition", configure: { $0.electionTimeoutMs = 1_000 }) {
                cluster in
                let clients = await cluster.clients
                let oldLeader = try await cluster.waitForLeader()
                let isolated = clients[oldLeader]
                try await isolated.put("p", "before")
                let isolatedTerm = try await isolated.state().term
                try await isolated.inject(.isolate(peers: nil))

                let majority = [0, 1, 2].filter { $0 != oldLeader }
                let newLeader = try await cluster.waitForLeader(among: majority, timeoutMs: 10_000)
                let after = try await clients[majority[0]].put("p", "after")
                let majorityTerm = try await clients[newLeader].state().term

                // The minority side: no write, no linearizable read (a stale "before" would be a bug).
                let write = await #expect(throws: WRaftClientError.self) {
                    try await isolated.put("p", "minority", timeoutMs: 1_000)
                }
                #expect(write.map { [503, 504].contains($0.httpStatus ?? 0) || $0 == .timeout(afterMs: 2_000) } == true, "\(String(describing: write))")
                let read = await #expect(throws: WRaftClientError.self) { try await isolated.get("p", timeoutMs: 1_000) }
                #expect(read?.httpStatus == 503 || read?.mayHaveTakenEffect == true, "\(String(describing: read))")
                await #expect(throws: WRaftClientError.self) { try await isolated.list(prefix: "p", timeoutMs: 1_000) }
                // A local read is allowed to be stale.
                let local = try await isolated.get("p", consistency: .local)
                #expect(["before", "after"].contains(local?.text ?? ""))
                #expect(try await isolated.state().faults.isEmpty == false)

                // Pre-vote: elections the isolated node cannot win do not raise its term.
                try await Task.sleep(for: .seconds(2.5))
                #expect(try await isolated.state().term == isolatedTerm, "the isolated node kept its term")

                try await isolated.inject(.heal)
                let converged = await eventually(timeoutMs: 10_000) {
                    guard let state = try? await isolated.state() else { return false }
                    return state.appliedIndex >= after.index && state.leader != nil && !state.isLeader
                }
                #expect(converged, "the healed node follows and catches up")
                let leaderAfterHeal = try await cluster.waitForLeader()
                #expect(leaderAfterHeal == newLeader, "the healed node did not disturb the leader")
                for (index, state) in try await cluster.states() {
                    #expect(state.term == majorityTerm, "node \(index): pre-vote kept the term at \(majorityTerm)")
                    #expect(state.faults.isEmpty)
                }
                #expect(try await isolated.get("p")?.text == "after")
                #expect(try await isolated.get("p", consistency: .local)?.text == "after")
            }
        }
    }
}
