import Foundation
import Testing
import WRaftLauncher

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs Debian's `etcdctl` (package etcd-client), bounded in time, against a cluster's etcd ports.
enum Etcdctl {
    struct Outcome {
        var status: Int32
        var output: String
        var error: String
        var lines: [String] { output.split(separator: "\n").map(String.init) }
    }

    /// `ETCDCTL_PATH`, else the first `etcdctl` on the PATH; nil: not installed.
    static var path: String? {
        if let explicit = ProcessInfo.processInfo.environment["ETCDCTL_PATH"] { return explicit }
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        return directories.map { "\($0)/etcdctl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `etcdctl arguments...` with `ETCDCTL_API=3` against `endpoints`, `input` on its
    /// standard input; killed (and the test failed) after `timeoutMs`.
    static func run(
        _ arguments: [String], endpoints: [String], input: String = "", timeoutMs: Int = 20_000,
        stopsAfterTimeout: Bool = false
    ) async throws -> Outcome {
        let executable = try #require(path, "etcdctl is not installed")
        let directory = ClusterFixture.makeDirectory("etcdctl")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inputPath = directory + "/stdin"
        let outputPath = directory + "/stdout"
        let errorPath = directory + "/stderr"
        _ = FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8))
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--endpoints", endpoints.joined(separator: ","), "--command-timeout", "10s"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["ETCDCTL_API": "3"]) { _, new in new }
        let inputHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: inputPath))
        let outputHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer {
            try? inputHandle.close()
            try? outputHandle.close()
            try? errorHandle.close()
        }
        process.standardInput = inputHandle
        process.standardOutput = outputHandle
        process.standardError = errorHandle
        try process.run()
        if !(await CommandRunner.waitForExit(process, timeoutMs: timeoutMs)) {
            // A command that runs until stopped (watch): its lifetime is `timeoutMs`.
            if stopsAfterTimeout {
                kill(process.processIdentifier, SIGTERM)
                if await CommandRunner.waitForExit(process, timeoutMs: 5_000) {
                    return Outcome(
                        status: process.terminationStatus,
                        output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
                        error: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
                }
            }
            kill(process.processIdentifier, SIGKILL)
            _ = await CommandRunner.waitForExit(process, timeoutMs: 5_000)
            throw FixtureError("etcdctl \(arguments.joined(separator: " ")) did not finish within \(timeoutMs) ms")
        }
        return Outcome(
            status: process.terminationStatus,
            output: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
            error: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }

    /// A JSON answer (`-w json`) as a dictionary.
    static func json(_ outcome: Outcome) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any])
    }
}

extension RealProcessTests {
    /// Issue 12's proof: the real etcdctl against a 3-node WRaft cluster's etcd ports.
    @Suite(.enabled(if: Etcdctl.path != nil, "etcdctl is not installed (apt-get install etcd-client)"))
    struct EtcdctlTests {
        static func withEtcdCluster(_ name: String, _ body: (LocalCluster, [String]) async throws -> Void) async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: name, configure: { $0.isEtcdEnabled = true }) { cluster in
                let endpoints = await cluster.nodes.compactMap { $0.etcdAddress?.description }
                #expect(endpoints.count == 3)
                try await body(cluster, endpoints)
            }
        }

        /// Runs etcdctl and requires it to succeed.
        static func ok(_ arguments: [String], _ endpoints: [String], input: String = "") async throws -> Etcdctl.Outcome {
            let outcome = try await Etcdctl.run(arguments, endpoints: endpoints, input: input)
            #expect(outcome.status == 0, "etcdctl \(arguments): \(outcome.error)")
            return outcome
        }

        @Test func putGetDeleteTransactionsAndCompaction() async throws {
            try await Self.withEtcdCluster("etcdctl-kv") { _, endpoints in
                #expect(try await Self.ok(["put", "app/a", "1"], endpoints).output == "OK\n")
                let first = try Etcdctl.json(try await Self.ok(["put", "app/a", "2", "-w", "json"], endpoints))
                let firstRevision = try #require((first["header"] as? [String: Any])?["revision"] as? Int)
                #expect(try await Self.ok(["put", "app/b", "x"], endpoints).output == "OK\n")
                #expect(try await Self.ok(["put", "other", "y"], endpoints).output == "OK\n")

                #expect(try await Self.ok(["get", "app/a"], endpoints).lines == ["app/a", "2"])
                #expect(try await Self.ok(["get", "app/a", "--rev", String(firstRevision - 1)], endpoints).lines == ["app/a", "1"])
                #expect(try await Self.ok(["get", "app/", "--prefix"], endpoints).lines == ["app/a", "2", "app/b", "x"])
                #expect(try await Self.ok(["get", "app/", "--prefix", "--keys-only"], endpoints).lines == ["app/a", "app/b"])
                // Debian's etcdctl (3.4) has no --count-only; the count rides on every range answer.
                let limited = try Etcdctl.json(try await Self.ok(["get", "", "--prefix", "--limit", "1", "-w", "json"], endpoints))
                #expect(limited["more"] as? Bool == true && limited["count"] as? Int == 3)
                #expect(
                    try await Self.ok(["get", "app/", "--prefix", "--sort-by", "KEY", "--order", "DESCEND", "--keys-only"], endpoints)
                        .lines == ["app/b", "app/a"])
                #expect(try await Self.ok(["get", "nothing"], endpoints).output == "")

                // A transaction, fed to the interactive mode: compares, success ops, failure ops.
                // The prompts go to standard output too; the answers follow them.
                let txn = "value(\"app/a\") = \"2\"\n\nput app/c 3\ndel app/b\n\nput app/c 4\n\n"
                #expect(try await Self.ok(["txn", "-i"], endpoints, input: txn).lines.suffix(3) == ["SUCCESS", "OK", "1"])
                #expect(try await Self.ok(["get", "app/c"], endpoints).lines == ["app/c", "3"])
                let failing = "value(\"app/a\") = \"1\"\n\nput app/c 3\n\nput app/c 4\n\n"
                #expect(try await Self.ok(["txn", "-i"], endpoints, input: failing).lines.suffix(2) == ["FAILURE", "OK"])
                #expect(try await Self.ok(["get", "app/c"], endpoints).lines == ["app/c", "4"])

                #expect(try await Self.ok(["del", "app/", "--prefix"], endpoints).output == "2\n")
                #expect(try await Self.ok(["del", "app/a"], endpoints).output == "0\n")

                // Compaction: a read below it is refused with etcd's error.
                let now = try Etcdctl.json(try await Self.ok(["get", "other", "-w", "json"], endpoints))
                let revision = try #require((now["header"] as? [String: Any])?["revision"] as? Int)
                #expect(try await Self.ok(["compaction", String(revision)], endpoints).output == "compacted revision \(revision)\n")
                let gone = try await Etcdctl.run(["get", "other", "--rev", String(firstRevision)], endpoints: endpoints)
                #expect(gone.status != 0)
                #expect(gone.error.contains("required revision has been compacted"), "\(gone.error)")
            }
        }

        @Test func watchLiveHistoryAndCompacted() async throws {
            try await Self.withEtcdCluster("etcdctl-watch") { _, endpoints in
                let start = try Etcdctl.json(try await Self.ok(["put", "other", "x", "-w", "json"], endpoints))
                let header = try #require(start["header"] as? [String: Any])
                let revision = try #require((header["revision"] as? NSNumber)?.int64Value)
                // A live watch from the next revision (so its start does not race the writes),
                // stopped after a bounded lifetime while the writes run.
                async let watching = Etcdctl.run(
                    ["watch", "app/", "--prefix", "--rev", String(revision + 1)], endpoints: [endpoints[0]],
                    timeoutMs: 6_000, stopsAfterTimeout: true)
                #expect(try await Self.ok(["put", "app/a", "1"], endpoints).output == "OK\n")
                #expect(try await Self.ok(["put", "elsewhere", "no"], endpoints).output == "OK\n")
                #expect(try await Self.ok(["put", "app/b", "2"], endpoints).output == "OK\n")
                #expect(try await Self.ok(["del", "app/a"], endpoints).output == "1\n")
                let live = try await watching
                let expected = ["PUT", "app/a", "1", "PUT", "app/b", "2", "DELETE", "app/a", ""]
                #expect(Array(live.output.split(separator: "\n", omittingEmptySubsequences: false).prefix(9)) == expected[...].map { Substring($0) }, "\(live.output) \(live.error)")

                // History: one key from the first put's revision, replayed at once.
                let history = try await Etcdctl.run(
                    ["watch", "app/a", "--rev", String(revision + 1)], endpoints: [endpoints[1]], timeoutMs: 4_000,
                    stopsAfterTimeout: true)
                #expect(history.output.hasPrefix("PUT\napp/a\n1\nDELETE\napp/a\n"), "\(history.output) \(history.error)")

                // A compacted start is canceled with etcd's message.
                let now = revision + 4
                #expect(try await Self.ok(["compaction", String(now)], endpoints).output == "compacted revision \(now)\n")
                let gone = try await Etcdctl.run(
                    ["watch", "app/a", "--rev", String(revision + 1)], endpoints: [endpoints[0]], timeoutMs: 6_000,
                    stopsAfterTimeout: true)
                #expect(gone.error.contains("required revision has been compacted"), "\(gone.output) \(gone.error)")
            }
        }

        @Test func leasesMembersStatusHealthAndSnapshot() async throws {
            try await Self.withEtcdCluster("etcdctl-lease") { cluster, endpoints in
                let granted = try await Self.ok(["lease", "grant", "60"], endpoints).output
                // "lease 694d77aa5d1c3a04 granted with TTL(60s)"
                let words = granted.split(separator: " ")
                #expect(words.count == 5 && words.first == "lease" && granted.hasSuffix("granted with TTL(60s)\n"), "\(granted)")
                let id = String(try #require(words.dropFirst().first))
                #expect(try await Self.ok(["put", "--lease", id, "session", "me"], endpoints).output == "OK\n")
                let alive = try await Self.ok(["lease", "timetolive", id, "--keys"], endpoints).output
                #expect(alive.hasPrefix("lease \(id) granted with TTL(60s), remaining("), "\(alive)")
                #expect(alive.hasSuffix("attached keys([session])\n"), "\(alive)")
                #expect(try await Self.ok(["lease", "keep-alive", "--once", id], endpoints).output == "lease \(id) keepalived with TTL(60)\n")
                #expect(try await Self.ok(["lease", "list"], endpoints).lines == ["found 1 leases", id])
                #expect(try await Self.ok(["lease", "revoke", id], endpoints).output == "lease \(id) revoked\n")
                #expect(try await Self.ok(["get", "session"], endpoints).output == "")
                #expect(try await Self.ok(["lease", "timetolive", id], endpoints).output == "lease \(id) already expired\n")
                let missing = try await Etcdctl.run(["lease", "revoke", id], endpoints: endpoints)
                #expect(missing.status != 0 && missing.error.contains("requested lease not found"), "\(missing.error)")

                // The members, as etcd lists them: id, started, name, peer URLs, client URLs
                // (every member's etcd port, whichever member answers), learner.
                let ids = await cluster.nodes.compactMap(\.id)
                for endpoint in endpoints {
                    let members = try await Self.ok(["member", "list"], [endpoint]).lines
                    #expect(members.count == 3)
                    for node in await cluster.nodes {
                        let id = try #require(node.id)
                        let hex = String(UInt64(id, radix: 16) ?? 0, radix: 16)
                        let clientURL = "http://\(try #require(node.etcdAddress))"
                        #expect(
                            members.contains { $0.hasPrefix("\(hex), started, \(id), ") && $0.hasSuffix(", \(clientURL), false") },
                            "\(members)")
                    }
                }
                // Promoting a voter is refused with etcd's own message.
                if let voter = ids.first, let number = UInt64(voter, radix: 16) {
                    let promote = try await Etcdctl.run(["member", "promote", String(number, radix: 16)], endpoints: endpoints)
                    #expect(promote.status != 0 && promote.error.contains("can only promote a learner member"), "\(promote.error)")
                }

                // Status of each endpoint: its id, the version, one leader among the three.
                let status = try await Self.ok(["endpoint", "status"], endpoints).lines
                #expect(status.count == 3)
                #expect(status.allSatisfy { $0.contains(", 3.4.0, ") }, "\(status)")
                #expect(status.filter { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }[4] == "true" }.count == 1)
                // etcdctl 3.4 writes the health lines to standard error.
                let health = try await Self.ok(["endpoint", "health"], endpoints).error
                    .split(separator: "\n").filter { $0.contains("127.0.0.1:") }
                #expect(health.count == 3 && health.allSatisfy { $0.contains("is healthy") }, "\(health)")
                #expect(try await Self.ok(["alarm", "list"], endpoints).output == "")

                // A snapshot from one member: etcdctl checks the SHA-256 trailer's place.
                let directory = ClusterFixture.makeDirectory("etcdctl-snapshot")
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let path = directory + "/wraft.db"
                let saved = try await Self.ok(["snapshot", "save", path], [endpoints[0]])
                #expect(saved.output.contains("Snapshot saved at \(path)"), "\(saved.output) \(saved.error)")
                let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
                #expect(size % 512 == 32)
            }
        }
    }
}
