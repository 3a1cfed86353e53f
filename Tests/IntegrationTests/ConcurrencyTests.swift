import Foundation
import Testing
import WRaftAPI
import WRaftClient
import WRaftSupport

extension RealProcessTests {
    /// Issue 3: many clients writing and compare-and-setting a few keys while the leader is
    /// killed and restarted. Every read returns a value some write wrote; acknowledged writes
    /// survive.
    @Suite struct ConcurrencyTests {
        static let keys = ["hot/0", "hot/1", "hot/2"]

        /// What one client did.
        struct ClientRecord: Sendable {
            /// Every value a write tried to set, whatever its outcome.
            var attempted: [String: Set<String>] = [:]
            /// The highest index of an acknowledged write, per key.
            var acknowledgedIndex: [String: UInt64] = [:]
            var reads: [(key: String, value: String?)] = []
            var acknowledgedCount = 0
            var compareFailures = 0
        }

        static func runClient(
            _ clientNumber: Int, clients: [NodeClient], seed: UInt64, until end: ContinuousClock.Instant
        ) async -> ClientRecord {
            var generator = SplitMix64(seed: seed &+ UInt64(clientNumber))
            var record = ClientRecord()
            var operation = 0
            while ContinuousClock.now < end {
                operation += 1
                let key = keys.randomElement(using: &generator) ?? keys[0]
                let client = clients.randomElement(using: &generator) ?? clients[0]
                let value = "c\(clientNumber)-\(operation)"
                do {
                    switch Int.random(in: 0..<10, using: &generator) {
                    case 0..<4:
                        record.attempted[key, default: []].insert(value)
                        let result = try await client.put(key, value, timeoutMs: 2_000)
                        record.acknowledge(key, result.index)
                    case 4..<7:
                        let current = try await client.get(key, timeoutMs: 2_000)
                        record.reads.append((key, current?.text))
                        record.attempted[key, default: []].insert(value)
                        let result = try await client.put(key, value, prevIndex: current?.index ?? 0, timeoutMs: 2_000)
                        record.acknowledge(key, result.index)
                    default:
                        record.reads.append((key, try await client.get(key, timeoutMs: 2_000)?.text))
                    }
                } catch {
                    if error.httpErrorCode == .compareFailed { record.compareFailures += 1 }
                    if !error.mayHaveTakenEffect && error.httpStatus == nil {
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                }
            }
            return record
        }

        @Test func clientsWritingAndCASingFewKeysThroughALeaderKillKeepEveryReadAndAcknowledgedWrite() async throws {
            let seed = UInt64(ProcessInfo.processInfo.environment["WRAFT_TEST_SEED"] ?? "") ?? 42
            try await ClusterFixture.withCluster(nodes: 3, name: "concurrency", seed: seed) { cluster in
                let clients = await cluster.clients
                let end = ContinuousClock.now + .seconds(7)
                async let records = withTaskGroup(of: ClientRecord.self) { group in
                    for number in 0..<6 {
                        group.addTask { await Self.runClient(number, clients: clients, seed: seed, until: end) }
                    }
                    return await group.reduce(into: [ClientRecord]()) { $0.append($1) }
                }
                try await Task.sleep(for: .seconds(2))
                let leader = try await cluster.waitForLeader()
                try await cluster.kill(leader, signal: SIGKILL)
                try await Task.sleep(for: .seconds(2))
                try await cluster.restart(leader)
                let all = await records

                var attempted: [String: Set<String>] = [:]
                var acknowledgedIndex: [String: UInt64] = [:]
                for record in all {
                    attempted.merge(record.attempted) { $0.union($1) }
                    acknowledgedIndex.merge(record.acknowledgedIndex) { max($0, $1) }
                }
                let acknowledged = all.reduce(0) { $0 + $1.acknowledgedCount }
                #expect(acknowledged > 20, "seed=\(seed): the clients made progress (\(acknowledged) acknowledged)")
                for record in all {
                    for read in record.reads {
                        guard let value = read.value else { continue }
                        #expect(attempted[read.key]?.contains(value) == true, "seed=\(seed): \(read.key) read \(value), which no write wrote")
                    }
                }

                _ = try await cluster.waitForLeader()
                var commitIndex: UInt64 = 0
                for key in Self.keys {
                    let final = try await clients[0].get(key)
                    if let acknowledgedIndex = acknowledgedIndex[key] {
                        let final = try #require(final, "seed=\(seed): \(key) has an acknowledged write but no value")
                        #expect(attempted[key]?.contains(final.text) == true, "seed=\(seed)")
                        #expect(final.index >= acknowledgedIndex, "seed=\(seed): \(key) lost an acknowledged write")
                    }
                    commitIndex = max(commitIndex, final?.index ?? 0)
                }
                // Every node converges on the same values.
                #expect(await cluster.waitForApplied(commitIndex))
                for key in Self.keys {
                    let expected = try await clients[0].get(key)?.text
                    for client in clients {
                        #expect(try await client.get(key, consistency: .local)?.text == expected, "seed=\(seed)")
                    }
                }
            }
        }
    }
}

extension RealProcessTests.ConcurrencyTests.ClientRecord {
    mutating func acknowledge(_ key: String, _ index: UInt64) {
        acknowledgedCount += 1
        acknowledgedIndex[key] = max(acknowledgedIndex[key] ?? 0, index)
    }
}
