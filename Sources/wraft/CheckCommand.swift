import ArgumentParser
import Foundation
import Linearizability
import WRaftAPI
import WRaftCheck
import WRaftClient
import WRaftLauncher

extension NemesisKind: ExpressibleByArgument {}
extension CheckWorkload: ExpressibleByArgument {}

/// `--nemesis kill,pause,partition,drop`: a comma-separated list, or `none`.
struct NemesisList: ExpressibleByArgument, Sendable {
    let kinds: [NemesisKind]

    init(kinds: [NemesisKind]) {
        self.kinds = kinds
    }

    init?(argument: String) {
        if argument == "none" {
            kinds = []
            return
        }
        var kinds: [NemesisKind] = []
        for name in argument.split(separator: ",") {
            guard let kind = NemesisKind(rawValue: name.trimmingCharacters(in: .whitespaces)) else { return nil }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        guard !kinds.isEmpty else { return nil }
        self.kinds = kinds
    }

    var defaultValueDescription: String { kinds.map(\.rawValue).joined(separator: ",") }
}

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Jepsen-style check: clients and faults against a local cluster, then a linearizability check.",
        discussion: """
            Starts a local cluster of real node processes in a temporary folder, runs concurrent \
            clients doing reads, unique writes and compare-and-sets over a few keys through random \
            members while a nemesis injects faults (kill -9 and restart, SIGSTOP/SIGCONT, \
            partitions, message drop and delay), heals, checks that the cluster recovers, that \
            every node restarted serves the final values, and that the recorded history is \
            linearizable per key. Prints a summary; writes the history (JSON lines) for --replay. \
            Exits 0 only when every check passes. The same seed replays the same workload and \
            fault schedule.
            Nemeses: \(NemesisKind.allCases.map(\.rawValue).joined(separator: ", ")) (or none).
            Examples:
              wraft check --nodes 3 --duration 60s --nemesis kill,pause,partition,drop --seed 7
              wraft check --duration 20s --consistency local      (stale reads: must FAIL)
              wraft check --workload txn-watch --duration 30s --nemesis kill,pause,partition
              wraft check --replay /tmp/wraft-check-7-.../history.jsonl
            """)

    @Option(help: "The number of nodes (\(LocalCluster.Options.nodeCountRange)).") var nodes: Int = 3
    @Option(help: "How long clients and nemesis run (e.g. 30s, 2m).") var duration = DurationArgument(milliseconds: 60_000)
    @Option(help: "Faults to inject, comma-separated, or none.")
    var nemesis = NemesisList(kinds: NemesisKind.allCases)
    @Option(help: "Seed of the workload, the fault schedule and the connect order (default: random, printed).")
    var seed: UInt64?
    @Option(help: "Concurrent clients (\(CheckOptions.clientCountRange)).") var clients: Int = 10
    @Option(help: "Keys the clients share (\(CheckOptions.keyCountRange)).") var keys: Int = 5
    @Option(help: "How clients read: linearizable, or local (may be stale: the check must then fail).")
    var consistency: ReadConsistency = .linearizable
    @Option(help: "The deadline each request gives the node, in milliseconds.") var requestTimeoutMs: Int = 2_000
    @Option(help: "The cluster's folder (default: a new temporary folder).") var dir: String?
    @Flag(help: "Keep the cluster's folder even when the check passes.") var keep = false
    @Option(help: "Where to write the history (default: history.jsonl in the cluster's folder).") var history: String?
    @Option(help: "Election timeout of every node, in milliseconds.") var electionTimeoutMs: Int?
    @Option(help: "Heartbeat interval of every node, in milliseconds.") var heartbeatMs: Int?
    @Option(help: "Check a history file written by an earlier run instead of running.") var replay: String?
    @Option(help: "What the clients do: register (reads, writes, compare-and-sets of single keys) or txn-watch (compare-and-swap transactions and watchers of their prefix).")
    var workload: CheckWorkload = .register
    @Option(help: "txn-watch: watchers following the keys' prefix (\(CheckOptions.watcherCountRange)), watcher i starting on node i.")
    var watchers: Int = 3
    @Flag(help: "Run the cluster's raft ports in plaintext (default: mutual TLS with certificates made in the cluster's folder).")
    var insecure = false

    func validate() throws {
        do {
            try makeOptions(seed: seed ?? 1).validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func makeOptions(seed: UInt64) -> CheckOptions {
        var options = CheckOptions(executablePath: SelfExecutable.path)
        options.nodeCount = nodes
        options.durationMs = duration.milliseconds
        options.nemeses = nemesis.kinds
        options.seed = seed
        options.clientCount = clients
        options.keyCount = keys
        options.readConsistency = consistency
        options.requestTimeoutMs = requestTimeoutMs
        options.directory = dir
        options.keepsDirectory = keep
        options.historyPath = history
        options.electionTimeoutMs = electionTimeoutMs
        options.heartbeatMs = heartbeatMs
        options.isPeerTLSEnabled = !insecure
        options.workload = workload
        options.watcherCount = watchers
        return options
    }

    func run() async throws {
        let report: CheckReport
        if let replay {
            do {
                report = try WRaftCheck.replay(file: replay)
            } catch {
                throw CLIError("\(error)")
            }
        } else {
            let seed = self.seed ?? UInt64.random(in: 1...999_999)
            do {
                report = try await runCheck(makeOptions(seed: seed)) { line in
                    print(line)
                    fflush(nil)
                }
            } catch {
                throw CLIError("\(error)")
            }
        }
        print(report.summary)
        if !report.isPassed { throw ExitCode(1) }
    }
}
