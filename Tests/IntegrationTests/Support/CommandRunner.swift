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
    static func run(_ arguments: [String], timeoutMs: Int = 30_000) async throws -> Outcome {
        let directory = ClusterFixture.makeDirectory("command")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let outputPath = directory + "/stdout"
        let errorPath = directory + "/stderr"
        let process = try start(arguments, standardOutputPath: outputPath, standardErrorPath: errorPath)
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
    static func start(_ arguments: [String], standardOutputPath: String, standardErrorPath: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try WRaftExecutable.path())
        process.arguments = arguments
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

    /// Waits up to `timeoutMs` for the process to exit; returns whether it did.
    static func waitForExit(_ process: Process, timeoutMs: Int) async -> Bool {
        await eventually(timeoutMs: timeoutMs, pollMs: 20) { !process.isRunning }
    }
}
