import Foundation
import Testing

extension RealProcessTests {
    /// Issue 4 through the CLI: a short `wraft check` run passes, and one whose clients read
    /// stale local state under partitions is caught.
    @Suite struct CheckCommandTests {
        @Test func aShortCheckRunWithEveryNemesisPasses() async throws {
            let directory = ClusterFixture.makeDirectory("check-tls") + "/cluster"
            defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
            let outcome = try await CommandRunner.run(
                ["check", "--nodes", "3", "--duration", "20s", "--nemesis", "kill,pause,partition,drop", "--seed", "3",
                 "--dir", directory, "--keep"],
                timeoutMs: 240_000)
            #expect(outcome.status == 0, "seed=3\n\(outcome.standardOutput.suffix(3_000))\n\(outcome.standardError.suffix(1_000))")
            #expect(outcome.standardOutput.contains("PASS"))
            #expect(outcome.standardOutput.contains("every key linearizable"))
            // With peer TLS by default: the cluster's CA and node certificates were made and used.
            #expect(FileManager.default.fileExists(atPath: directory + "/certs/ca.pem"))
            #expect(FileManager.default.fileExists(atPath: directory + "/certs/node-2-key.pem"))
            let log = (try? String(contentsOfFile: directory + "/node-0.log", encoding: .utf8)) ?? ""
            #expect(log.contains("open-file limit"), "node 0's log")
        }

        @Test func staleLocalReadsUnderPartitionsAreCaught() async throws {
            let outcome = try await CommandRunner.run(
                ["check", "--nodes", "3", "--duration", "20s", "--nemesis", "partition", "--consistency", "local",
                 "--seed", "5", "--keys", "2"],
                timeoutMs: 240_000)
            #expect(outcome.status == 1, "seed=5\n\(outcome.standardOutput.suffix(3_000))\n\(outcome.standardError.suffix(1_000))")
            #expect(outcome.standardOutput.contains("NOT LINEARIZABLE"))
            #expect(outcome.standardOutput.contains("FAIL"))
        }

        /// Issue 12: compare-and-swap transactions and watchers (one per node, followers too)
        /// through kills, pauses and partitions; the watchers' streams and the CAS chains check out.
        @Test func aShortTxnWatchRunThroughFaultsPasses() async throws {
            let outcome = try await CommandRunner.run(
                ["check", "--workload", "txn-watch", "--nodes", "3", "--duration", "15s", "--nemesis", "kill,pause,partition",
                 "--seed", "4", "--clients", "6", "--keys", "3", "--watchers", "3"],
                timeoutMs: 240_000)
            #expect(outcome.status == 0, "seed=4\n\(outcome.standardOutput.suffix(3_000))\n\(outcome.standardError.suffix(1_000))")
            #expect(outcome.standardOutput.contains("PASS"))
            #expect(outcome.standardOutput.contains("every watcher saw every revision in order once"))
            #expect(outcome.standardOutput.contains("watchers: 3,"))
            #expect(outcome.standardOutput.contains("leases: 2 kept,"))
            #expect(outcome.standardOutput.contains("every kept lease's key outlived the faults; every lapsing lease expired within its bounds"))
        }

        @Test func replayOfAMissingFileFailsClearly() async throws {
            let outcome = try await CommandRunner.run(["check", "--replay", "/nonexistent/history.jsonl"])
            #expect(outcome.status != 0)
            #expect(outcome.standardError.contains("/nonexistent/history.jsonl"))
        }
    }
}
