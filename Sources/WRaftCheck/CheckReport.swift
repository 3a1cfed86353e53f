import Linearizability

/// Latency percentiles of successful operations of one kind, in milliseconds.
public struct LatencySummary: Sendable, Equatable {
    public var count: Int
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var maxMs: Double

    /// Exact percentiles (nearest rank) of the samples, in nanoseconds; nil when there are none.
    public init?(samplesNs: [UInt64]) {
        guard !samplesNs.isEmpty else { return nil }
        let sorted = samplesNs.sorted()
        func percentile(_ fraction: Double) -> Double {
            let rank = Int((fraction * Double(sorted.count)).rounded(.up))
            return Double(sorted[min(max(rank, 1), sorted.count) - 1]) / 1_000_000
        }
        count = sorted.count
        p50Ms = percentile(0.50)
        p90Ms = percentile(0.90)
        p99Ms = percentile(0.99)
        maxMs = Double(sorted[sorted.count - 1]) / 1_000_000
    }
}

/// A fault as it was injected.
public struct FaultRecord: Sendable, Equatable {
    /// Nanoseconds since the start of the load, as in the history.
    public var startNs: UInt64
    public var endNs: UInt64?
    /// What was done, with the nodes resolved ("kill -9 the leader (node 2)").
    public var description: String

    public init(startNs: UInt64, endNs: UInt64?, description: String) {
        self.startNs = startNs
        self.endNs = endNs
        self.description = description
    }
}

/// Whether the cluster served again after the faults were healed.
public struct RecoveryResult: Sendable, Equatable {
    public var isRecovered: Bool
    /// From healing to a write succeeding through every node.
    public var afterMs: Int?
    public var detail: String

    public init(isRecovered: Bool, afterMs: Int?, detail: String) {
        self.isRecovered = isRecovered
        self.afterMs = afterMs
        self.detail = detail
    }
}

/// The durability check: every node killed and restarted, every key read through every node.
public struct DurabilityResult: Sendable, Equatable {
    /// Every key was read through every node and all nodes agree.
    public var isConsistent: Bool
    /// The value each key holds at the end (nil: absent), when the nodes agree on it.
    public var finalValues: [String: String?]
    public var detail: String

    public init(isConsistent: Bool, finalValues: [String: String?], detail: String) {
        self.isConsistent = isConsistent
        self.finalValues = finalValues
        self.detail = detail
    }
}

/// Everything a check found; `summary` renders it and `isPassed` decides the exit status.
public struct CheckReport: Sendable {
    public var seed: UInt64?
    public var operations: [HistoryOperation]
    public var faults: [FaultRecord]
    public var verdicts: CheckResult
    /// nil for a replay (no cluster ran).
    public var recovery: RecoveryResult?
    public var durability: DurabilityResult?
    /// Where the full history was written.
    public var historyPath: String?
    /// Where the failing windows were written (only when a key is not linearizable).
    public var failureWindowPath: String?
    /// The cluster's folder, when it was kept.
    public var keptDirectory: String?
    /// The `txn-watch` workload's verdict (nil for the register workload).
    public var txnWatch: TxnWatchVerdict?
    /// The `txn-watch` workload's lease verdict (nil for the register workload).
    public var lease: LeaseVerdict?

    public init(
        seed: UInt64?, operations: [HistoryOperation], faults: [FaultRecord], verdicts: CheckResult,
        recovery: RecoveryResult? = nil, durability: DurabilityResult? = nil, historyPath: String? = nil,
        failureWindowPath: String? = nil, keptDirectory: String? = nil
    ) {
        self.seed = seed
        self.operations = operations
        self.faults = faults
        self.verdicts = verdicts
        self.recovery = recovery
        self.durability = durability
        self.historyPath = historyPath
        self.failureWindowPath = failureWindowPath
        self.keptDirectory = keptDirectory
    }

    /// True only when every key is linearizable and, for a live run, the cluster recovered and
    /// its final state is durable and consistent.
    public var isPassed: Bool {
        verdicts.isLinearizable && (recovery?.isRecovered ?? true) && (durability?.isConsistent ?? true)
            && (txnWatch?.isPassed ?? true) && (lease?.isPassed ?? true)
    }

    /// Operation counts by kind and outcome.
    public var counts: [HistoryOperation.Kind: [HistoryOperation.Outcome: Int]] {
        var result: [HistoryOperation.Kind: [HistoryOperation.Outcome: Int]] = [:]
        for operation in operations { result[operation.kind, default: [:]][operation.outcome, default: 0] += 1 }
        return result
    }

    /// Latencies of successful operations (a failed compare counts: it was answered) by kind.
    public var latencies: [HistoryOperation.Kind: LatencySummary] {
        var samples: [HistoryOperation.Kind: [UInt64]] = [:]
        for operation in operations where operation.outcome == .ok || operation.outcome == .compareFailed {
            guard let completeNs = operation.completeNs, completeNs >= operation.invokeNs else { continue }
            samples[operation.kind, default: []].append(completeNs - operation.invokeNs)
        }
        return samples.compactMapValues { LatencySummary(samplesNs: $0) }
    }

    /// The human-readable summary printed at the end of a run.
    public var summary: String {
        var lines: [String] = []
        if let seed { lines.append("wraft check, seed \(seed)") }
        lines.append(contentsOf: operationLines)
        lines.append(contentsOf: faultLines)
        lines.append(contentsOf: verdictLines)
        if let txnWatch { lines.append(contentsOf: Self.txnWatchLines(txnWatch)) }
        if let lease { lines.append(contentsOf: Self.leaseLines(lease)) }
        if let recovery {
            lines.append("recovery: " + (recovery.isRecovered ? "ok" : "FAILED") + " - \(recovery.detail)")
        }
        if let durability {
            lines.append("durability: " + (durability.isConsistent ? "ok" : "FAILED") + " - \(durability.detail)")
        }
        if let historyPath { lines.append("history: \(historyPath)  (replay: wraft check --replay \(historyPath))") }
        if let failureWindowPath { lines.append("failing windows: \(failureWindowPath)") }
        if let keptDirectory { lines.append("cluster folder kept: \(keptDirectory)") }
        lines.append(isPassed ? "PASS" : "FAIL")
        return lines.joined(separator: "\n")
    }

    private var operationLines: [String] {
        let outcomes: [HistoryOperation.Outcome] = [.ok, .compareFailed, .failed, .unknown]
        var lines = ["operations: \(operations.count)"]
        let counts = self.counts
        let latencies = self.latencies
        for kind in [HistoryOperation.Kind.read, .write, .cas] {
            let byOutcome = counts[kind] ?? [:]
            let total = byOutcome.values.reduce(0, +)
            var parts = outcomes.compactMap { outcome in byOutcome[outcome].map { "\(outcome.rawValue) \($0)" } }
            if parts.isEmpty { parts = ["none"] }
            var line = "  \(kind.rawValue): \(total) (" + parts.joined(separator: ", ") + ")"
            if let latency = latencies[kind] {
                line += "  latency ms p50 \(Self.format(latency.p50Ms)) p90 \(Self.format(latency.p90Ms)) "
                    + "p99 \(Self.format(latency.p99Ms)) max \(Self.format(latency.maxMs))"
            }
            lines.append(line)
        }
        return lines
    }

    private var faultLines: [String] {
        guard !faults.isEmpty else { return seed == nil ? [] : ["faults: none"] }
        var lines = ["faults: \(faults.count)"]
        for fault in faults {
            let end = fault.endNs.map { Self.format(Double($0) / 1e9) + " s" } ?? "end"
            lines.append("  \(Self.format(Double(fault.startNs) / 1e9)) s - \(end): \(fault.description)")
        }
        return lines
    }

    private var verdictLines: [String] {
        var lines = ["linearizability: " + (verdicts.isLinearizable ? "every key linearizable" : "NOT PROVEN")]
        for (key, verdict) in verdicts.verdicts {
            switch verdict {
            case .linearizable:
                lines.append("  \(key): linearizable")
            case .unknown(let why):
                lines.append("  \(key): unknown (\(why))")
            case .notLinearizable(let window):
                let start = window.startsFromAnyValue ? ", starting from any value" : ""
                lines.append("  \(key): NOT LINEARIZABLE; smallest failing window (\(window.operations.count) ops\(start)):")
                lines.append(contentsOf: window.operations.map { "    " + $0.summary })
                lines.append("    cannot be explained once \(window.lastOperation.summary) completes")
            }
        }
        return lines
    }

    static func txnWatchLines(_ verdict: TxnWatchVerdict) -> [String] {
        var lines = [
            "transactions: \(verdict.acknowledgedCount) acknowledged, \(verdict.compareFailedCount) compare-failed, "
                + "\(verdict.unknownApplied) unacknowledged but applied; \(verdict.eventCount) revisions in the event stream",
            "watchers: \(verdict.watcherCount), \(verdict.reconnects) reconnects",
            "txn-watch: " + (verdict.isPassed
                ? "every watcher saw every revision in order once; every acknowledged write is in the stream; the CAS chains are linearizable"
                : "FAILED"),
        ]
        lines += verdict.problems.map { "  " + $0 }
        return lines
    }

    static func leaseLines(_ verdict: LeaseVerdict) -> [String] {
        let latest = verdict.latestExpiryAfterTTLMs.map { ", at most \($0) ms after grant + TTL" } ?? ""
        var lines = [
            "leases: \(verdict.keptCount) kept, \(verdict.lapsingCount) lapsing (\(verdict.expiredCount) seen expiring\(latest))",
            "lease: " + (verdict.isPassed
                ? "every kept lease's key outlived the faults; every lapsing lease expired within its bounds"
                : "FAILED"),
        ]
        lines += verdict.problems.map { "  " + $0 }
        lines += verdict.notes.map { "  note: " + $0 }
        return lines
    }

    static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
