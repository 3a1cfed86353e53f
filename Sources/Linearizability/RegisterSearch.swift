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

    /// The state this step leaves when it takes effect, if it writes one.
    var producedState: RegisterState? {
        switch self {
        case .write(let written), .compareAndSet(_, let written): return written
        case .read, .compareFailed: return nil
        }
    }

    /// The value this step writes when it takes effect, if it is a distinct observable value.
    var writtenValue: RegisterState? {
        let value: RegisterState
        switch self {
        case .write(let written), .compareAndSet(_, let written): value = written
        case .read, .compareFailed: return nil
        }
        return value.rawValue > 0 ? value : nil
    }

    /// The value the register must hold for this step to take effect, if it is a distinct value.
    var requiredValue: RegisterState? {
        let value: RegisterState
        switch self {
        case .read(let read): value = read
        case .compareAndSet(let expected, _): value = expected
        case .write, .compareFailed: return nil
        }
        return value.rawValue > 0 ? value : nil
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

    /// A pending compare-and-set: it may take effect whenever the register holds its expected value.
    var isPendingConditional: Bool {
        guard isPending, case .compareAndSet = step else { return false }
        return true
    }
}

/// How the memo of explored configurations identifies a linearized set.
enum MemoKeys: Equatable {
    /// The set itself, as a bitset: exact, but each entry weighs n/8 bytes.
    case exact
    /// A 128-bit Zobrist fingerprint of the set: constant size and O(1) to update. A collision
    /// (odds far below 2^-64 for any realistic number of entries) could only hide a successful
    /// path, never invent one: `linearizable` stays exact, and a `notLinearizable` verdict is
    /// confirmed by an exact search of its (small) failing window.
    case fingerprints
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

