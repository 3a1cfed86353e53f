import Foundation
import Testing
import WRaftClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--help` of every command: no node needed.
@Suite struct CLIHelpTests {
    @Test(arguments: [
        [], ["serve"], ["cluster"], ["put"], ["get"], ["delete"], ["list"], ["state"], ["bench"], ["bench", "http"],
        ["bench", "core"], ["check"], ["certs"], ["certs", "init"], ["certs", "issue"],
    ])
    func everyCommandHasUsefulHelp(command: [String]) async throws {
        let outcome = try await CommandRunner.run(command + ["--help"])
        #expect(outcome.status == 0, "\(command): \(outcome.standardError)")
        #expect(outcome.standardOutput.contains("USAGE: wraft"), "\(command)")
        #expect(outcome.standardOutput.contains("OVERVIEW:"), "\(command) says what it does")
    }

    @Test func badArgumentsExitNonZeroWithAMessage() async throws {
        let badNode = try await CommandRunner.run(["get", "k", "--node", "not-an-address"])
        #expect(badNode.status != 0)
        #expect(badNode.status == 64)
        #expect(badNode.standardError.contains("is not an endpoint"))
        let tooMany = try await CommandRunner.run(["cluster", "--nodes", "9"])
        #expect(tooMany.status != 0)
        #expect(tooMany.standardError.contains("--nodes"))
        let closed = try RefusingPort()
        let refused = try await CommandRunner.run(["put", "k", "v", "--node", "127.0.0.1:\(closed.port)"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("connection refused"))
        withExtendedLifetime(closed) {}
    }
}

extension RealProcessTests {
    /// The CLI against real nodes: client commands, `wraft cluster` and `wraft bench`.
    @Suite struct CLITests {
        @Test func clientCommandsPrintReadableResultsAndFailWithAMessage() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "cli") { cluster in
                let node = await cluster.nodes[1].httpAddress.description
                let put = try await CommandRunner.run(["put", "greeting", "hello world", "--node", node])
                #expect(put.status == 0, "\(put.standardError)")
                #expect(put.standardOutput.hasPrefix("OK greeting index="))

                let get = try await CommandRunner.run(["get", "greeting", "--node", node, "--show-index"])
                #expect(get.status == 0)
                #expect(get.standardOutput == "hello world")
                #expect(get.standardError.contains("index="))

                let cas = try await CommandRunner.run(["put", "greeting", "bye", "--prev-value", "nope", "--node", node])
                #expect(cas.status != 0)
                #expect(cas.standardError.contains("compare_failed"))

                let list = try await CommandRunner.run(["list", "--prefix", "gree", "--node", node, "--local"])
                #expect(list.status == 0)
                #expect(list.standardOutput.contains("greeting = hello world"))

                let state = try await CommandRunner.run(["state", "--node", node])
                #expect(state.status == 0)
                #expect(state.standardOutput.contains("status    running"))
                #expect(state.standardOutput.contains("members   3"))
                let json = try await CommandRunner.run(["state", "--json", "--node", node])
                #expect(try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) is [String: Any])

                let delete = try await CommandRunner.run(["delete", "greeting", "--node", node])
                #expect(delete.status == 0)
                #expect(delete.standardOutput.contains("deleted"))
                let missing = try await CommandRunner.run(["get", "greeting", "--node", node])
                #expect(missing.status != 0)
                #expect(missing.standardError.contains("not found"))
            }
        }

        @Test func clusterCommandStartsNodesPrintsURLsAndStopsThemAllOnSIGINT() async throws {
            let directory = ClusterFixture.makeDirectory("cluster-command")
            let outputPath = directory + "/cluster.out"
            let process = try CommandRunner.start(
                ["cluster", "--nodes", "3", "--dir", directory + "/data", "--seed", "3"],
                standardOutputPath: outputPath, standardErrorPath: directory + "/cluster.err")
            defer {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            let ready = await eventually(timeoutMs: 60_000, pollMs: 100) {
                ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").contains("Ctrl-C stops the cluster.")
                    || !process.isRunning
            }
            let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            #expect(ready && process.isRunning, "wraft cluster came up: \(output)")
            let nodeLines = output.split(separator: "\n").filter { $0.hasPrefix("node ") }
            let urls = nodeLines.compactMap { line -> String? in
                guard let range = line.range(of: "http://") else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "/" })
            }
            let pids = nodeLines.compactMap { line -> Int32? in
                guard let range = line.range(of: "pid ") else { return nil }
                return Int32(line[range.upperBound...].prefix { $0.isNumber })
            }
            #expect(urls.count == 3, "\(output)")
            #expect(pids.count == 3)
            #expect(output.contains("(leader)"))
            // Mutual TLS between the nodes by default: a CA and a certificate per node in --dir/certs.
            #expect(output.contains("raft ports: mutual TLS"), "\(output)")
            for file in ["ca.pem", "ca-key.pem", "node-0.pem", "node-0-key.pem", "node-2.pem"] {
                #expect(FileManager.default.fileExists(atPath: directory + "/data/certs/" + file), "\(file)")
            }
            for pid in pids {
                let arguments = PeerTLSClusterTests.arguments(of: pid)
                #expect(arguments.contains("--peer-trusted-ca-file"), "node \(pid): \(arguments)")
            }

            let client = try NodeClient(try #require(urls.first))
            try await client.put("from-test", "1")
            #expect(try await client.get("from-test")?.text == "1")
            await client.shutDown()

            kill(process.processIdentifier, SIGINT)
            let exited = await CommandRunner.waitForExit(process, timeoutMs: 20_000)
            #expect(exited)
            #expect(process.terminationStatus == 0)
            #expect(((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "").contains("stopped"))
            for pid in pids {
                #expect(kill(pid, 0) != 0, "node process \(pid) is gone")
            }
            try? FileManager.default.removeItem(atPath: directory)
        }

        @Test func benchStartsAClusterAndPrintsThroughputAndPercentiles() async throws {
            let outcome = try await CommandRunner.run(
                ["bench", "--start", "3", "--duration", "2s", "--warmup", "500ms", "--connections", "8", "--value-bytes", "64"],
                timeoutMs: 90_000)
            #expect(outcome.status == 0, "\(outcome.standardOutput)\n\(outcome.standardError)")
            #expect(outcome.standardOutput.contains("ops/s"))
            #expect(outcome.standardOutput.contains("p99.9"))
            // One cost line per member, each with a CPU figure per request and a batch size.
            let costLines = outcome.standardOutput.split(separator: "\n").filter { $0.contains("µs/op (") }
            #expect(costLines.count == 3, "\(outcome.standardOutput)")
            #expect(costLines.allSatisfy { $0.contains("entries/fsync ") && !$0.contains("entries/fsync -") })
            #expect(outcome.standardOutput.contains("cluster CPU "))
            print(outcome.standardOutput)
        }
    }
}
