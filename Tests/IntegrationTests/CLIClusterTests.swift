import Foundation
import Testing
import WRaftAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RealProcessTests {
    /// The operator's CLI against real nodes: every command, every output format, the exit codes
    /// a real cluster gives, and a five-node cluster formed with nothing but `wraft`.
    @Suite struct CLIClusterTests {
        typealias Codes = CLIExitCodeTests

        /// One row of `wraft endpoint status -o json`.
        struct StatusRow: Decodable {
            var endpoint: String
            var error: String?
            var state: NodeStateView?
        }

        static func decode<Value: Decodable>(_ type: Value.Type, _ outcome: CommandRunner.Outcome) throws -> Value {
            do {
                return try JSONDecoder().decode(type, from: Data(outcome.standardOutput.utf8))
            } catch {
                throw FixtureError("not \(Value.self) JSON (\(error)): \(outcome.standardOutput) \(outcome.standardError)")
            }
        }

        /// `wraft endpoint status -o json` of `endpoints`, or nil when it did not print the rows.
        static func status(_ endpoints: String, cluster: Bool = false) async -> [StatusRow]? {
            let arguments = ["endpoint", "status", "--endpoints", endpoints, "-o", "json", "--timeout-ms", "2000"]
            guard let outcome = try? await CommandRunner.run(arguments + (cluster ? ["--cluster"] : [])) else { return nil }
            return try? decode([StatusRow].self, outcome)
        }

        @Test func everyCommandAgainstARealCluster() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "cli-commands") { cluster in
                let nodes = await cluster.nodes.map(\.httpAddress.description)
                let all = nodes.joined(separator: ",")
                let environment = ["WRAFT_ENDPOINTS": all]
                func wraft(_ arguments: [String]) async throws -> CommandRunner.Outcome {
                    try await CommandRunner.run(arguments, environment: environment)
                }

                // Key-value commands, the endpoints from $WRAFT_ENDPOINTS, in every format.
                let put = try await wraft(["put", "greeting", "hello", "-o", "json"])
                #expect(put.status == Codes.ok, "\(put.standardError)")
                let written = try Self.decode(WriteOutcome.self, put)
                #expect(written.key == "greeting" && written.index > 0)
                let get = try await wraft(["get", "greeting", "-o", "json"])
                #expect(get.status == Codes.ok)
                #expect(get.standardOutput.hasPrefix(#"{"key":"greeting","value":"hello","index":\#(written.index),"#), "\(get.standardOutput)")
                let table = try await wraft(["get", "greeting", "-o", "table"])
                #expect(table.standardOutput.hasPrefix("KEY"))
                #expect(table.standardOutput.contains("hello"))
                let simple = try await wraft(["get", "greeting"])
                #expect(simple.standardOutput == "hello")
                #expect(try await wraft(["get", "absent"]).status == Codes.notFound)
                let cas = try await wraft(["put", "greeting", "bye", "--prev-value", "nope"])
                #expect(cas.status == Codes.compareFailed, "\(cas.standardError)")
                #expect(try await wraft(["put", "greeting", "bye", "--prev-value", "hello"]).status == Codes.ok)
                let list = try await wraft(["list", "--prefix", "gree", "-o", "json"])
                let listed = try Self.decode(ListView.self, list)
                #expect(listed.items.map(\.key) == ["greeting"] && listed.items.first?.value == "bye" && !listed.more)
                #expect(try await wraft(["list", "-o", "table"]).standardOutput.contains("greeting  bye"))
                #expect(try await wraft(["put", "other", "x"]).status == Codes.ok)
                let deleted = try await wraft(["delete", "other", "-o", "json"])
                #expect(try Self.decode(WriteOutcome.self, deleted).deleted == true)

                // Inspection: state, members, log, health, status.
                let state = try Self.decode(NodeStateView.self, try await wraft(["state", "-o", "json"]))
                #expect(state.members.count == 3)
                let members = try await wraft(["member", "list"])
                #expect(members.standardOutput.split(separator: "\n").count == 3, "\(members.standardOutput)")
                #expect(members.standardOutput.contains("leader"))
                let memberTable = try await wraft(["member", "list", "-o", "table"])
                #expect(memberTable.standardOutput.hasPrefix("ID"))
                #expect(try Self.decode(NodeStateView.self, try await wraft(["member", "list", "-o", "json"])).members.count == 3)
                let log = try Self.decode(LogView.self, try await wraft(["log", "-o", "json", "--limit", "50"]))
                #expect(log.entries.contains { $0.summary.contains("greeting") }, "\(log.entries)")
                #expect(try await wraft(["log", "-o", "table"]).standardOutput.hasPrefix("INDEX"))
                #expect(try await wraft(["log", "--from", "0"]).status == Codes.usage)
                let health = try await wraft(["endpoint", "health"])
                #expect(health.status == Codes.ok, "\(health.standardOutput) \(health.standardError)")
                #expect(health.standardOutput.split(separator: "\n").count == 4)
                #expect(try await wraft(["start"]).status == Codes.ok, "start is idempotent")
                let rows = try #require(await Self.status(nodes[0], cluster: true))
                #expect(rows.count == 3)
                let leaders = rows.compactMap(\.state).filter(\.isLeader)
                let leader = try #require(leaders.first, "one leader: \(rows)")
                #expect(leaders.count == 1)
                let leaderEndpoint = try #require(rows.first { $0.state?.id == leader.id }?.endpoint)
                let followers = rows.filter { $0.state?.id != leader.id }
                let follower = try #require(followers.first?.endpoint)
                let followerID = try #require(followers.first?.state?.id)
                let other = try #require(followers.last?.state)
                // Asked of a follower, `member list` shows the leader's view, with match indexes.
                let viaFollower = try await wraft(["member", "list", "-o", "json", "--endpoints", follower])
                let leaderView = try Self.decode(NodeStateView.self, viaFollower)
                #expect(leaderView.id == leader.id && leaderView.members.contains { $0.matchIndex != nil }, "\(viaFollower.standardOutput)")

                // Faults on one node: the first endpoint only.
                for op in [["delay", "--ms", "20", "--jitter-ms", "5"], ["drop", "--rate", "0.1"], ["isolate", "--peers", other.id]] {
                    let outcome = try await wraft(["op"] + op + ["--endpoints", follower])
                    #expect(outcome.status == Codes.ok, "\(op): \(outcome.standardError)")
                }
                let faulty = try Self.decode(NodeStateView.self, try await wraft(["state", "-o", "json", "--endpoints", follower]))
                #expect(faulty.faults.count == 3, "\(faulty.faults)")
                #expect(try await wraft(["op", "heal", "--endpoints", follower]).status == Codes.ok)
                let healed = try Self.decode(NodeStateView.self, try await wraft(["state", "-o", "json", "--endpoints", follower]))
                #expect(healed.faults.isEmpty)
                let notLeader = try await wraft(["op", "step-down", "--endpoints", follower])
                #expect(notLeader.status == Codes.refused, "\(notLeader.standardError)")
                #expect(try await wraft(["op", "drop", "--rate", "2"]).status == Codes.usage)
                let snapshot = try await wraft(["op", "snapshot", "--endpoints", follower, "-o", "json"])
                #expect(snapshot.status == Codes.ok, "\(snapshot.standardError)")
                #expect(snapshot.standardOutput == #"{"op":"snapshot","ok":true}"# + "\n")

                // A paused node does not serve: health says so with exit 6, the others stay healthy.
                #expect(try await wraft(["op", "pause", "--endpoints", follower]).status == Codes.ok)
                let paused = try await wraft(["endpoint", "health", "-o", "json"])
                #expect(paused.status == Codes.unavailable, "\(paused.standardOutput)")
                #expect(paused.standardOutput.components(separatedBy: #""health":true"#).count == 3, "\(paused.standardOutput)")
                #expect(try await wraft(["op", "resume", "--endpoints", follower]).status == Codes.ok)
                let served = await eventually(timeoutMs: 20_000, pollMs: 200) {
                    (try? await wraft(["endpoint", "health"]))?.status == Codes.ok
                }
                #expect(served)

                // Leadership to the follower, sent to the leader.
                let transfer = try await wraft(["op", "transfer", followerID, "--endpoints", leaderEndpoint])
                #expect(transfer.status == Codes.ok, "\(transfer.standardError)")
                let moved = await eventually(timeoutMs: 20_000, pollMs: 200) {
                    await Self.status(all)?.compactMap(\.state).contains { $0.id == followerID && $0.isLeader } == true
                }
                #expect(moved, "the follower leads after the transfer")

                // Crash a node: it becomes unreachable (exit 5); then remove it (a bad id is refused).
                let otherEndpoint = try #require(rows.first { $0.state?.id == other.id }?.endpoint)
                #expect(try await wraft(["op", "crash", "--endpoints", otherEndpoint]).status == Codes.ok)
                let gone = await eventually(timeoutMs: 10_000, pollMs: 100) {
                    (try? await wraft(["endpoint", "status", "--endpoints", otherEndpoint]))?.status == Codes.unreachable
                }
                #expect(gone)
                #expect(try await wraft(["member", "remove", "zz"]).status == Codes.refused)
                let removed = try await wraft(["member", "remove", other.id, "-o", "json", "--endpoints", follower])
                #expect(removed.status == Codes.ok, "\(removed.standardError)")
                #expect(removed.standardOutput == #"{"removed":"\#(other.id)"}"# + "\n")
                let remaining = try await wraft(["member", "list", "--endpoints", follower])
                #expect(remaining.standardOutput.split(separator: "\n").count == 2, "\(remaining.standardOutput)")

                // A read that lists the dead node first moves on to a live one.
                let failover = try await wraft(["get", "greeting", "--endpoints", "\(otherEndpoint),\(follower)"])
                #expect(failover.status == Codes.ok, "\(failover.standardError)")
                #expect(failover.standardOutput == "bye")
                #expect(failover.standardError.contains("trying"))
            }
        }

        @Test func fiveNodesFormedWithTheCLIAlone() async throws {
            let directory = ClusterFixture.makeDirectory("cli-five")
            var probes: [Int32] = []
            var ports: [Int] = []
            for _ in 0..<10 {
                let (descriptor, port) = try bindLoopbackSocket(listening: false)
                probes.append(descriptor)
                ports.append(port)
            }
            for descriptor in probes { close(descriptor) }
            let http = (0..<5).map { "127.0.0.1:\(ports[$0])" }
            let raft = (0..<5).map { "127.0.0.1:\(ports[5 + $0])" }
            var processes: [Process] = []
            defer {
                for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            for index in 0..<5 {
                processes.append(
                    try CommandRunner.start(
                        [
                            "serve", "--host", "127.0.0.1", "--http-port", String(ports[index]), "--raft-port",
                            String(ports[5 + index]), "--data-dir", "\(directory)/node\(index)", "--threads", "1",
                            "--exit-with-parent",
                        ],
                        standardOutputPath: "\(directory)/node\(index).log", standardErrorPath: "\(directory)/node\(index).err"))
            }
            func logs() -> String {
                (0..<5).map { "node\($0): " + ((try? String(contentsOfFile: "\(directory)/node\($0).err", encoding: .utf8)) ?? "").suffix(600) }
                    .joined(separator: "\n")
            }

            for endpoint in http {
                let up = await eventually(timeoutMs: 30_000, pollMs: 200) {
                    (try? await CommandRunner.run(["state", "--endpoints", endpoint, "--timeout-ms", "1000"]))?.status == 0
                }
                try #require(up, "\(endpoint) answers: \(logs())")
            }
            let connect = try await CommandRunner.run(["connect", "--endpoints", http[0]] + raft[1...])
            #expect(connect.status == 0, "\(connect.standardError)")
            let connectLines = connect.standardOutput.split(separator: "\n")
            #expect(connectLines.count == 4 && connectLines.allSatisfy { $0.contains("merged with") }, "\(connect.standardOutput)")
            #expect(connectLines.last?.hasSuffix("5 members") == true)
            let start = try await CommandRunner.run(["start", "--endpoints", http[0]])
            #expect(start.status == 0, "\(start.standardError)")

            let elected = await eventually(timeoutMs: 30_000, pollMs: 250) {
                guard let rows = await Self.status(http[0], cluster: true), rows.count == 5 else { return false }
                let states = rows.compactMap(\.state)
                return states.count == 5 && states.filter(\.isLeader).count == 1
            }
            try #require(elected, "a leader among five: \(logs())")

            let all = http.joined(separator: ",")
            let put = try await CommandRunner.run(["put", "formed", "by the CLI", "--endpoints", all])
            #expect(put.status == 0, "\(put.standardError)")
            let get = try await CommandRunner.run(["get", "formed", "--endpoints", http[4]])
            #expect(get.status == 0 && get.standardOutput == "by the CLI", "\(get.standardOutput) \(get.standardError)")
            let members = try await CommandRunner.run(["member", "list", "--endpoints", http[2], "-o", "json"])
            let state = try Self.decode(NodeStateView.self, members)
            #expect(state.members.count == 5)
            #expect(Set(state.members.map(\.raftAddress)) == Set(raft))

            for process in processes { kill(process.processIdentifier, SIGTERM) }
            for process in processes {
                if await !CommandRunner.waitForExit(process, timeoutMs: 10_000) { kill(process.processIdentifier, SIGKILL) }
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
