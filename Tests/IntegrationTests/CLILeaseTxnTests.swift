import Foundation
import Testing
import WRaftAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RealProcessTests {
    /// Issue 12's CLI against real nodes: `wraft lease`, `put --lease`, `txn` (JSON and etcdctl's
    /// text form), `get --revision`, `list --revision` and `compact`, with their exit codes.
    @Suite struct CLILeaseTxnTests {
        typealias Codes = CLIExitCodeTests

        static func decode<Value: Decodable>(_ type: Value.Type, _ outcome: CommandRunner.Outcome) throws -> Value {
            try CLIClusterTests.decode(type, outcome)
        }

        @Test func leasesTransactionsAndRevisionsThroughTheCLI() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "cli-lease-txn") { cluster in
                let nodes = await cluster.nodes.map(\.httpAddress.description)
                let all = nodes.joined(separator: ",")
                let environment = ["WRAFT_ENDPOINTS": all]
                func wraft(_ arguments: [String]) async throws -> CommandRunner.Outcome {
                    try await CommandRunner.run(arguments, environment: environment)
                }
                let directory = ClusterFixture.makeDirectory("cli-lease-txn-files")
                defer { try? FileManager.default.removeItem(atPath: directory) }

                // Grant, attach, inspect, revoke: the key goes with the lease.
                let grant = try await wraft(["lease", "grant", "60", "-o", "json"])
                #expect(grant.status == Codes.ok, "\(grant.standardError)")
                let lease = try Self.decode(LeaseView.self, grant)
                #expect(lease.id > 0 && lease.ttl == 60)
                let put = try await wraft(["put", "leased", "v", "--lease", String(lease.id)])
                #expect(put.status == Codes.ok, "\(put.standardError)")
                let ttl = try Self.decode(LeaseView.self, try await wraft(["lease", "ttl", String(lease.id), "--keys", "-o", "json"]))
                #expect(ttl.keys == ["leased"] && ttl.ttl == 60, "\(ttl)")
                let listed = try Self.decode(LeasesView.self, try await wraft(["lease", "list", "-o", "json"]))
                #expect(listed.leases.map(\.id).contains(lease.id))
                #expect(try await wraft(["lease", "list", "-o", "table"]).standardOutput.hasPrefix("ID"))
                let revoke = try await wraft(["lease", "revoke", String(lease.id)])
                #expect(revoke.status == Codes.ok && revoke.standardOutput.hasPrefix("lease \(lease.id) revoked"), "\(revoke.standardError)")
                #expect(try await wraft(["get", "leased"]).status == Codes.notFound, "the revoke deleted the key")
                #expect(try await wraft(["lease", "revoke", String(lease.id)]).status == Codes.notFound)
                #expect(try await wraft(["put", "k", "v", "--lease", "987654321"]).status == Codes.notFound)
                #expect(try await wraft(["lease", "grant", "0"]).status == Codes.usage)
                #expect(try await wraft(["lease", "ttl", "-3"]).status == Codes.usage)

                // A 2 s lease kept alive by `lease keepalive` outlives 6 s; stopped, it lapses.
                let short = try Self.decode(LeaseView.self, try await wraft(["lease", "grant", "2", "-o", "json"]))
                #expect(try await wraft(["put", "alive", "yes", "--lease", String(short.id)]).status == Codes.ok)
                let keeper = try CommandRunner.start(
                    ["lease", "keepalive", String(short.id), "--endpoints", all],
                    standardOutputPath: "\(directory)/keepalive.out", standardErrorPath: "\(directory)/keepalive.err")
                defer { if keeper.isRunning { kill(keeper.processIdentifier, SIGKILL) } }
                try await Task.sleep(for: .seconds(6))
                let stillThere = try await wraft(["get", "alive"])
                #expect(stillThere.status == Codes.ok && stillThere.standardOutput == "yes", "\(stillThere.standardError)")
                #expect(keeper.isRunning)
                kill(keeper.processIdentifier, SIGTERM)
                #expect(await CommandRunner.waitForExit(keeper, timeoutMs: 5_000))
                let renewals = ((try? String(contentsOfFile: "\(directory)/keepalive.out", encoding: .utf8)) ?? "")
                    .split(separator: "\n").filter { $0.hasPrefix("lease \(short.id) kept alive with TTL 2s") }
                #expect(renewals.count >= 4, "a renewal every 2/3 s for 6 s: \(renewals)")
                let lapsed = await eventually(timeoutMs: 15_000, pollMs: 250) {
                    (try? await wraft(["get", "alive"]))?.status == Codes.notFound
                }
                #expect(lapsed, "without keep-alives the 2 s lease lapses and takes its key")
                let once = try await wraft(["lease", "keepalive", String(short.id), "--once"])
                #expect(once.status == Codes.notFound, "the lapsed lease is gone: \(once.standardError)")

                // Transactions: JSON from a file, both branches; etcdctl's text form; bad input.
                #expect(try await wraft(["put", "t", "1"]).status == Codes.ok)
                let json = """
                    {"compare": [{"key": "t", "target": "value", "op": "=", "value": "1"}],
                     "success": [{"op": "put", "key": "t", "value": "2"}],
                     "failure": [{"op": "range", "key": "t"}]}
                    """
                try json.write(toFile: "\(directory)/txn.json", atomically: true, encoding: .utf8)
                let first = try await wraft(["txn", "@\(directory)/txn.json", "-o", "json"])
                #expect(first.status == Codes.ok, "\(first.standardError)")
                let succeeded = try Self.decode(TxnView.self, first)
                #expect(succeeded.succeeded && succeeded.responses?.map(\.op) == ["put"])
                let second = try await wraft(["txn", "@\(directory)/txn.json"])
                #expect(second.status == Codes.ok, "a failed compare is not an error: \(second.standardError)")
                #expect(second.standardOutput == "FAILURE\n\nt\n2\n", "\(second.standardOutput)")
                let text = """
                    value("t") = "2"
                    version("t") > "1"

                    put t "three words"
                    del --prefix nothing/

                    get t
                    """
                try text.write(toFile: "\(directory)/txn.txt", atomically: true, encoding: .utf8)
                let textual = try await wraft(["txn", "@\(directory)/txn.txt"])
                #expect(textual.standardOutput == "SUCCESS\n\nOK\n\n0\n", "\(textual.standardOutput) \(textual.standardError)")
                #expect(try await wraft(["get", "t"]).standardOutput == "three words")
                let badJSON = try await wraft(["txn", #"{"compare": [{"key": "t""#])
                #expect(badJSON.status == Codes.badInput, "\(badJSON.standardError)")
                #expect(badJSON.standardError.contains("not POST /txn's JSON"))
                let badText = try await wraft(["txn", "value(\"t\") ~ \"2\""])
                #expect(badText.status == Codes.badInput && badText.standardError.contains("line 1"), "\(badText.standardError)")
                let refused = try await wraft(["txn", #"{"success": [{"op": "explode", "key": "t"}]}"#])
                #expect(refused.status == Codes.refused, "the node refuses an unknown op: \(refused.standardError)")

                // Revisions: a read in the past, a listing at one revision, compaction.
                let old = try Self.decode(WriteOutcome.self, try await wraft(["put", "r", "a", "-o", "json"]))
                let oldRevision = try #require(old.revision)
                #expect(try await wraft(["put", "r", "b"]).status == Codes.ok)
                #expect(try await wraft(["get", "r"]).standardOutput == "b")
                #expect(try await wraft(["get", "r", "--revision", String(oldRevision)]).standardOutput == "a")
                let past = try Self.decode(ListView.self, try await wraft(["list", "--prefix", "r", "--revision", String(oldRevision), "-o", "json"]))
                #expect(past.items.map(\.value) == ["a"], "\(past.items)")
                let compact = try await wraft(["compact", String(oldRevision)])
                #expect(compact.status == Codes.ok && compact.standardOutput == "compacted at revision \(oldRevision)\n", "\(compact.standardError)")
                let compacted = try await wraft(["get", "r", "--revision", String(oldRevision - 1)])
                #expect(compacted.status == Codes.refused && compacted.standardError.contains("compacted"), "\(compacted.standardError)")
            }
        }

        /// `lease keepalive` moves on to the next endpoint when the first one's node dies (here the
        /// leader, so the lease also lives through a failover), and the lease outlives it.
        @Test func keepAliveFailsOverWhenItsNodeDies() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "cli-keepalive-failover") { cluster in
                let leaderIndex = try await cluster.waitForLeader()
                let nodes = await cluster.nodes.map(\.httpAddress.description)
                let others = nodes.indices.filter { $0 != leaderIndex }.map { nodes[$0] }
                // The leader first: its death is both an unreachable endpoint and a new election.
                let endpoints = ([nodes[leaderIndex]] + others).joined(separator: ",")
                let directory = ClusterFixture.makeDirectory("cli-keepalive-failover-files")
                defer { try? FileManager.default.removeItem(atPath: directory) }
                func wraft(_ arguments: [String]) async throws -> CommandRunner.Outcome {
                    try await CommandRunner.run(arguments + ["--endpoints", others.joined(separator: ",")])
                }
                let lease = try CLIClusterTests.decode(LeaseView.self, try await wraft(["lease", "grant", "3", "-o", "json"]))
                #expect(try await wraft(["put", "kept", "yes", "--lease", String(lease.id)]).status == Codes.ok)
                let keeper = try CommandRunner.start(
                    ["lease", "keepalive", String(lease.id), "--endpoints", endpoints, "--timeout-ms", "2000"],
                    standardOutputPath: "\(directory)/keepalive.out", standardErrorPath: "\(directory)/keepalive.err")
                defer { if keeper.isRunning { kill(keeper.processIdentifier, SIGKILL) } }
                try await Task.sleep(for: .seconds(2))
                try await cluster.kill(leaderIndex)
                try await Task.sleep(for: .seconds(6))
                let errors = (try? String(contentsOfFile: "\(directory)/keepalive.err", encoding: .utf8)) ?? ""
                #expect(keeper.isRunning, "keepalive still runs: \(errors)")
                #expect(errors.contains("trying"), "it moved on from the dead endpoint: \(errors)")
                let kept = try await wraft(["get", "kept"])
                #expect(kept.status == Codes.ok && kept.standardOutput == "yes", "\(kept.standardError)")
                kill(keeper.processIdentifier, SIGTERM)
                #expect(await CommandRunner.waitForExit(keeper, timeoutMs: 5_000))
            }
        }
    }
}
