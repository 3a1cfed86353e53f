import Foundation
import Testing
import WRaftClient

extension RealProcessTests {
    /// Issue 3: an empty node joins and catches up through a snapshot; members are removed,
    /// the leader too.
    @Suite struct MembershipTests {
        @Test func anEmptyNodeJoinsCatchesUpThroughASnapshotAndBecomesAVoter() async throws {
            try await ClusterFixture.withCluster(
                nodes: 3, name: "join", configure: { $0.extraArguments = ["--snapshot-retained-entries", "4"] }
            ) { cluster in
                let (_, leader) = try await cluster.leaderClient()
                var lastIndex: UInt64 = 0
                for number in 0..<40 {
                    lastIndex = try await leader.put("joined/\(number)", "value \(number)").index
                }
                #expect(await cluster.waitForApplied(lastIndex))
                for client in await cluster.clients { try await client.inject(.snapshot) }
                let compacted = try await leader.log(from: 1, limit: 10)
                #expect(compacted.snapshotIndex >= lastIndex - 4, "the leader's log is compacted")

                let newIndex = try await cluster.addNode()
                let newNode = try await cluster.client(newIndex)
                #expect(try await newNode.state().status == "initial")
                let leaderRaft = try await leader.state().raftAddress
                try await newNode.connect(peer: leaderRaft)

                let newID = try await newNode.state().id
                let caughtUp = await eventually(timeoutMs: 15_000) {
                    guard let state = try? await newNode.state() else { return false }
                    return state.status == "running" && state.appliedIndex >= lastIndex
                }
                #expect(caughtUp, "the new node applied everything")
                let newState = try await newNode.state()
                #expect(newState.snapshotIndex > 0, "it caught up through a snapshot")
                let promoted = await eventually(timeoutMs: 10_000) {
                    guard let state = try? await leader.state() else { return false }
                    return state.members.contains { $0.id == newID && $0.voter }
                }
                #expect(promoted, "the learner became a voter")
                for number in [0, 17, 39] {
                    #expect(try await newNode.get("joined/\(number)", consistency: .local)?.text == "value \(number)")
                }
                let later = try await newNode.put("joined/later", "through the new node")
                #expect(await cluster.waitForApplied(later.index))
                for index in 0...newIndex {
                    #expect(try await cluster.client(index).state().members.count == 4, "node \(index)")
                }
            }
        }

        @Test func aFollowerAndThenTheLeaderAreRemoved() async throws {
            try await ClusterFixture.withCluster(nodes: 4, name: "remove", seed: 5) { cluster in
                let clients = await cluster.clients
                let leader = try await cluster.waitForLeader()
                let followers = [0, 1, 2, 3].filter { $0 != leader }
                let removed = followers[0]
                let removedID = try await clients[removed].state().id
                // Asked of another follower: the request is forwarded to the leader.
                try await clients[followers[1]].removeMember(id: removedID)
                let remaining = [0, 1, 2, 3].filter { $0 != removed }
                #expect(await eventually(timeoutMs: 10_000) {
                    for index in remaining {
                        guard let state = try? await clients[index].state(), state.members.count == 3,
                            !state.members.contains(where: { $0.id == removedID })
                        else { return false }
                    }
                    return true
                })
                await cluster.stop(removed)
                try await clients[followers[1]].put("after-removal", "1")

                let leaderID = try await clients[leader].state().id
                try await clients[leader].removeMember(id: leaderID)
                let survivors = remaining.filter { $0 != leader }
                #expect(await eventually(timeoutMs: 10_000) {
                    for index in survivors {
                        guard let state = try? await clients[index].state(), state.members.count == 2,
                            !state.members.contains(where: { $0.id == leaderID })
                        else { return false }
                    }
                    return true
                }, "the old leader is gone from every survivor's membership")
                await cluster.stop(leader)
                let newLeader = try await cluster.waitForLeader(among: survivors, timeoutMs: 10_000)
                #expect(survivors.contains(newLeader))
                let write = try await clients[survivors[0]].put("after-leader-removal", "2")
                #expect(await cluster.waitForApplied(write.index, on: survivors))
                #expect(try await clients[survivors[1]].get("after-removal")?.text == "1")
            }
        }
    }
}
