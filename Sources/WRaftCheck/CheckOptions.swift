import Linearizability
import WRaftAPI
import WRaftClient
import WRaftLauncher

/// The faults a `wraft check` nemesis can inject.
public enum NemesisKind: String, Sendable, CaseIterable, Codable {
    /// `kill -9` of the leader or of a random minority, restarted later on the same data dir.
    case kill
    /// SIGSTOP of the leader or of a random minority (a frozen process), SIGCONT later.
    case pause
    /// Network partitions through `/op/isolate`: the leader cut from the majority, a random
    /// minority cut off, or a bridge (two halves that only one node connects).
    case partition
    /// `/op/drop`: a fraction of outgoing raft messages lost, on some nodes.
    case drop
    /// `/op/delay`: outgoing raft messages delayed, on some nodes.
    case delay
}

/// What the clients of `wraft check` do.
public enum CheckWorkload: String, Sendable, CaseIterable {
    /// Reads, unique writes and compare-and-sets on single keys (the HTTP key API), checked for
    /// linearizability per key.
    case register
    /// Compare-and-swap transactions (`POST /txn` on `mod_revision`) over a few keys, and
    /// watchers (`GET /watch`, on followers too) following their prefix through the faults:
    /// checked by `TxnWatchChecker` (issue 12).
    case txnWatch = "txn-watch"
}

/// Why a check could not run (its verdicts are in `CheckReport`, never thrown).
public enum CheckError: Error, Sendable, CustomStringConvertible {
    case invalidOptions(String)
    /// The cluster could not be started or driven.
    case cluster(LocalClusterError)
    /// The history file could not be written or read.
    case historyFile(String)

    public var description: String {
        switch self {
        case .invalidOptions(let why): return "invalid check options: \(why)"
        case .cluster(let error): return "cluster: \(error)"
        case .historyFile(let why): return "history file: \(why)"
        }
    }
}

/// What `runCheck` does: the cluster, the load, the faults and the bounds. Every bound has a
/// default and is checked by `validate()`.
public struct CheckOptions: Sendable {
    /// The `wraft` executable that serves the nodes.
    public var executablePath: String
    public var nodeCount: Int = 3
    /// How long the load and the nemesis run.
    public var durationMs: Int = 60_000
    public var nemeses: [NemesisKind] = NemesisKind.allCases
    /// Seeds the workload, the nemesis schedule and the cluster's connect order.
    public var seed: UInt64 = 1
    /// Concurrent clients, each running one operation at a time.
    public var clientCount: Int = 10
    /// The number of keys (registers) the clients share.
    public var keyCount: Int = 5
    /// How clients read: `.local` may be stale, and the checker must then catch it.
    public var readConsistency: ReadConsistency = .linearizable
    /// The deadline a node gets for each request (`?timeoutMs=`); the client waits a little longer.
    public var requestTimeoutMs: Int = 2_000
    /// A client's pause between two operations, at most (drawn uniformly from 0...this).
    public var thinkTimeMsMax: Int = 10
    /// Quiet time before the first fault and between two faults.
    public var nemesisIntervalMs: Int = 2_000
    /// How long one fault lasts, drawn from this range.
    public var faultDurationMs: ClosedRange<Int> = 1_000...4_000
    /// After healing: bound on the cluster electing a leader and taking a write through every
    /// node; also the bound on each step of the durability check.
    public var recoveryTimeoutMs: Int = 15_000
    /// The cluster's folder; nil: a new temporary folder.
    public var directory: String?
    /// Keep the cluster's folder even when the check passes (it is always kept on failure).
    public var keepsDirectory: Bool = false
    /// Where the history (JSON lines) is written; nil: `history.jsonl` in the cluster's folder.
    public var historyPath: String?
    /// Bounds on the linearizability checker.
    public var checkLimits = CheckLimits()
    /// Passed to every node when set.
    public var electionTimeoutMs: Int?
    public var heartbeatMs: Int?
    /// Mutual TLS between the cluster's members (`LocalCluster.Options.isPeerTLSEnabled`).
    public var isPeerTLSEnabled: Bool = true
    public var workload: CheckWorkload = .register
    /// `txn-watch`: watchers following the keys' prefix, watcher `i` starting on node `i`.
    public var watcherCount: Int = 3

    /// The bounds `validate()` enforces.
    public static let clientCountRange = 1...256
    public static let keyCountRange = 1...1_000
    public static let durationMsRange = 1_000...(24 * 3_600_000)
    public static let watcherCountRange = 1...64

    public init(executablePath: String) {
        self.executablePath = executablePath
    }

    public func validate() throws(CheckError) {
        guard LocalCluster.Options.nodeCountRange.contains(nodeCount) else {
            throw .invalidOptions("nodes must be in \(LocalCluster.Options.nodeCountRange)")
        }
        guard Self.durationMsRange.contains(durationMs) else {
            throw .invalidOptions("duration must be in \(Self.durationMsRange) ms")
        }
        guard Self.clientCountRange.contains(clientCount) else {
            throw .invalidOptions("clients must be in \(Self.clientCountRange)")
        }
        guard Self.keyCountRange.contains(keyCount) else { throw .invalidOptions("keys must be in \(Self.keyCountRange)") }
        guard Self.watcherCountRange.contains(watcherCount) else {
            throw .invalidOptions("watchers must be in \(Self.watcherCountRange)")
        }
        guard requestTimeoutMs > 0, thinkTimeMsMax >= 0, nemesisIntervalMs > 0, recoveryTimeoutMs > 0 else {
            throw .invalidOptions("timeouts and intervals must be positive")
        }
        guard faultDurationMs.lowerBound > 0 else { throw .invalidOptions("fault durations must be positive") }
        if nemeses.contains(.partition) && nodeCount < 3 {
            throw .invalidOptions("partitions need at least 3 nodes")
        }
    }

    /// The keys the clients use (`txn-watch`: under `TxnWatchWorkload.prefix`).
    public var keys: [String] {
        let prefix = workload == .txnWatch ? TxnWatchWorkload.prefix : ""
        return (0..<keyCount).map { "\(prefix)k\($0)" }
    }
}
