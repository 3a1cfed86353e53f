/// A register value, interned: `absent` or the index of a distinct string (from 1), or `any`,
/// the unknown state a trimmed window starts in (it matches whatever is first observed).
struct RegisterState: Hashable {
    var rawValue: Int32

    static let absent = RegisterState(rawValue: 0)
    static let any = RegisterState(rawValue: -1)
    /// Every value no operation observes (no read returns it, no CAS expects it). Such values
    /// behave identically under every step, so merging them loses nothing.
    static let unobserved = RegisterState(rawValue: -2)

    func matches(_ value: RegisterState) -> Bool { self == value || self == .any }
}

/// What one operation does to the register, with its values interned.
enum RegisterStep: Equatable {
    case read(RegisterState)
    case write(RegisterState)
    case compareAndSet(expected: RegisterState, new: RegisterState)
    /// A CAS whose comparison failed: the value was not `expected`; nothing changed.
    case compareFailed(expected: RegisterState)

    /// The state after this step from `state`, or nil when the step is impossible there.
    func apply(to state: RegisterState) -> RegisterState? {
        switch self {
        case .read(let value):
            return state.matches(value) ? value : nil
        case .write(let value):
            return value
        case .compareAndSet(let expected, let new):
            return state.matches(expected) ? new : nil
        case .compareFailed(let expected):
            // From `any` the value could be anything else, so it stays unknown.
            return state == expected ? nil : state
        }
    }

    /// Steps that change nothing: dropping one from a history can only make it easier to explain.
    var isObserver: Bool {
        switch self {
        case .read, .compareFailed: return true
        case .write, .compareAndSet: return false
        }
    }
}

/// One operation prepared for the search.
struct SearchOperation {
    var step: RegisterStep
    var invokeNs: UInt64
    /// `UInt64.max` when the outcome is unknown: it may take effect any time after invocation, or never.
    var returnNs: UInt64
    /// Index into the caller's operation list (to report it).
    var source: Int

    var isPending: Bool { returnNs == .max }

    /// A pending write of an unobserved value: all of these are interchangeable but for their
    /// invocation times.
    var isInterchangeable: Bool { isPending && step == .write(.unobserved) }
}

/// Bounds of one search; reaching one gives up with `.exhausted`.
struct SearchBudget {
    var stepsMax: Int
    var cacheEntriesMax: Int
    var deadline: ContinuousClock.Instant?
}

enum SearchResult: Equatable {
    case linearizable
    case notLinearizable
    case exhausted(String)
}

/// The Wing–Gong search with Lowe's just-in-time linearization and memoization of
/// (linearized set, state), over a doubly linked list of call and return events (the approach
/// of Porcupine and Knossos's linear checker).
///
/// The search linearizes calls in real-time order where the model allows, and backtracks when it
/// meets the return of an operation it has not linearized. A pending operation's return lies at
/// +infinity, so reaching one means every completed operation is linearized: the pending ones
/// left over never took effect.
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

    init(_ operations: [SearchOperation]) {
        self.operations = operations
        let nodeCount = 1 + 2 * operations.count
        next = Array(repeating: -1, count: nodeCount)
        previous = Array(repeating: -1, count: nodeCount)
        operationOfNode = Array(repeating: -1, count: nodeCount)
        isCallNode = Array(repeating: false, count: nodeCount)
        matchOfNode = Array(repeating: -1, count: nodeCount)
        buildEventList()
    }

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
                if operations[event.operation].isInterchangeable {
                    interchangeableOrder.append(Int32(event.operation))
                }
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

    /// Whether the search may linearize `operation` now (see `interchangeableOrder`).
    private func isTryable(_ operation: Int) -> Bool {
        guard operations[operation].isInterchangeable else { return true }
        return interchangeableLinearized < interchangeableOrder.count
            && interchangeableOrder[interchangeableLinearized] == Int32(operation)
    }

    private struct CacheKey: Hashable {
        var linearized: [UInt64]
        var state: RegisterState
    }

    /// The number of search steps the last `run` took.
    private(set) var stepsTaken = 0

    /// Runs the search from `initial`. Consumes the event list (call once).
    mutating func run(from initial: RegisterState, budget: SearchBudget) -> SearchResult {
        search(from: initial, budget: budget)
    }

    private mutating func search(from initial: RegisterState, budget: SearchBudget) -> SearchResult {
        var linearized = Array(repeating: UInt64(0), count: (operations.count + 63) / 64)
        var cache = Set<CacheKey>()
        var stack: [(call: Int32, state: RegisterState)] = []
        var state = initial
        var node = next[0]
        let clock = ContinuousClock()
        stepsTaken = 0
        while next[0] >= 0 {
            stepsTaken += 1
            let steps = stepsTaken
            if steps > budget.stepsMax { return .exhausted("search exceeded \(budget.stepsMax) steps") }
            if steps & 0xFFF == 0, let deadline = budget.deadline, clock.now >= deadline {
                return .exhausted("search ran out of time")
            }
            let operation = Int(operationOfNode[Int(node)])
            if isCallNode[Int(node)] {
                if isTryable(operation), let newState = operations[operation].step.apply(to: state) {
                    linearized[operation >> 6] |= 1 << UInt64(operation & 63)
                    if cache.insert(CacheKey(linearized: linearized, state: newState)).inserted {
                        guard cache.count <= budget.cacheEntriesMax else {
                            return .exhausted("memo cache exceeded \(budget.cacheEntriesMax) entries")
                        }
                        stack.append((node, state))
                        state = newState
                        lift(node)
                        if operations[operation].isInterchangeable { interchangeableLinearized += 1 }
                        node = next[0]
                        continue
                    }
                    linearized[operation >> 6] &= ~(1 << UInt64(operation & 63))
                }
                node = next[Int(node)]
            } else {
                // Only pending returns remain from here on: the rest never took effect.
                if operations[operation].isPending { return .linearizable }
                guard let top = stack.popLast() else { return .notLinearizable }
                let undone = Int(operationOfNode[Int(top.call)])
                linearized[undone >> 6] &= ~(1 << UInt64(undone & 63))
                if operations[undone].isInterchangeable { interchangeableLinearized -= 1 }
                state = top.state
                unlift(top.call)
                node = next[Int(top.call)]
            }
        }
        return .linearizable
    }
}
