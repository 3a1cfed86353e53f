import Foundation
import Testing
import WRaftClient

extension RealProcessTests {
    /// Issue 3: `kill -9` of the leader under a write load, and of every node.
    @Suite struct FailoverTests {
        /// One acknowledged write of the load, with when it was sent and answered.
        struct Acknowledged: Sendable {
            var key: String
            var index: UInt64
            var sent: ContinuousClock.Instant
            var answered: ContinuousClock.Instant
        }

        /// Bound on one worker's writes, so every acknowledged key fits in one list (`limit` <= 10,000).
        static let writesPerWorkerMax = 2_000

        /// Writes unique keys through the nodes in turn until `end`; returns what was acknowledged.
        static func writeLoad(
            worker: Int, clients: [NodeClient], until end: ContinuousClock.Instant
        ) async -> [Acknowledged] {
            var acknowledged: [Acknowledged] = []
            var number = 0
            while ContinuousClock.now < end && number < writesPerWorkerMax {
                number += 1
                let key = "load/\(worker)/\(number)"
                let client = clients[(worker + number) % clients.count]
                let sent = ContinuousClock.now
                if let result = try? await client.put(key, key, timeoutMs: 2_000) {
                    acknowledged.append(Acknowledged(key: key, index: result.index, sent: sent, answered: .now))
                } else {
                    // A refused or failed write: do not spin on a dead node.
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            return acknowledged
        }

        @Test func killingTheLeaderUnderLoadElectsANewOneAndLosesNoAcknowledgedWrite() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "failover") { cluster in
                let clients = await cluster.clients
                let oldLeader = try await cluster.waitForLeader()
                let oldTerm = try await clients[oldLeader].state().term
                let end = ContinuousClock.now + .seconds(6)
                async let load = withTaskGroup(of: [Acknowledged].self) { group in
                    for worker in 0..<4 {
                        group.addTask { await Self.writeLoad(worker: worker, clients: clients, until: end) }
                    }
                    return await group.reduce(into: []) { $0 += $1 }
                }
                try await Task.sleep(for: .seconds(1.5))
                let killedAt = ContinuousClock.now
                try await cluster.kill(oldLeader, signal: SIGKILL)
                let survivors = [0, 1, 2].filter { $0 != oldLeader }
                let newLeader = try await cluster.waitForLeader(among: survivors, timeoutMs: 10_000)
                let electedAfter = ContinuousClock.now - killedAt
                let acknowledged = await load

                #expect(newLeader != oldLeader)
                #expect(try await clients[newLeader].state().term > oldTerm)
                let beforeKill = acknowledged.filter { $0.answered < killedAt }
                let afterKill = acknowledged.filter { $0.sent > killedAt }
                #expect(beforeKill.count > 0, "writes succeeded before the kill")
                #expect(afterKill.count > 0, "writes resumed after the kill")
                let firstWriteAfter = afterKill.map(\.answered).min().map { $0 - killedAt }
                print(
                    "failover: leader elected \(electedAfter) after kill -9, first write answered "
                        + "\(firstWriteAfter.map { "\($0)" } ?? "never") after; \(acknowledged.count) writes acknowledged")

                // The killed node comes back; every acknowledged write is readable, from every node.
                try await cluster.restart(oldLeader)
                _ = try await cluster.waitForLeader()
                let listed = try await clients[newLeader].list(prefix: "load/", limit: 10_000)
                let values = Dictionary(listed.items.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
                let lost = acknowledged.filter { values[$0.key] != $0.key }
                #expect(lost.isEmpty, "acknowledged writes missing: \(lost.prefix(5).map(\.key))")
                let lastIndex = acknowledged.map(\.index).max() ?? 0
                #expect(await cluster.waitForApplied(lastIndex))
                for client in clients {
                    let local = try await client.list(prefix: "load/", limit: 10_000, consistency: .local)
                    #expect(local.items.count >= acknowledged.count, "node \(client.address) has every write")
                }
            }
        }

        @Test func killingEveryNodeAndRestartingKeepsAllAcknowledgedData() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "killall") { cluster in
                let clients = await cluster.clients
                var written: [String: UInt64] = [:]
                for number in 0..<30 {
                    let result = try await clients[number % 3].put("durable/\(number)", "value \(number)")
                    written["durable/\(number)"] = result.index
                }
                let termBefore = try await clients[0].state().term
                for index in 0..<3 {
                    try await cluster.kill(index, signal: SIGKILL)
                }
                #expect(await cluster.runningIndexes.isEmpty)
                for index in 0..<3 {
                    try await cluster.restart(index)
                }
                let leader = try await cluster.waitForLeader()
                #expect(try await clients[leader].state().term > termBefore)
                for (key, index) in written {
                    let read = try #require(try await clients[leader].get(key), "\(key) survived")
                    #expect(read.text == "value \(key.split(separator: "/")[1])")
                    #expect(read.index == index)
                }
                let after = try await clients[(leader + 1) % 3].put("durable/after", "restart")
                #expect(after.index > written.values.max() ?? 0)
                for index in 0..<3 {
                    let state = try await clients[index].state()
                    #expect(state.status == "running")
                    #expect(state.members.count == 3)
                }
            }
        }
    }
}
