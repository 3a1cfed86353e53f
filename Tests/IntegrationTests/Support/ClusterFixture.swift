import Foundation
import Testing
import WRaftAPI
import WRaftClient
import WRaftLauncher

/// The built `wraft` executable the tests launch.
enum WRaftExecutable {
    /// `WRAFT_EXECUTABLE` if set, else `wraft` next to the test bundle, else `.build/debug/wraft`.
    static func path() throws -> String {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["WRAFT_EXECUTABLE"] { candidates.append(explicit) }
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        candidates.append(bundleDirectory.appendingPathComponent("wraft").path)
        candidates.append(URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent().appendingPathComponent("wraft").path)
        candidates.append(FileManager.default.currentDirectoryPath + "/.build/debug/wraft")
        if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return found
        }
        throw FixtureError(
            "the wraft executable was not found (looked at \(candidates.joined(separator: ", "))); "
                + "build it with `swift build --build-tests` or set WRAFT_EXECUTABLE")
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starting, using and always stopping a local cluster in a test.
enum ClusterFixture {
    /// A fresh folder for one test's data dirs and logs.
    static func makeDirectory(_ name: String) -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("wraft-it-\(name)-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func options(nodes: Int, name: String, seed: UInt64? = nil) throws -> LocalCluster.Options {
        var options = LocalCluster.Options(
            executablePath: try WRaftExecutable.path(), nodeCount: nodes, directory: makeDirectory(name))
        options.connectOrderSeed = seed
        options.enableFaults = true
        options.logLevel = "info"
        return options
    }

    /// Runs `body` with a started cluster (formed, leader elected); stops every node on every
    /// path. The folder is removed after success and kept (its path printed, with the nodes'
    /// log tails) after a failure.
    static func withCluster(
        nodes: Int, name: String, seed: UInt64? = nil, configure: (inout LocalCluster.Options) -> Void = { _ in },
        _ body: (LocalCluster) async throws -> Void
    ) async throws {
        var options = try options(nodes: nodes, name: name, seed: seed)
        configure(&options)
        try await withLaunched(options, form: true, body)
    }

    /// As `withCluster`, with any launch: `form` false leaves the nodes `initial`.
    static func withLaunched(
        _ options: LocalCluster.Options, form: Bool, _ body: (LocalCluster) async throws -> Void
    ) async throws {
        let cluster = try LocalCluster(options: options)
        do {
            try await cluster.launch()
            if form {
                try await cluster.form()
                _ = try await cluster.waitForLeader()
            }
            try await body(cluster)
        } catch {
            await cluster.stopAll()
            await printDiagnostics(cluster, error: error)
            throw error
        }
        await cluster.stopAll()
        try? FileManager.default.removeItem(atPath: options.directory)
    }

    static func printDiagnostics(_ cluster: LocalCluster, error: any Error) async {
        print("cluster test failed: \(error)\nfolder kept: \(cluster.options.directory)")
        for node in await cluster.nodes {
            print("--- node \(node.index) log tail ---\n\(await cluster.logTail(node.index, bytesMax: 1_500))")
        }
    }
}

/// Polls `condition` every `pollMs` until it holds or `timeoutMs` passes; returns whether it held.
func eventually(
    timeoutMs: Int, pollMs: Int = 50, isolation: isolated (any Actor)? = #isolation, _ condition: () async -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
    repeat {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(pollMs))
    } while ContinuousClock.now < deadline
    return await condition()
}

extension LocalCluster {
    /// The client of the current leader (after waiting for one).
    func leaderClient(timeoutMs: Int? = nil) async throws -> (index: Int, client: NodeClient) {
        let index = try await waitForLeader(timeoutMs: timeoutMs)
        return (index, try client(index))
    }

    /// The states of the given nodes (default all running), failing on any error.
    func states(_ indexes: [Int]? = nil) async throws -> [Int: NodeStateView] {
        var states: [Int: NodeStateView] = [:]
        for index in indexes ?? runningIndexes {
            states[index] = try await client(index).state(timeoutMs: 2_000)
        }
        return states
    }

    /// Waits until every given node has applied at least `index`.
    func waitForApplied(_ index: UInt64, on indexes: [Int]? = nil, timeoutMs: Int = 10_000) async -> Bool {
        let targets = indexes ?? runningIndexes
        return await eventually(timeoutMs: timeoutMs) {
            for target in targets {
                guard let client = try? self.client(target),
                    let state = try? await client.state(timeoutMs: 1_000), state.appliedIndex >= index
                else { return false }
            }
            return true
        }
    }
}
