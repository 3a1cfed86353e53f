import Foundation
import Testing
import WRaftAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operator's CLI without a cluster: endpoint parsing, `--version`, value input, failover
/// and the exit code of every kind of failure, against scripted fake nodes so that each answer
/// (500, 503, 504, a hang) is certain. `CLIClusterTests` runs the same commands against real nodes.
@Suite struct CLIExitCodeTests {
    // The exit codes the README and every `--help` document (ClientExit).
    static let ok: Int32 = 0
    static let failed: Int32 = 1
    static let notFound: Int32 = 3
    static let compareFailed: Int32 = 4
    static let unreachable: Int32 = 5
    static let unavailable: Int32 = 6
    static let timeout: Int32 = 7
    static let refused: Int32 = 8
    static let usage: Int32 = 64
    static let badInput: Int32 = 65

    @Test(arguments: [
        ["connect"], ["start"], ["member"], ["member", "list"], ["member", "remove"], ["log"], ["endpoint"],
        ["endpoint", "health"], ["endpoint", "status"], ["op"], ["op", "pause"], ["op", "resume"], ["op", "isolate"],
        ["op", "delay"], ["op", "drop"], ["op", "heal"], ["op", "crash"], ["op", "step-down"], ["op", "transfer"],
        ["op", "snapshot"], ["put"], ["get"], ["delete"], ["list"], ["state"], ["member", "promote"], ["lease"],
        ["lease", "grant"], ["lease", "keepalive"], ["lease", "revoke"], ["lease", "list"], ["lease", "ttl"], ["txn"],
        ["compact"],
    ])
    func everyClientCommandDocumentsItsExitCodesAndOptions(command: [String]) async throws {
        let outcome = try await CommandRunner.run(command + ["--help"])
        #expect(outcome.status == Self.ok, "\(command): \(outcome.standardError)")
        #expect(outcome.standardOutput.contains("OVERVIEW:"), "\(command)")
        // Help text is wrapped to the terminal's width: compare with the white space folded.
        let folded = outcome.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(folded.contains("Exit codes: 0 ok, 1 other failure, 3 not found (key, lease, member)"), "\(command)")
        #expect(folded.contains("64 bad command line"), "\(command)")
        if command.count == 2 || ["put", "get", "delete", "list", "state", "connect", "start", "log", "txn", "compact"].contains(command[0]) {
            #expect(outcome.standardOutput.contains("--endpoints"), "\(command)")
            #expect(outcome.standardOutput.contains("-o, --output"), "\(command)")
        }
    }

    @Test func versionPrintsTheOneVersionConstant() async throws {
        let outcome = try await CommandRunner.run(["--version"])
        #expect(outcome.status == Self.ok)
        #expect(outcome.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == WRaftVersion.string)
    }

    @Test(arguments: [
        ("http://127.0.0.1:99999", "the port is not a number in 1...65535"),
        ("127.0.0.1:0", "the port is not a number in 1...65535"),
        ("::1:8081", "an IPv6 host goes in brackets"),
        ("ftp://127.0.0.1:8081", "only http:// and https://"),
        ("127.0.0.1:8081/v2", "an endpoint has no path"),
        ("127.0.0.1:8081,,127.0.0.1:8082", "an empty endpoint"),
        ("127.0.0.1", "no :port"),
    ])
    func badEndpointTextIsAUsageErrorThatSaysWhy(text: String, reason: String) async throws {
        let outcome = try await CommandRunner.run(["get", "k", "--endpoints", text])
        #expect(outcome.status == Self.usage, "\(text): \(outcome.standardError)")
        #expect(outcome.standardError.contains("--endpoints"), "\(outcome.standardError)")
        #expect(outcome.standardError.contains(reason), "\(text): \(outcome.standardError)")
    }

    @Test func badEndpointsInTheEnvironmentAreNamedAsSuch() async throws {
        let outcome = try await CommandRunner.run(["get", "k"], environment: ["WRAFT_ENDPOINTS": "127.0.0.1:70000"])
        #expect(outcome.status == Self.usage)
        #expect(outcome.standardError.contains("$WRAFT_ENDPOINTS"), "\(outcome.standardError)")
    }

    @Test func endpointsThatRefuseExitUnreachableNamingEach() async throws {
        let first = try RefusingPort()
        let second = try RefusingPort()
        // A URL, a plain address, and an IPv6 literal all parse; nothing answers at any of them.
        let outcome = try await CommandRunner.run([
            "get", "k", "--endpoints", "http://127.0.0.1:\(first.port),127.0.0.1:\(second.port)",
        ])
        #expect(outcome.status == Self.unreachable, "\(outcome.standardError)")
        #expect(outcome.standardError.contains("no endpoint answered"))
        #expect(outcome.standardError.contains("127.0.0.1:\(first.port)"))
        #expect(outcome.standardError.contains("127.0.0.1:\(second.port)"))
        let ipv6 = try await CommandRunner.run(["state", "--node", "[::1]:\(first.port)", "--timeout-ms", "2000"])
        #expect(ipv6.status == Self.unreachable, "[::1] parses and is tried: \(ipv6.standardError)")
        withExtendedLifetime((first, second)) {}
    }

    @Test func eachNodeAnswerMapsToItsExitCode() async throws {
        let cases: [(status: Int, code: String, exit: Int32)] = [
            (404, "not_found", Self.notFound), (412, "compare_failed", Self.compareFailed),
            (503, "no_leader", Self.unavailable), (504, "unknown_outcome", Self.timeout), (401, "unauthenticated", Self.refused),
            (409, "not_leader", Self.refused), (413, "value_too_large", Self.refused), (507, "quota_exceeded", Self.refused),
            (500, "internal", Self.failed),
        ]
        for (status, code, exit) in cases {
            let server = try FakeHTTPServer { _ in
                .respond(
                    status: status, headers: [("Content-Type", "application/json")],
                    body: json(#"{"error":"\#(code)","message":"scripted"}"#))
            }
            defer { server.stop() }
            let put = try await CommandRunner.run(["put", "k", "v", "--endpoints", server.address])
            #expect(put.status == exit, "\(status) \(code): \(put.standardError)")
            #expect(put.standardError.contains(code), "\(put.standardError)")
        }
    }

    @Test func aNodeThatNeverAnswersIsATimeoutAndAReadMovesOnButAWriteDoesNot() async throws {
        let hanging = try FakeHTTPServer { _ in .hang }
        defer { hanging.stop() }
        let answering = try FakeHTTPServer { request in
            request.method == "GET"
                ? .respond(status: 200, headers: [("X-Raft-Index", "7"), ("X-Raft-Term", "2")], body: Array("v".utf8))
                : .respond(status: 200, headers: [("Content-Type", "application/json")], body: json(#"{"key":"k","index":8,"term":2}"#))
        }
        defer { answering.stop() }
        let endpoints = "\(hanging.address),\(answering.address)"

        let alone = try await CommandRunner.run(["get", "k", "--endpoints", hanging.address, "--timeout-ms", "1500"])
        #expect(alone.status == Self.timeout, "\(alone.standardError)")

        let read = try await CommandRunner.run(["get", "k", "--endpoints", endpoints, "--timeout-ms", "1500"])
        #expect(read.status == Self.ok, "\(read.standardError)")
        #expect(read.standardOutput == "v")
        #expect(read.standardError.contains("trying http://\(answering.address)"), "\(read.standardError)")

        // The write may have reached the hanging node: sending it again elsewhere could apply it twice.
        let write = try await CommandRunner.run(["put", "k", "v", "--endpoints", endpoints, "--timeout-ms", "1500"])
        #expect(write.status == Self.timeout, "\(write.standardError)")
        #expect(!answering.requests.contains { $0.method == "PUT" }, "the write did not go to the second endpoint")

        // A refused endpoint is passed over by a write: it certainly never arrived.
        let closed = try RefusingPort()
        let moved = try await CommandRunner.run(["put", "k", "v", "--endpoints", "127.0.0.1:\(closed.port),\(answering.address)"])
        #expect(moved.status == Self.ok, "\(moved.standardError)")
        #expect(moved.standardOutput.contains("OK k index=8"))
        #expect(answering.requests.contains { $0.method == "PUT" })
        withExtendedLifetime(closed) {}
    }

    @Test func aValueFromAFileOrStandardInputIsBoundedAndSentAsIs() async throws {
        let server = try FakeHTTPServer { _ in
            .respond(status: 200, headers: [("Content-Type", "application/json")], body: json(#"{"key":"k","index":3,"term":1}"#))
        }
        defer { server.stop() }
        let directory = ClusterFixture.makeDirectory("cli-values")
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let bytes: [UInt8] = [0, 1, 2, 0xff, 0x41]
        _ = FileManager.default.createFile(atPath: directory + "/value.bin", contents: Data(bytes))
        let fromFile = try await CommandRunner.run(["put", "k", "@" + directory + "/value.bin", "--endpoints", server.address])
        #expect(fromFile.status == Self.ok, "\(fromFile.standardError)")
        #expect(server.requests.last?.body == bytes)

        let literal = try await CommandRunner.run(["put", "k", "@" + directory + "/value.bin", "--literal", "--endpoints", server.address])
        #expect(literal.status == Self.ok)
        #expect(server.requests.last?.body == Array(("@" + directory + "/value.bin").utf8))

        let fromInput = try await Self.run(["put", "k", "-", "--endpoints", server.address], standardInput: Array("piped\n".utf8))
        #expect(fromInput == Self.ok)
        #expect(server.requests.last?.body == Array("piped\n".utf8))

        let sentBefore = server.requests.count
        let limit = 1 << 20
        _ = FileManager.default.createFile(atPath: directory + "/exact", contents: Data(repeating: 0x61, count: limit))
        _ = FileManager.default.createFile(atPath: directory + "/large", contents: Data(repeating: 0x61, count: limit + 1))
        let large = try await CommandRunner.run(["put", "k", "@" + directory + "/large", "--endpoints", server.address])
        #expect(large.status == Self.refused, "\(large.standardError)")
        #expect(large.standardError.contains("larger than a node takes"))
        let largeInput = try await Self.run(
            ["put", "k", "-", "--endpoints", server.address], standardInput: Array(repeating: 0x62, count: limit + 10))
        #expect(largeInput == Self.refused)
        #expect(server.requests.count == sentBefore, "nothing was sent for a value over the limit")
        let exact = try await CommandRunner.run(["put", "k", "@" + directory + "/exact", "--endpoints", server.address])
        #expect(exact.status == Self.ok, "a value of exactly the limit is sent: \(exact.standardError)")
        #expect(server.requests.last?.body.count == limit)

        let missing = try await CommandRunner.run(["put", "k", "@" + directory + "/absent", "--endpoints", server.address])
        #expect(missing.status == Self.usage)
        #expect(missing.standardError.contains("cannot read"))
    }

    /// Runs `wraft arguments...` with `standardInput` piped in (from a file); its exit status.
    static func run(_ arguments: [String], standardInput: [UInt8], timeoutMs: Int = 30_000) async throws -> Int32 {
        let directory = ClusterFixture.makeDirectory("cli-stdin")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = FileManager.default.createFile(atPath: directory + "/in", contents: Data(standardInput))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try WRaftExecutable.path())
        process.arguments = arguments
        let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: directory + "/in"))
        defer { try? input.close() }
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard await CommandRunner.waitForExit(process, timeoutMs: timeoutMs) else {
            kill(process.processIdentifier, SIGKILL)
            _ = await CommandRunner.waitForExit(process, timeoutMs: 5_000)
            throw FixtureError("wraft \(arguments.joined(separator: " ")) did not finish within \(timeoutMs) ms")
        }
        return process.terminationStatus
    }
}
