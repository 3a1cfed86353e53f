/// Bounds on the checker's work. Reaching one turns that key's verdict into `.unknown` instead
/// of letting a hard history hang the check or exhaust memory.
public struct CheckLimits: Sendable, Equatable {
    /// The most search steps for one key (across the check and the window minimization).
    public var stepsPerKeyMax: Int
    /// The most memoized (linearized set, state) pairs held at once for one search.
    public var cacheEntriesMax: Int
    /// Wall-clock time allowed per key, in milliseconds (nil: no time limit, deterministic).
    public var timePerKeyMs: Int?
    /// Windows longer than this are reported without trying to drop observers one by one.
    public var observerPruningOperationsMax: Int

    public init(
        stepsPerKeyMax: Int = 50_000_000, cacheEntriesMax: Int = 4_000_000, timePerKeyMs: Int? = 60_000,
        observerPruningOperationsMax: Int = 200
    ) {
        self.stepsPerKeyMax = stepsPerKeyMax
        self.cacheEntriesMax = cacheEntriesMax
        self.timePerKeyMs = timePerKeyMs
        self.observerPruningOperationsMax = observerPruningOperationsMax
    }
}

/// The smallest part of a key's history found that cannot be linearized: the operations, and
/// the one whose completion could not be explained (the end of the shortest failing prefix).
public struct FailureWindow: Sendable, Equatable {
    /// The window's operations in invocation order. Completed operations after the window's end
    /// are left out; those in flight at its end are treated as unknown.
    public var operations: [HistoryOperation]
    /// The operation whose completion ends the shortest non-linearizable prefix of the history.
    public var lastOperation: HistoryOperation
    /// Whether the window starts from an arbitrary register value (earlier operations cut off at
    /// a quiescent point) rather than from the absent key. Either way the window proves the
    /// history is not linearizable (given that each value is written once, as checks do).
    public var startsFromAnyValue: Bool
}

/// The verdict on one key's history.
public enum KeyVerdict: Sendable, Equatable {
    case linearizable
    case notLinearizable(FailureWindow)
    /// The checker gave up (budget reached, or a malformed operation); says why.
    case unknown(String)
}

/// The verdicts on a whole history, key by key.
public struct CheckResult: Sendable, Equatable {
    /// Verdicts in ascending key order.
    public var verdicts: [(key: String, verdict: KeyVerdict)]

    public static func == (lhs: CheckResult, rhs: CheckResult) -> Bool {
        lhs.verdicts.elementsEqual(rhs.verdicts) { $0.key == $1.key && $0.verdict == $1.verdict }
    }

    /// True when every key is linearizable.
    public var isLinearizable: Bool {
        verdicts.allSatisfy { $0.verdict == .linearizable }
    }

    /// True when some key is definitely not linearizable.
    public var hasViolation: Bool {
        verdicts.contains { if case .notLinearizable = $0.verdict { true } else { false } }
    }

    public func verdict(for key: String) -> KeyVerdict? {
        verdicts.first { $0.key == key }?.verdict
    }
}

/// Checks histories of register operations for linearizability, key by key (a store of
/// independent registers is linearizable exactly when each key's history is: locality,
/// Herlihy & Wing 1990).
public struct LinearizabilityChecker: Sendable {
    public var limits: CheckLimits

    public init(limits: CheckLimits = CheckLimits()) {
        self.limits = limits
    }

    /// Checks every key of `history`.
    public func check(_ history: [HistoryOperation]) -> CheckResult {
        var byKey: [String: [HistoryOperation]] = [:]
        for operation in history { byKey[operation.key, default: []].append(operation) }
        let verdicts = byKey.keys.sorted().map { key in (key, check(key: key, byKey[key] ?? [])) }
        return CheckResult(verdicts: verdicts)
    }

    /// Checks the operations of one key.
    public func check(key: String, _ operations: [HistoryOperation]) -> KeyVerdict {
        if let malformed = operations.lazy.compactMap(\.malformation).first { return .unknown(malformed) }
        var session = KeySession(operations: operations, limits: limits)
        return session.verdict()
    }
}

/// The work on one key: interning, the full check, then the shrinking of a failure.
private struct KeySession {
    let operations: [HistoryOperation]
    let limits: CheckLimits
    private var stepsLeft: Int
    private let deadline: ContinuousClock.Instant?
    private var values: [String: RegisterState] = [:]
    /// Values some operation observes: returned by a read or expected by a CAS.
    private let observedValues: Set<String>

    init(operations: [HistoryOperation], limits: CheckLimits) {
        self.operations = operations
        var observed = Set<String>()
        for operation in operations {
            if operation.kind == .read, operation.outcome == .ok, let value = operation.readValue {
                observed.insert(value)
            }
            if operation.kind == .cas, let value = operation.expected { observed.insert(value) }
        }
        self.observedValues = observed
        self.limits = limits
        self.stepsLeft = limits.stepsPerKeyMax
        self.deadline = limits.timePerKeyMs.map { ContinuousClock.now + .milliseconds($0) }
    }

    mutating func verdict() -> KeyVerdict {
        let full = prepare(cutAtNs: .max)
        switch search(full, from: .absent) {
        case .linearizable: return .linearizable
        case .exhausted(let why): return .unknown(why)
        case .notLinearizable: return shrinkFailure()
        }
    }

    // MARK: Preparing operations

    private mutating func intern(_ value: String?) -> RegisterState {
        guard let value else { return .absent }
        guard observedValues.contains(value) else { return .unobserved }
        if let known = values[value] { return known }
        let state = RegisterState(rawValue: Int32(values.count + 1))
        values[value] = state
        return state
    }

    /// The search operations of the history as seen at time `cutNs`: operations invoked later
    /// are left out, and those completing later are pending (observers among them dropped,
    /// since an unfinished read tells nothing). Definitely failed operations never took effect.
    private mutating func prepare(cutAtNs cutNs: UInt64) -> [SearchOperation] {
        var prepared: [SearchOperation] = []
        for (index, operation) in operations.enumerated() where operation.invokeNs <= cutNs {
            let completes = operation.completeNs.map { $0 <= cutNs } ?? false
            let isKnown = (operation.outcome == .ok || operation.outcome == .compareFailed) && completes
            let step: RegisterStep
            switch (operation.kind, operation.outcome) {
            case (_, .failed): continue
            case (.read, _): step = .read(intern(operation.readValue))
            case (.write, _): step = .write(intern(operation.value))
            case (.cas, .compareFailed): step = .compareFailed(expected: intern(operation.expected))
            case (.cas, _): step = .compareAndSet(expected: intern(operation.expected), new: intern(operation.value))
            }
            if !isKnown && step.isObserver { continue }
            let returnNs = isKnown ? (operation.completeNs ?? .max) : .max
            prepared.append(SearchOperation(step: step, invokeNs: operation.invokeNs, returnNs: returnNs, source: index))
        }
        return prepared
    }

    /// Gives a pending write (or CAS) a return time when its value was observed: when it is the
    /// only operation that writes that value, a completed read returning it (or a completed CAS
    /// expecting it) proves it took effect before that observer returned. The history keeps
    /// exactly the same linearizations (every value is written once, and a window that starts
    /// from any value keeps its pending writers, which can go first), but such operations stop
    /// being optional at every later point, which is what made histories with many timed-out
    /// writes exponential. Applied to each searched set as it is, since it depends on which
    /// observers the set holds.
    private func withObservedWritesCompleted(_ prepared: [SearchOperation]) -> [SearchOperation] {
        var writers: [RegisterState: Int] = [:]
        var firstObservedNs: [RegisterState: UInt64] = [:]
        for operation in prepared {
            if let written = operation.step.writtenValue { writers[written, default: 0] += 1 }
            if !operation.isPending, let observed = operation.step.requiredValue {
                firstObservedNs[observed] = min(firstObservedNs[observed] ?? .max, operation.returnNs)
            }
        }
        return prepared.map { operation in
            guard operation.isPending, let written = operation.step.writtenValue, writers[written] == 1,
                let observedNs = firstObservedNs[written], observedNs >= operation.invokeNs
            else { return operation }
            var completed = operation
            completed.returnNs = observedNs
            return completed
        }
    }

    /// One search, charged to the key's budget. Fingerprint memo keys (see `MemoKeys`) unless
    /// `exact`; an exact search (the confirmation of a failing window) has a budget of its own.
    private mutating func search(_ prepared: [SearchOperation], from initial: RegisterState, exact: Bool = false)
        -> SearchResult
    {
        let stepsMax = exact ? limits.stepsPerKeyMax : stepsLeft
        guard stepsMax > 0 else { return .exhausted("search exceeded \(limits.stepsPerKeyMax) steps") }
        var search = RegisterSearch(withObservedWritesCompleted(prepared), memoKeys: exact ? .exact : .fingerprints)
        let budget = SearchBudget(
            stepsMax: stepsMax, cacheEntriesMax: limits.cacheEntriesMax, deadline: exact ? nil : deadline)
        let result = search.run(from: initial, budget: budget)
        if !exact {
            stepsLeft -= max(search.stepsTaken, 1)
            if case .exhausted = result { stepsLeft = 0 }
        }
        return result
    }

    // MARK: Shrinking a failure

    /// Shrinks a non-linearizable history to a small window that is still provably not
    /// linearizable: the shortest failing prefix, cut at the latest quiescent point that keeps
    /// it failing from any start value, without the observers it does not need. Each step only
    /// keeps a candidate the search confirmed fails, so the window is always a real witness.
    private mutating func shrinkFailure() -> KeyVerdict {
        let endNs = shortestFailingPrefixEnd()
        var window = prepare(cutAtNs: endNs)
        var initial = RegisterState.absent
        if let trimmed = latestFailingCut(of: window) {
            window = trimmed
            initial = .any
        }
        window = withoutUnneededObservers(window, from: initial)
        // Only an exact search proves the verdict (see `MemoKeys.fingerprints`).
        if search(window, from: initial, exact: true) == .linearizable {
            return .unknown("a memo fingerprint collision hid a linearization (astronomically unlikely): check again")
        }
        let lastSource =
            window.first { $0.returnNs == endNs }?.source
            ?? operations.indices.first { operations[$0].completeNs == endNs } ?? 0
        let chosen = window.map { operations[$0.source] }.sorted { ($0.invokeNs, $0.id) < ($1.invokeNs, $1.id) }
        return .notLinearizable(
            FailureWindow(operations: chosen, lastOperation: operations[lastSource], startsFromAnyValue: initial == .any))
    }

    /// Binary search for the earliest completion time whose prefix fails. Failing prefixes are
    /// closed under extension, so the search is exact (an exhausted check counts as passing).
    private mutating func shortestFailingPrefixEnd() -> UInt64 {
        let ends = Array(Set(operations.compactMap { $0.outcome == .failed ? nil : $0.completeNs })).sorted()
        guard var high = ends.indices.last else { return .max }
        var low = 0
        while low < high {
            let middle = (low + high) / 2
            if search(prepare(cutAtNs: ends[middle]), from: .absent) == .notLinearizable {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return ends[high]
    }

    /// The latest point where no completed operation is in flight such that the operations from
    /// there on (plus the pending ones before it) still fail from any register value. At such a
    /// cut every earlier completed operation precedes every later one, so failing from any value
    /// proves the whole prefix fails.
    ///
    /// Failing is monotone in the cut (a later cut only relaxes), so the search gallops back from
    /// the latest cut, then bisects: refuting a window from any value costs more the longer the
    /// window, so it only ever refutes windows at most twice the size of the one it returns.
    private mutating func latestFailingCut(of window: [SearchOperation]) -> [SearchOperation]? {
        let cuts = quiescentCuts(of: window)
        guard !cuts.isEmpty else { return nil }
        func trimmed(_ position: Int) -> [SearchOperation] {
            window.filter { $0.invokeNs >= cuts[position] || $0.isPending }
        }
        func fails(_ candidate: [SearchOperation]) -> Bool {
            !candidate.isEmpty && search(candidate, from: .any) == .notLinearizable
        }
        // Gallop: passing positions above `low`, find a failing one at `failing`.
        var passing = cuts.count
        var step = 1
        var failing: (position: Int, window: [SearchOperation])? = nil
        while failing == nil && passing > 0 {
            let position = max(passing - step, 0)
            let candidate = trimmed(position)
            if fails(candidate) {
                failing = (position, candidate)
            } else {
                passing = position
                step *= 2
            }
        }
        guard var best = failing else { return nil }
        // Bisect between the failing position and the first passing one above it.
        var low = best.position + 1
        var high = passing - 1
        while low <= high {
            let middle = (low + high) / 2
            let candidate = trimmed(middle)
            if fails(candidate) {
                best = (middle, candidate)
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return best.window
    }

    /// Invocation times before which every completed operation has returned.
    private func quiescentCuts(of window: [SearchOperation]) -> [UInt64] {
        let byInvoke = window.sorted { $0.invokeNs < $1.invokeNs }
        var cuts: [UInt64] = []
        var latestReturnNs: UInt64 = 0
        var hasEarlier = false
        for operation in byInvoke {
            if hasEarlier && latestReturnNs < operation.invokeNs && cuts.last != operation.invokeNs {
                cuts.append(operation.invokeNs)
            }
            if !operation.isPending { latestReturnNs = max(latestReturnNs, operation.returnNs) }
            hasEarlier = true
        }
        return cuts
    }

    /// Drops, one at a time, each observer (read, failed CAS) whose absence keeps the window
    /// failing. Dropping an observer only relaxes a history, so what remains is still a witness.
    private mutating func withoutUnneededObservers(
        _ window: [SearchOperation], from initial: RegisterState
    ) -> [SearchOperation] {
        guard window.count <= limits.observerPruningOperationsMax else { return window }
        var kept = window
        var position = kept.count - 1
        while position >= 0 {
            if kept[position].step.isObserver {
                var candidate = kept
                candidate.remove(at: position)
                if !candidate.isEmpty, search(candidate, from: initial) == .notLinearizable {
                    kept = candidate
                }
            }
            position -= 1
        }
        return kept
    }
}
