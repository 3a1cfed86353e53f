import WRaftSupport

/// The Wing–Gong search with Lowe's just-in-time linearization and memoization of
/// (linearized set, state), over a doubly linked list of call and return events (the approach
/// of Porcupine and Knossos's linear checker).
///
/// The search linearizes calls in real-time order where the model allows, and backtracks when it
/// meets the return of an operation it has not linearized. A pending operation's return lies at
/// +infinity, so reaching one means every completed operation is linearized: the pending ones
/// left over never took effect.
///
/// Three exact reductions keep histories from real runs tractable:
/// - greedy observers: a read (or failed CAS) that fits the current state is linearized at once
///   and its alternatives are never tried (see `run`);
/// - interchangeable timed-out writes: only the earliest one not yet linearized is tried (see
///   `interchangeableOrder`);
/// - dead pending CAS operations are forgotten by the memo (see `deadPendingConditionals`).
struct RegisterSearch {
    private let operations: [SearchOperation]
    // Event list: node 0 is the head sentinel; nodes 1... are events. -1 is "none".
    private var next: [Int32]
    private var previous: [Int32]
    private var operationOfNode: [Int32]
    private var isCallNode: [Bool]
    private var matchOfNode: [Int32]
    /// The interchangeable operations in invocation order. The search only ever linearizes the
    /// earliest one not yet linearized: any linearization using some of them can use the
    /// earliest ones instead (each was invoked no later), so this loses no linearization and
    /// keeps timed-out writes, common under faults, from making the search exponential.
    private var interchangeableOrder: [Int32] = []
    private var interchangeableLinearized = 0
    /// Per value (by raw state, absent included), how many operations that write it are not
    /// linearized: a value no remaining operation writes cannot come back once it is gone.
    private var unlinearizedWriters: [Int32: Int] = [:]
    /// Linearized pending CAS operations, in the order they were linearized.
    private var linearizedPendingConditionals: [Int] = []
    /// How the memo identifies a linearized set (see `MemoKeys`).
    private let memoKeys: MemoKeys
    /// Per operation, its two 64-bit Zobrist codes; the fingerprint of a set is their XOR.
    private var codes: [(UInt64, UInt64)] = []
    private var fingerprint: (UInt64, UInt64) = (0, 0)
    /// The number of search steps the last `run` took.
    private(set) var stepsTaken = 0

    init(_ operations: [SearchOperation], memoKeys: MemoKeys = .exact) {
        self.operations = operations
        self.memoKeys = memoKeys
        if memoKeys == .fingerprints {
            // A fixed seed: a run replays exactly.
            var generator = SplitMix64(seed: 0x5A0B_7157)
            codes = operations.map { _ in (generator.next(), generator.next()) }
        }
        for operation in operations {
            if let produced = operation.step.producedState { unlinearizedWriters[produced.rawValue, default: 0] += 1 }
        }
        let nodeCount = 1 + 2 * operations.count
        next = Array(repeating: -1, count: nodeCount)
        previous = Array(repeating: -1, count: nodeCount)
        operationOfNode = Array(repeating: -1, count: nodeCount)
        isCallNode = Array(repeating: false, count: nodeCount)
        matchOfNode = Array(repeating: -1, count: nodeCount)
        buildEventList()
    }

    // MARK: The search

    /// A linearized call, kept to undo it on backtracking.
    private struct Frame {
        var call: Int32
        var stateBefore: RegisterState
        /// An observer linearized as soon as it fit: its configuration fails when this one
        /// does, so backtracking goes on past it.
        var isGreedy: Bool
    }

    /// Runs the search from `initial`. Consumes the event list (call once).
    ///
    /// An observer (a read, a failed CAS) that fits the current state is linearized at once and
    /// its alternatives are never tried: it changes nothing, and every operation that must
    /// precede it is already linearized (otherwise the scan would have met that operation's
    /// return first), so any linearization that places it later can place it now. This keeps
    /// many concurrent readers from making the search exponential.
    mutating func run(from initial: RegisterState, budget: SearchBudget) -> SearchResult {
        var linearized = Array(repeating: UInt64(0), count: (operations.count + 63) / 64)
        var memo = Memo()
        var stack: [Frame] = []
        var state = initial
        var node = next[0]
        let clock = ContinuousClock()
        stepsTaken = 0
        while next[0] >= 0 {
            stepsTaken += 1
            if stepsTaken > budget.stepsMax { return .exhausted("search exceeded \(budget.stepsMax) steps") }
            if stepsTaken & 0xFFF == 0, let deadline = budget.deadline, clock.now >= deadline {
                return .exhausted("search ran out of time")
            }
            let operation = Int(operationOfNode[Int(node)])
            guard isCallNode[Int(node)] else {
                // Only pending returns remain from here on: the rest never took effect.
                if operations[operation].isPending { return .linearizable }
                guard let resumeAt = backtrack(&stack, &linearized, &state) else { return .notLinearizable }
                node = resumeAt
                continue
            }
            guard isTryable(operation), let newState = operations[operation].step.apply(to: state) else {
                node = next[Int(node)]
                continue
            }
            let isGreedy = operations[operation].step.isObserver && newState == state
            markLinearized(operation, in: &linearized)
            if remember(linearized, state: newState, in: &memo) {
                guard memo.count <= budget.cacheEntriesMax else {
                    return .exhausted("memo cache exceeded \(budget.cacheEntriesMax) entries")
                }
                stack.append(Frame(call: node, stateBefore: state, isGreedy: isGreedy))
                state = newState
                lift(node)
                node = next[0]
                continue
            }
            unmarkLinearized(operation, in: &linearized)
            if isGreedy {
                // Linearizing the observer now was explored and failed, so this configuration fails.
                guard let resumeAt = backtrack(&stack, &linearized, &state) else { return .notLinearizable }
                node = resumeAt
            } else {
                node = next[Int(node)]
            }
        }
        return .linearizable
    }

    /// Undoes linearized calls until one whose alternatives remain; returns where the scan
    /// resumes, or nil when nothing is left to try.
    private mutating func backtrack(_ stack: inout [Frame], _ linearized: inout [UInt64], _ state: inout RegisterState)
        -> Int32?
    {
        while let top = stack.popLast() {
            unmarkLinearized(Int(operationOfNode[Int(top.call)]), in: &linearized)
            state = top.stateBefore
            unlift(top.call)
            if !top.isGreedy { return next[Int(top.call)] }
        }
        return nil
    }

    /// Whether the search may linearize `operation` now (see `interchangeableOrder`).
    private func isTryable(_ operation: Int) -> Bool {
        guard operations[operation].isInterchangeable else { return true }
        return interchangeableLinearized < interchangeableOrder.count
            && interchangeableOrder[interchangeableLinearized] == Int32(operation)
    }

    private mutating func markLinearized(_ operation: Int, in linearized: inout [UInt64]) {
        linearized[operation >> 6] |= 1 << UInt64(operation & 63)
        toggleFingerprint(operation)
        let searchOperation = operations[operation]
        if searchOperation.isInterchangeable { interchangeableLinearized += 1 }
        if let produced = searchOperation.step.producedState { unlinearizedWriters[produced.rawValue, default: 0] -= 1 }
        if searchOperation.isPendingConditional { linearizedPendingConditionals.append(operation) }
    }

    /// Undoes `markLinearized` (always of the pending CAS operation marked last, if it is one).
    private mutating func unmarkLinearized(_ operation: Int, in linearized: inout [UInt64]) {
        linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
        toggleFingerprint(operation)
        let searchOperation = operations[operation]
        if searchOperation.isInterchangeable { interchangeableLinearized -= 1 }
        if let produced = searchOperation.step.producedState { unlinearizedWriters[produced.rawValue, default: 0] += 1 }
        if searchOperation.isPendingConditional {
            let last = linearizedPendingConditionals.popLast()
            precondition(last == operation, "RegisterSearch: pending CAS operations are unmarked in reverse order")
        }
    }

    // MARK: The memo

    private struct ExactKey: Hashable {
        var linearized: [UInt64]
        var state: RegisterState
    }

    private struct FingerprintKey: Hashable {
        var first: UInt64
        var second: UInt64
        var state: RegisterState
    }

    /// The configurations already explored (each led nowhere), keyed per `memoKeys`.
    private struct Memo {
        var exact = Set<ExactKey>()
        var fingerprints = Set<FingerprintKey>()
        var count: Int { exact.count + fingerprints.count }
    }

    /// Adds the configuration to the memo; false when it was there already.
    private func remember(_ linearized: [UInt64], state: RegisterState, in memo: inout Memo) -> Bool {
        let dead = deadPendingConditionals(state: state)
        switch memoKeys {
        case .exact:
            var canonical = linearized
            for operation in dead { canonical[operation >> 6] &= ~(1 << UInt64(operation & 63)) }
            return memo.exact.insert(ExactKey(linearized: canonical, state: state)).inserted
        case .fingerprints:
            var key = FingerprintKey(first: fingerprint.0, second: fingerprint.1, state: state)
            for operation in dead {
                key.first ^= codes[operation].0
                key.second ^= codes[operation].1
            }
            return memo.fingerprints.insert(key).inserted
        }
    }

    private mutating func toggleFingerprint(_ operation: Int) {
        guard memoKeys == .fingerprints else { return }
        fingerprint.0 ^= codes[operation].0
        fingerprint.1 ^= codes[operation].1
    }

    /// Linearized pending CAS operations that can never take effect again: their expected value
    /// is not the current one and no remaining operation writes it. Whether such an operation
    /// took effect earlier changes nothing ahead, so the memo forgets it and both histories
    /// share one entry; this keeps many timed-out CAS operations from making the search
    /// exponential.
    private func deadPendingConditionals(state: RegisterState) -> [Int] {
        guard state != .any, !linearizedPendingConditionals.isEmpty else { return [] }
        return linearizedPendingConditionals.filter { operation in
            guard case .compareAndSet(let expected, _) = operations[operation].step else { return false }
            return expected != state && unlinearizedWriters[expected.rawValue, default: 0] == 0
        }
    }

    // MARK: The event list

    private struct Event {
        var timeNs: UInt64
        var isCall: Bool
        var operation: Int
    }

    private mutating func buildEventList() {
        var events: [Event] = []
        events.reserveCapacity(operations.count * 2)
        for (index, operation) in operations.enumerated() {
            events.append(Event(timeNs: operation.invokeNs, isCall: true, operation: index))
            events.append(Event(timeNs: operation.returnNs, isCall: false, operation: index))
        }
        // At equal times calls come first: operations touching at an instant count as concurrent,
        // which never flags a correct history.
        events.sort { lhs, rhs in
            if lhs.timeNs != rhs.timeNs { return lhs.timeNs < rhs.timeNs }
            if lhs.isCall != rhs.isCall { return lhs.isCall }
            return lhs.operation < rhs.operation
        }
        var callNodeOfOperation = Array(repeating: Int32(-1), count: operations.count)
        var last: Int32 = 0
        for (position, event) in events.enumerated() {
            let node = Int32(position + 1)
            next[Int(last)] = node
            previous[Int(node)] = last
            operationOfNode[Int(node)] = Int32(event.operation)
            isCallNode[Int(node)] = event.isCall
            if event.isCall {
                callNodeOfOperation[event.operation] = node
                if operations[event.operation].isInterchangeable { interchangeableOrder.append(Int32(event.operation)) }
            } else {
                let call = callNodeOfOperation[event.operation]
                matchOfNode[Int(node)] = call
                matchOfNode[Int(call)] = node
            }
            last = node
        }
    }

    /// Unlinks a call node and its return node.
    private mutating func lift(_ call: Int32) {
        unlink(call)
        unlink(matchOfNode[Int(call)])
    }

    /// Relinks what `lift` unlinked (in the reverse order).
    private mutating func unlift(_ call: Int32) {
        relink(matchOfNode[Int(call)])
        relink(call)
    }

    private mutating func unlink(_ node: Int32) {
        let before = previous[Int(node)]
        let after = next[Int(node)]
        next[Int(before)] = after
        if after >= 0 { previous[Int(after)] = before }
    }

    private mutating func relink(_ node: Int32) {
        let before = previous[Int(node)]
        let after = next[Int(node)]
        next[Int(before)] = node
        if after >= 0 { previous[Int(after)] = node }
    }
}
