import Linearizability

/// One compare-and-swap transaction of the `txn-watch` workload: `if mod_revision(key) ==
/// expectedModRevision then put key=value (or delete key) else range key`.
public struct CASOperation: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case put, delete
    }

    public var id: Int
    public var process: Int
    public var key: String
    public var kind: Kind
    /// put: the value written (unique in the run); delete: nil.
    public var value: String?
    /// The mod revision the key must have (0: the key must be absent).
    public var expectedModRevision: UInt64
    /// Nanoseconds since the run's start.
    public var invokeNs: UInt64
    public var completeNs: UInt64?
    /// `.ok`: the compare held and the write applied; `.compareFailed`: it did not;
    /// `.failed`: it certainly did not apply; `.unknown`: it may have.
    public var outcome: HistoryOperation.Outcome
    /// `.ok`: the revision the transaction wrote; `.compareFailed`: the revision it read at.
    public var revision: UInt64?
    /// `.compareFailed`: the key's mod revision the failure branch read (0: absent).
    public var observedModRevision: UInt64?

    public init(
        id: Int, process: Int, key: String, kind: Kind, value: String?, expectedModRevision: UInt64, invokeNs: UInt64,
        completeNs: UInt64? = nil, outcome: HistoryOperation.Outcome = .unknown, revision: UInt64? = nil,
        observedModRevision: UInt64? = nil
    ) {
        self.id = id
        self.process = process
        self.key = key
        self.kind = kind
        self.value = value
        self.expectedModRevision = expectedModRevision
        self.invokeNs = invokeNs
        self.completeNs = completeNs
        self.outcome = outcome
        self.revision = revision
        self.observedModRevision = observedModRevision
    }
}

/// One event a watcher received.
public struct WatchedEvent: Sendable, Equatable {
    public var revision: UInt64
    public var key: String
    public var isPut: Bool
    /// A put's value; empty for a delete.
    public var value: String

    public init(revision: UInt64, key: String, isPut: Bool, value: String) {
        self.revision = revision
        self.key = key
        self.isPut = isPut
        self.value = value
    }
}

/// Everything one watcher received, across its reconnects, in the order it received it.
public struct WatcherLog: Sendable, Equatable {
    public var watcher: Int
    /// The revision its first connection started from.
    public var fromRevision: UInt64
    public var events: [WatchedEvent]
    /// The highest revision the watcher knows it has seen everything through (its last event
    /// or a later progress notification).
    public var seenThrough: UInt64
    public var connections: Int
    /// Why the watcher could not go on (a compacted resume, say); nil when it followed to the end.
    public var failure: String?
    /// When each event was received (nanoseconds since the run's start), parallel to `events`;
    /// empty when the watcher does not record times.
    public var receivedNs: [UInt64] = []

    public init(
        watcher: Int, fromRevision: UInt64, events: [WatchedEvent] = [], seenThrough: UInt64 = 0, connections: Int = 0,
        failure: String? = nil
    ) {
        self.watcher = watcher
        self.fromRevision = fromRevision
        self.events = events
        self.seenThrough = seenThrough
        self.connections = connections
        self.failure = failure
    }
}

/// What `TxnWatchChecker` found.
public struct TxnWatchVerdict: Sendable, Equatable {
    /// Every violation found (at most `TxnWatchChecker.problemsMax`, then a count).
    public var problems: [String]
    /// The writes the watchers agree happened (the ground truth), in revision order.
    public var eventCount: Int
    public var acknowledgedCount: Int
    public var compareFailedCount: Int
    public var unknownApplied: Int
    public var watcherCount: Int
    public var reconnects: Int

    public var isPassed: Bool { problems.isEmpty }
}

/// The checks of `wraft check --workload txn-watch` (issue 12), on a finished run's record:
///
/// - Each watcher: revisions strictly ascending (in order, each at most once); from its start
///   to the revision it saw through, every revision any watcher saw (no gap, across reconnects);
///   the same events for the same revision as every other watcher.
/// - Every acknowledged write is in the event stream at its revision, with its value; every
///   event is explained by a transaction that was invoked and not known to have failed.
/// - The transactions are linearizable in revision order: each applied one found the key at
///   the mod revision it compared (its predecessor in the stream), each failed compare read the
///   state at its revision, and the order agrees with real time (an operation that completed
///   before another began has the smaller revision).
public enum TxnWatchChecker {
    public static let problemsMax = 25

    public static func check(operations: [CASOperation], watchers: [WatcherLog], finalRevision: UInt64?) -> TxnWatchVerdict {
        var problems = Problems()
        let truth = groundTruth(watchers, finalRevision: finalRevision, problems: &problems)
        let eventsByKey = Dictionary(grouping: truth.values.sorted { $0.revision < $1.revision }, by: \.key)
        let applied = attribute(operations: operations, truth: truth, eventsByKey: eventsByKey, problems: &problems)
        checkCompares(operations: operations, eventsByKey: eventsByKey, applied: applied, problems: &problems)
        checkRealTime(operations: operations, applied: applied, problems: &problems)
        return TxnWatchVerdict(
            problems: problems.list, eventCount: truth.count,
            acknowledgedCount: operations.filter { $0.outcome == .ok }.count,
            compareFailedCount: operations.filter { $0.outcome == .compareFailed }.count,
            unknownApplied: operations.filter { $0.outcome == .unknown && applied[$0.id] != nil }.count,
            watcherCount: watchers.count, reconnects: watchers.reduce(0) { $0 + max($1.connections - 1, 0) })
    }

    struct Problems {
        var list: [String] = []
        var dropped = 0

        mutating func add(_ problem: String) {
            if list.count < TxnWatchChecker.problemsMax {
                list.append(problem)
            } else {
                dropped += 1
                if list.count == TxnWatchChecker.problemsMax { list.append("(more problems left out)") }
            }
        }
    }

    /// The union of the watchers' events by revision, after checking each watcher's order and
    /// that they agree; then that each watcher saw every revision in its span.
    static func groundTruth(_ watchers: [WatcherLog], finalRevision: UInt64?, problems: inout Problems) -> [UInt64: WatchedEvent] {
        var truth: [UInt64: WatchedEvent] = [:]
        for log in watchers {
            if let failure = log.failure { problems.add("watcher \(log.watcher): \(failure)") }
            var previous: UInt64 = 0
            for event in log.events {
                if event.revision <= previous {
                    problems.add("watcher \(log.watcher): revision \(event.revision) after \(previous) (out of order or repeated)")
                }
                if event.revision < log.fromRevision {
                    problems.add("watcher \(log.watcher): revision \(event.revision) before its start \(log.fromRevision)")
                }
                previous = max(previous, event.revision)
                if let known = truth[event.revision] {
                    if known != event {
                        problems.add("watcher \(log.watcher): revision \(event.revision) is \(describe(event)); another watcher saw \(describe(known))")
                    }
                } else {
                    truth[event.revision] = event
                }
            }
            if let finalRevision, log.seenThrough < finalRevision {
                problems.add("watcher \(log.watcher): saw through revision \(log.seenThrough), not the final \(finalRevision)")
            }
        }
        for log in watchers {
            let seen = Set(log.events.map(\.revision))
            let through = max(log.seenThrough, log.events.last?.revision ?? 0)
            let missed = truth.keys.filter { $0 >= log.fromRevision && $0 <= through && !seen.contains($0) }.sorted()
            if let first = missed.first, let event = truth[first] {
                problems.add("watcher \(log.watcher): missed \(missed.count) revision(s) it saw past, first \(first) (\(describe(event)))")
            }
        }
        return truth
    }

    /// Which event each applied operation made (by revision); every acknowledged write must have
    /// one, and every event must be some operation's.
    static func attribute(
        operations: [CASOperation], truth: [UInt64: WatchedEvent], eventsByKey: [String: [WatchedEvent]],
        problems: inout Problems
    ) -> [Int: UInt64] {
        var applied: [Int: UInt64] = [:]
        var putsByValue: [String: CASOperation] = [:]
        for operation in operations where operation.kind == .put {
            if let value = operation.value { putsByValue[value] = operation }
        }
        // Acknowledged writes: their event, at their revision.
        for operation in operations where operation.outcome == .ok {
            guard let revision = operation.revision else {
                problems.add("operation \(operation.id): acknowledged without a revision")
                continue
            }
            guard let event = truth[revision] else {
                problems.add("operation \(operation.id) (\(describe(operation))): acknowledged at revision \(revision), which no watcher saw")
                continue
            }
            let matches = event.key == operation.key && event.isPut == (operation.kind == .put)
                && (operation.kind == .delete || event.value == operation.value)
            if !matches {
                problems.add("operation \(operation.id) (\(describe(operation))): acknowledged at revision \(revision), but the stream has \(describe(event))")
            }
            applied[operation.id] = revision
        }
        // Every event: a put by its unique value, a delete by its key and compared revision.
        var claimed = Set(applied.values)
        for (key, events) in eventsByKey {
            var previousModRevision: UInt64 = 0
            for event in events {
                defer { previousModRevision = event.isPut ? event.revision : 0 }
                if claimed.contains(event.revision) { continue }
                let candidate: CASOperation?
                if event.isPut {
                    candidate = putsByValue[event.value].flatMap { $0.key == key ? $0 : nil }
                } else {
                    candidate = operations.first {
                        $0.kind == .delete && $0.key == key && $0.outcome == .unknown && applied[$0.id] == nil
                            && $0.expectedModRevision == previousModRevision
                    }
                }
                guard let operation = candidate else {
                    problems.add("revision \(event.revision) (\(describe(event))) is no client's write")
                    continue
                }
                if operation.outcome == .failed || operation.outcome == .compareFailed {
                    problems.add("revision \(event.revision) (\(describe(event))) was written by operation \(operation.id), which was answered \(operation.outcome.rawValue)")
                }
                if let earlier = applied[operation.id], earlier != event.revision {
                    problems.add("operation \(operation.id) applied twice: revisions \(earlier) and \(event.revision)")
                }
                applied[operation.id] = event.revision
                claimed.insert(event.revision)
            }
        }
        return applied
    }

    /// Each applied transaction found its compared mod revision; each failed compare read the
    /// state as of its revision.
    static func checkCompares(
        operations: [CASOperation], eventsByKey: [String: [WatchedEvent]], applied: [Int: UInt64], problems: inout Problems
    ) {
        /// The key's mod revision just before `revision` (0: absent).
        func modRevision(of key: String, before revision: UInt64) -> UInt64 {
            guard let last = (eventsByKey[key] ?? []).last(where: { $0.revision < revision }) else { return 0 }
            return last.isPut ? last.revision : 0
        }
        for operation in operations {
            if let revision = applied[operation.id] {
                let found = modRevision(of: operation.key, before: revision)
                if found != operation.expectedModRevision {
                    problems.add("operation \(operation.id) (\(describe(operation))) applied at revision \(revision), but the key's mod revision before it was \(found)")
                }
            } else if operation.outcome == .compareFailed, let revision = operation.revision {
                let found = modRevision(of: operation.key, before: revision + 1)
                if found == operation.expectedModRevision {
                    problems.add("operation \(operation.id) (\(describe(operation))) failed its compare at revision \(revision), where the key's mod revision was the expected \(found)")
                }
                if let observed = operation.observedModRevision, observed != found {
                    problems.add("operation \(operation.id) read mod revision \(observed) at revision \(revision); the stream says \(found)")
                }
            }
        }
    }

    /// Real time: if `a` completed before `b` was invoked, `a`'s place in the revision order is
    /// before `b`'s (a write's place is its revision; a failed compare's the revision it read).
    static func checkRealTime(operations: [CASOperation], applied: [Int: UInt64], problems: inout Problems) {
        struct Placed {
            var operation: CASOperation
            var revision: UInt64
            var isWrite: Bool
        }
        let placed: [Placed] = operations.compactMap { operation in
            if let revision = applied[operation.id] { return Placed(operation: operation, revision: revision, isWrite: true) }
            if operation.outcome == .compareFailed, let revision = operation.revision {
                return Placed(operation: operation, revision: revision, isWrite: false)
            }
            return nil
        }
        // Completed ones by completion time, with the running maximum of their places.
        let completed: [(completeNs: UInt64, entry: Placed)] = placed.compactMap { entry in
            guard entry.operation.outcome != .unknown, let completeNs = entry.operation.completeNs else { return nil }
            return (completeNs, entry)
        }.sorted { $0.completeNs < $1.completeNs }
        var prefixMax: [(revision: UInt64, operation: CASOperation)] = []
        for (_, entry) in completed {
            if let last = prefixMax.last, last.revision >= entry.revision {
                prefixMax.append(last)
            } else {
                prefixMax.append((entry.revision, entry.operation))
            }
        }
        for entry in placed {
            // The completed operations before this one's invocation.
            var low = 0
            var high = completed.count
            while low < high {
                let middle = (low + high) / 2
                if completed[middle].completeNs < entry.operation.invokeNs { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { continue }
            let before = prefixMax[low - 1]
            // A write must be above everything before it; a read may share the revision of
            // what came before (it saw that state).
            let violates = entry.isWrite ? before.revision >= entry.revision : before.revision > entry.revision
            if violates {
                problems.add("real time: operation \(before.operation.id) (\(describe(before.operation))) at revision \(before.revision) completed before operation \(entry.operation.id) (\(describe(entry.operation))) began, which is at revision \(entry.revision)")
            }
        }
    }

    static func describe(_ event: WatchedEvent) -> String {
        event.isPut ? "put \(event.key)=\(event.value)" : "delete \(event.key)"
    }

    static func describe(_ operation: CASOperation) -> String {
        let write = operation.kind == .put ? "put \(operation.key)=\(operation.value ?? "")" : "delete \(operation.key)"
        return "if mod(\(operation.key)) == \(operation.expectedModRevision) then \(write), \(operation.outcome.rawValue)"
    }
}
