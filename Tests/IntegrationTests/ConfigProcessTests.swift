import Foundation
import Testing
import WRaftAPI
import WRaftClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wraft serve` configured by flags, by `WRAFT_*` variables and by a `--config` file, as real
/// processes: the same settings give the same node, and bad settings stop it with exit code 78.
@Suite(.serialized) struct ConfigProcessTests {
    /// How a node is configured in one run.
    enum Way: String, CaseIterable { case flags, environment, file }

    /// What one run showed: `/state`'s addresses and id, and `--print-config`'s output.
    struct Seen: Equatable {
        var id: String
        var httpAddress: String
        var raftAddress: String
        var printed: String
    }

    static let configurationErrorExitCode: Int32 = 78

    @Test func theSameNodeByFlagsByEnvironmentAndByFile() async throws {
        let directory = ClusterFixture.makeDirectory("config-ways")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (httpSocket, httpPort) = try bindLoopbackSocket(listening: false)
        let (raftSocket, raftPort) = try bindLoopbackSocket(listening: false)
        close(httpSocket)
        close(raftSocket)
        // The same data dir each time: the same node id comes back.
        let settings: [(String, String)] = [
            ("data-dir", directory + "/node"), ("http-bind", "127.0.0.1:\(httpPort)"), ("raft-port", String(raftPort)),
            ("election-timeout-ms", "400"), ("log-level", "notice"),
        ]
        // The file way runs a copy of the binary in a folder of its own: no resource bundle
        // beside it, and the dashboard must still be served.
        let binary = directory + "/bin/wraft"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try WRaftExecutable.path(), toPath: binary)
        var seen: [Way: Seen] = [:]
        for way in Way.allCases {
            var arguments = ["serve"]
            var environment: [String: String] = [:]
            switch way {
            case .flags:
                arguments += settings.flatMap { ["--\($0.0)", $0.1] }
            case .environment:
                for (name, value) in settings {
                    environment["WRAFT_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] = value
                }
            case .file:
                let object = settings.map { name, value in
                    Int(value).map { "\"\(name)\": \($0)" } ?? "\"\(name)\": \"\(value)\""
                }
                let file = directory + "/wraft.json"
                try ("{" + object.joined(separator: ", ") + "}").write(toFile: file, atomically: true, encoding: .utf8)
                arguments += ["--config", file]
            }
            let executable = way == .file ? binary : try WRaftExecutable.path()
            let printed = try await Self.run(executable, arguments + ["--print-config"], environment: environment, in: directory)
            try #require(printed.status == 0, "\(way): \(printed.standardError)")
            #expect(printed.standardError.contains("http-bind: \(way == .flags ? "--http-bind" : way == .environment ? "environment variable WRAFT_HTTP_BIND" : directory + "/wraft.json: http-bind")"))

            let process = try CommandRunner.startProgram(
                executable, arguments, standardOutputPath: directory + "/\(way).out",
                standardErrorPath: directory + "/\(way).err", environment: environment)
            defer {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let client = NodeClient(address: try NodeAddress(parsing: "127.0.0.1:\(httpPort)"))
            let up = await eventually(timeoutMs: 20_000, pollMs: 100) { (try? await client.health()) != nil }
            try #require(up, "\(way): \((try? String(contentsOfFile: directory + "/\(way).err", encoding: .utf8)) ?? "")")
            let state = try await client.state()
            await client.shutDown()
            seen[way] = Seen(id: state.id, httpAddress: state.httpAddress, raftAddress: state.raftAddress, printed: printed.standardOutput)

            let page = rawExchange(port: httpPort, "GET / HTTP/1.1\r\nHost: 127.0.0.1:\(httpPort)\r\n")
            #expect(page?.status == 200, "\(way)")
            #expect(page?.text.contains("<title>") == true, "\(way): the dashboard page, not a notice")
            #expect(page?.text.lowercased().contains("content-type: text/html; charset=utf-8") == true, "\(way)")
            #expect(page?.text.hasSuffix("</html>\n") == true, "\(way): the whole page")

            kill(process.processIdentifier, SIGTERM)
            let stopped = await CommandRunner.waitForExit(process, timeoutMs: 15_000)
            #expect(stopped, "\(way): stops on SIGTERM")
        }
        let flags = try #require(seen[.flags])
        #expect(flags.httpAddress == "127.0.0.1:\(httpPort)")
        #expect(flags.raftAddress == "127.0.0.1:\(raftPort)")
        #expect(flags.printed.contains("\"election-timeout-ms\": 400"))
        #expect(seen[.environment] == flags)
        #expect(seen[.file] == flags)
    }

    @Test func badSettingsStopTheNodeWithExitCode78NamingTheSource() async throws {
        let directory = ClusterFixture.makeDirectory("config-bad")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/wraft.json"
        try #"{"data-dir": "/tmp/never", "heartbeat_ms": 50}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let unknown = try await CommandRunner.run(["serve", "--config", file])
        #expect(unknown.status == Self.configurationErrorExitCode)
        #expect(unknown.standardError.contains("\(file): unknown key \"heartbeat_ms\" (did you mean heartbeat-ms?)"), "\(unknown.standardError)")

        let badVariable = try await CommandRunner.run(
            ["serve", "--data-dir", directory + "/node"], environment: ["WRAFT_RAFT_PORT": "70000"])
        #expect(badVariable.status == Self.configurationErrorExitCode)
        #expect(badVariable.standardError.contains("environment variable WRAFT_RAFT_PORT: 70000 is not in 0...65535"))

        let fromVariable = try await CommandRunner.run(["serve"], environment: ["WRAFT_CONFIG": file])
        #expect(fromVariable.status == Self.configurationErrorExitCode, "WRAFT_CONFIG names the file")
        #expect(fromVariable.standardError.contains("heartbeat_ms"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/node"), "nothing was created")
    }

    @Test func aWildcardAdvertisedAddressIsRefusedWithExitCode78AndTheFix() async throws {
        let directory = ClusterFixture.makeDirectory("config-wildcard")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let refused = try await CommandRunner.run(
            ["serve", "--data-dir", directory + "/node", "--raft-bind", "0.0.0.0:10002", "--insecure-plaintext"])
        #expect(refused.status == Self.configurationErrorExitCode)
        #expect(refused.standardError.contains("--raft-bind 0.0.0.0"), "\(refused.standardError)")
        #expect(refused.standardError.contains("set --advertised-host"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/node"), "nothing was created")
    }

    /// Runs a `wraft` binary to completion with its output in files.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], in directory: String
    ) async throws -> CommandRunner.Outcome {
        let output = directory + "/run.out", error = directory + "/run.err"
        let process = try CommandRunner.startProgram(
            executable, arguments, standardOutputPath: output, standardErrorPath: error, environment: environment)
        guard await CommandRunner.waitForExit(process, timeoutMs: 30_000) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw FixtureError("\(arguments) did not finish")
        }
        return CommandRunner.Outcome(
            status: process.terminationStatus,
            standardOutput: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: error, encoding: .utf8)) ?? "")
    }
}
