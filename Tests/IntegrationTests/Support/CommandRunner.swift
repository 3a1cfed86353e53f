import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the `wraft` executable as a user would, bounded in time.
enum CommandRunner {
    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs `wraft arguments...`, killing it after `timeoutMs`; output goes through files, so
    /// a chatty command never blocks on a full pipe.
    static func run(
        _ arguments: [String], timeoutMs: Int = 30_000, environment: [String: String]? = nil
    ) async throws -> Outcome {
        let directory = ClusterFixture.makeDirectory("command")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outputPath = directory + "/stdout"
        let errorPath = directory + "/stderr"
        let process = try start(
            arguments, standardOutputPath: outputPath, standardErrorPath: errorPath, environment: environment)
        let finished = await waitForExit(process, timeoutMs: timeoutMs)
        if !finished {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitForExit(process, timeoutMs: 5_000)
            throw FixtureError("wraft \(arguments.joined(separator: " ")) did not finish within \(timeoutMs) ms")
        }
        return Outcome(
            status: process.terminationStatus,
            standardOutput: (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
    }

    /// Starts `wraft arguments...` with its output in the given files.
    /// `environment` entries are added to (or replace) this process's environment.
    static func start(
        _ arguments: [String], standardOutputPath: String, standardErrorPath: String,
        environment: [String: String]? = nil
    ) throws -> Process {
        try startProgram(
            try WRaftExecutable.path(), arguments, standardOutputPath: standardOutputPath,
            standardErrorPath: standardErrorPath, environment: environment)
    }

    /// Starts the program at `executablePath` with `arguments`, its output in the given files.
    static func startProgram(
        _ executablePath: String, _ arguments: [String], standardOutputPath: String, standardErrorPath: String,
        environment: [String: String]? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        _ = FileManager.default.createFile(atPath: standardOutputPath, contents: nil)
        _ = FileManager.default.createFile(atPath: standardErrorPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: standardOutputPath))
        let error = try FileHandle(forWritingTo: URL(fileURLWithPath: standardErrorPath))
        defer {
            try? output.close()
            try? error.close()
        }
        process.standardOutput = output
        process.standardError = error
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `wraft arguments...` inside the network namespace `namespace` (`ip netns exec`).
    static func runInNamespace(_ namespace: String, _ arguments: [String], timeoutMs: Int = 30_000) async throws -> Outcome {
        let directory = ClusterFixture.makeDirectory("command")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try startInNamespace(namespace, arguments, logPath: directory + "/stdout", errorPath: directory + "/stderr")
        guard await waitForExit(process, timeoutMs: timeoutMs) else {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitForExit(process, timeoutMs: 5_000)
            throw FixtureError("wraft \(arguments.joined(separator: " ")) in \(namespace) did not finish within \(timeoutMs) ms")
        }
        return Outcome(
            status: process.terminationStatus,
            standardOutput: (try? String(contentsOfFile: directory + "/stdout", encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: directory + "/stderr", encoding: .utf8)) ?? "")
    }

    /// Starts `wraft arguments...` inside the network namespace `namespace`; `ip netns exec`
    /// execs the program, so the process's pid is wraft's own.
    static func startInNamespace(
        _ namespace: String, _ arguments: [String], logPath: String, errorPath: String? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace, try WRaftExecutable.path()] + arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? output.close() }
        process.standardOutput = output
        if let errorPath {
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            let error = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
            defer { try? error.close() }
            process.standardError = error
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } else {
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }
        return process
    }

    /// Waits up to `timeoutMs` for the process to exit; returns whether it did.
    static func waitForExit(_ process: Process, timeoutMs: Int) async -> Bool {
        await eventually(timeoutMs: timeoutMs, pollMs: 20) { !process.isRunning }
    }
}
