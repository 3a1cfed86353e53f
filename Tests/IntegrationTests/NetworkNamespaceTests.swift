import Foundation
import Testing
import WRaftAPI
import WRaftCertificates
import WRaftClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Three "machines" as Linux network namespaces on a private switch: the proof that WRaft runs
/// across hosts on non-loopback addresses with mutual TLS between members. It needs root and
/// `ip`; elsewhere it is skipped with a message.
///
/// Layout (all of it made here and removed at the end; the root namespace is never touched):
/// namespace `S` holds a bridge; host namespaces `H1..H3` each hold one end of a veth pair whose
/// other end is on the bridge, with the address 10.77.0.N/24.
enum NetworkLab {
    static let subnet = "10.77.0"
    static let httpPort = 8081
    static let raftPort = 10002

    struct Lab {
        let prefix: String
        var switchNamespace: String { prefix + "s" }
        func host(_ index: Int) -> String { prefix + "h\(index)" }
        func address(_ index: Int) -> String { "\(NetworkLab.subnet).\(index)" }
        func hostInterface(_ index: Int) -> String { "eth\(index)" }
        func switchInterface(_ index: Int) -> String { "p\(index)" }
    }

    /// Runs `ip ARGUMENTS` (or another program) and waits; returns its status and output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeoutMs: Int = 30_000) async -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let outputPath = NSTemporaryDirectory() + "wraft-netns-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else { return (-1, "cannot open \(outputPath)") }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? output.close()
            return (-1, "\(error)")
        }
        try? output.close()
        let finished = await eventually(timeoutMs: timeoutMs, pollMs: 20) { !process.isRunning }
        if !finished {
            kill(process.processIdentifier, SIGKILL)
            _ = await eventually(timeoutMs: 5_000, pollMs: 20) { !process.isRunning }
            return (-1, "timed out: \(executable) \(arguments.joined(separator: " "))")
        }
        return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    static func ip(_ arguments: [String]) async throws {
        let result = await run("/usr/sbin/ip", arguments)
        guard result.status == 0 else { throw FixtureError("ip \(arguments.joined(separator: " ")): \(result.output)") }
    }

    /// Why namespaces cannot be made here, or nil when they can.
    static func unavailableReason() async -> String? {
        guard getuid() == 0 else { return "not root" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return "/usr/sbin/ip is missing" }
        let probe = "wrprobe\(getpid())"
        let made = await run("/usr/sbin/ip", ["netns", "add", probe])
        guard made.status == 0 else { return "ip netns add failed: \(made.output)" }
        await run("/usr/sbin/ip", ["netns", "del", probe])
        return nil
    }

    static func build(_ lab: Lab, hosts: Int) async throws {
        try await ip(["netns", "add", lab.switchNamespace])
        try await ip(["-n", lab.switchNamespace, "link", "add", "br0", "type", "bridge"])
        try await ip(["-n", lab.switchNamespace, "link", "set", "br0", "up"])
        for index in 1...hosts {
            let host = lab.host(index)
            try await ip(["netns", "add", host])
            // Made inside the host namespace, then one end is moved to the switch.
            try await ip(["-n", host, "link", "add", lab.hostInterface(index), "type", "veth", "peer", "name", lab.switchInterface(index)])
            try await ip(["-n", host, "link", "set", lab.switchInterface(index), "netns", lab.switchNamespace])
            try await ip(["-n", lab.switchNamespace, "link", "set", lab.switchInterface(index), "master", "br0"])
            try await ip(["-n", lab.switchNamespace, "link", "set", lab.switchInterface(index), "up"])
            try await ip(["-n", host, "addr", "add", "\(lab.address(index))/24", "dev", lab.hostInterface(index)])
            try await ip(["-n", host, "link", "set", lab.hostInterface(index), "up"])
            try await ip(["-n", host, "link", "set", "lo", "up"])
        }
    }

    static func tearDown(_ lab: Lab, hosts: Int) async {
        for index in 1...hosts { await run("/usr/sbin/ip", ["netns", "del", lab.host(index)]) }
        await run("/usr/sbin/ip", ["netns", "del", lab.switchNamespace])
    }
}

extension RealProcessTests {
    @Suite struct NetworkNamespaceTests {
        static let hostCount = 3

        @Test func aTLSClusterAcrossThreeHostsLosesNothingWhenOneIsCutOffAndHealed() async throws {
            if let reason = await NetworkLab.unavailableReason() {
                print("skipped: network namespaces cannot be made here (\(reason)); run the tests as root on Linux with iproute2")
                return
            }
            let lab = NetworkLab.Lab(prefix: "wr\(getpid() % 100_000)")
            let directory = ClusterFixture.makeDirectory("netns")
            var processes: [Process] = []
            defer {
                for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            do {
                try await NetworkLab.build(lab, hosts: Self.hostCount)
                processes = try await Self.startNodes(lab, directory: directory)
                try await Self.exercise(lab, directory: directory, processes: processes)
            } catch {
                for index in 1...Self.hostCount {
                    let log = (try? String(contentsOfFile: directory + "/h\(index).log", encoding: .utf8)) ?? ""
                    print("--- h\(index) log tail ---\n\(log.suffix(1_500))")
                }
                for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
                await NetworkLab.tearDown(lab, hosts: Self.hostCount)
                throw error
            }
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
            _ = await eventually(timeoutMs: 10_000) { processes.allSatisfy { !$0.isRunning } }
            await NetworkLab.tearDown(lab, hosts: Self.hostCount)
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// A CA, a certificate per host for its 10.77.0.N address, and one `wraft serve` per namespace.
        static func startNodes(_ lab: NetworkLab.Lab, directory: String) async throws -> [Process] {
            let certificates = directory + "/certs"
            let authority = try CertificateFiles.readOrMakeAuthority(in: certificates)
            var processes: [Process] = []
            for index in 1...hostCount {
                let name = "h\(index)"
                _ = try await CertificateFiles.readOrIssue(
                    name: name, hosts: [try CertificateHost(parsing: lab.address(index))], by: authority, in: certificates)
                let process = try CommandRunner.startInNamespace(lab.host(index), [
                    "serve", "--host", lab.address(index), "--http-port", String(NetworkLab.httpPort),
                    "--raft-port", String(NetworkLab.raftPort), "--data-dir", directory + "/\(name)",
                    "--peer-cert-file", CertificateFiles.certificatePath(name: name, in: certificates),
                    "--peer-key-file", CertificateFiles.keyPath(name: name, in: certificates),
                    "--peer-trusted-ca-file", CertificateFiles.authorityCertificatePath(in: certificates),
                    // The HTTP API stays plaintext inside these private namespaces (the test's
                    // clients speak to it from inside them); the raft port is mutual TLS.
                    "--insecure-plaintext", "--exit-with-parent",
                ], logPath: directory + "/\(name).log")
                processes.append(process)
            }
            return processes
        }

        static func exercise(_ lab: NetworkLab.Lab, directory: String, processes: [Process]) async throws {
            func node(_ index: Int) -> String { "\(lab.address(index)):\(NetworkLab.httpPort)" }
            func client(_ index: Int, _ arguments: [String]) async throws -> CommandRunner.Outcome {
                try await CommandRunner.runInNamespace(lab.host(index), arguments + ["--node", node(index), "--timeout-ms", "5000"])
            }
            func post(_ index: Int, _ path: String, _ body: String) async -> (status: Int32, output: String) {
                await NetworkLab.run("/usr/sbin/ip", [
                    "netns", "exec", lab.host(index), "/usr/bin/curl", "-sS", "--max-time", "10", "-X", "POST",
                    "-H", "Content-Type: application/json", "-d", body, "-w", " HTTP%{http_code}", "http://\(node(index))\(path)",
                ])
            }
            for index in 1...hostCount {
                let up = await eventually(timeoutMs: 20_000, pollMs: 200) { (try? await client(index, ["state"]))?.status == 0 }
                guard up else { throw FixtureError("node h\(index) did not answer on \(node(index))") }
            }
            // Form the cluster across the switch: h2 and h3 connect to h1's raft address, h1 starts it.
            for index in 2...hostCount {
                let connect = await post(index, "/connect", #"{"peer":"\#(lab.address(1)):\#(NetworkLab.raftPort)"}"#)
                guard connect.output.contains("HTTP200") else { throw FixtureError("connect h\(index) -> h1: \(connect.output)") }
            }
            let start = await post(1, "/start", "{}")
            guard start.output.contains("HTTP200") else { throw FixtureError("start: \(start.output)") }
            try await waitForAgreedLeader(among: Array(1...hostCount), client: client)

            var acknowledged: [String: String] = [:]
            func write(_ key: String, through indexes: [Int]) async throws {
                // Retried (bounded) while an election runs; only a success is an acknowledgement.
                for attempt in 0..<40 {
                    let target = indexes[attempt % indexes.count]
                    if let put = try? await client(target, ["put", key, "value-of-\(key)"]), put.status == 0 {
                        acknowledged[key] = "value-of-\(key)"
                        return
                    }
                    try await Task.sleep(for: .milliseconds(250))
                }
                throw FixtureError("no node took the write of \(key)")
            }
            for index in 0..<10 { try await write("before-\(index)", through: [1, 2, 3]) }

            // Cut host 3 off the switch, keep writing through the majority, then heal.
            try await NetworkLab.ip(["-n", lab.switchNamespace, "link", "set", lab.switchInterface(3), "down"])
            for index in 0..<10 { try await write("during-\(index)", through: [1, 2]) }
            // The cut is real: host 3 cannot reach a quorum, so a linearizable read there fails.
            let isolatedRead = try await CommandRunner.runInNamespace(
                lab.host(3), ["get", "before-0", "--node", node(3), "--timeout-ms", "1500"])
            #expect(isolatedRead.status != 0, "h3 answered a linearizable read while cut off: \(isolatedRead.standardOutput)")
            let reachable = await NetworkLab.run(
                "/usr/sbin/ip", ["netns", "exec", lab.host(3), "/usr/bin/curl", "-sS", "--max-time", "1", "http://\(node(1))/health"])
            #expect(reachable.status != 0, "h1 is unreachable from h3 while cut off")
            try await NetworkLab.ip(["-n", lab.switchNamespace, "link", "set", lab.switchInterface(3), "up"])
            for index in 0..<5 { try await write("after-\(index)", through: [3, 1, 2]) }
            try await waitForAgreedLeader(among: Array(1...hostCount), client: client)

            // Every acknowledged write is on every host, host 3 included once it caught up.
            for index in 1...hostCount {
                var missing: [String] = []
                let caughtUp = await eventually(timeoutMs: 30_000, pollMs: 500) {
                    guard let list = try? await client(index, ["list", "--all", "--local", "--limit", "1000"]), list.status == 0
                    else { return false }
                    // Lines are `key = value  (index N)`.
                    let lines = Set(list.standardOutput.split(separator: "\n").map { line in
                        line.range(of: "  (index ").map { String(line[..<$0.lowerBound]) } ?? String(line)
                    })
                    missing = acknowledged.keys.sorted().filter { !lines.contains("\($0) = \(acknowledged[$0] ?? "")") }
                    return missing.isEmpty
                }
                #expect(caughtUp, "h\(index) lacks acknowledged keys: \(missing)")
            }
            #expect(acknowledged.count == 25)
            // Every node is still up.
            for (offset, process) in processes.enumerated() {
                #expect(process.isRunning, "h\(offset + 1) is running")
            }
        }

        static func waitForAgreedLeader(
            among indexes: [Int], client: (Int, [String]) async throws -> CommandRunner.Outcome
        ) async throws {
            var views: [String] = []
            let agreed = await eventually(timeoutMs: 30_000, pollMs: 300) {
                views = []
                var leaders: Set<String> = []
                for index in indexes {
                    guard let state = try? await client(index, ["state", "--json"]), state.status == 0,
                        let decoded = try? JSONDecoder().decode(NodeStateView.self, from: Data(state.standardOutput.utf8))
                    else {
                        views.append("h\(index): no answer")
                        leaders.insert("")
                        continue
                    }
                    views.append("h\(index): \(decoded.status) term \(decoded.term) leader \(decoded.leader?.id ?? "none")")
                    leaders.insert(decoded.leader?.id ?? "")
                }
                return leaders.count == 1 && leaders.first != ""
            }
            guard agreed else { throw FixtureError("no agreed leader: \(views)") }
        }
    }
}
