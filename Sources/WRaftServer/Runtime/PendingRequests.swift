import RaftCore

/// A client write waiting for its entry to be applied.
struct PendingWrite {
    /// The encoded `KVCommand`: re-proposed unchanged (same request id) after a leader change,
    /// so the state machine's client sessions apply it at most once.
    let command: [UInt8]
    let key: String
    let deadline: ContinuousClock.Instant
    let continuation: CheckedContinuation<Result<WriteOutcome, NodeError>, Never>
    /// Whether the core ever accepted the command (appended it as leader, or forwarded it to a
    /// leader): past the deadline the outcome is then unknown (504), else plainly refused (503).
    var wasHandedToLeader = false
    /// When the command was last handed to the core; nil while it waits for a leader.
    var lastProposedAt: ContinuousClock.Instant?
    /// The leader it was last handed to (to notice a leader change).
    var proposedUnderLeader: NodeID?
}

/// A linearizable read waiting for its read index, then for the state machine to reach it.
struct PendingRead {
    let deadline: ContinuousClock.Instant
    let continuation: CheckedContinuation<Result<LogIndex, NodeError>, Never>
    /// The id the core knows the current attempt by (a retry asks again under a new id).
    var attemptID: ReadRequestID
    var lastRequestedAt: ContinuousClock.Instant?
    var requestedUnderLeader: NodeID?
    /// Known once the leader confirmed it; the read is served when `applied >= readIndex`.
    var readIndex: LogIndex?
}

/// A membership operation (join, remove) waiting for its entry to be applied.
struct MembershipWaiter {
    /// True once the configuration applied satisfies the operation.
    let isSatisfied: @Sendable (Membership) -> Bool
    let deadline: ContinuousClock.Instant
    let continuation: CheckedContinuation<Result<Void, NodeError>, Never>
}

/// Requests keyed by a per-incarnation sequence number, bounded.
///
/// Invariant: `requests.count <= countMax`.
struct PendingTable<Request> {
    private(set) var requests: [UInt64: Request] = [:]
    let countMax: Int

    init(countMax: Int) {
        precondition(countMax >= 1, "PendingTable: the bound is validated as >= 1")
        self.countMax = countMax
        requests.reserveCapacity(min(countMax, 1_024))
    }

    var count: Int { requests.count }
    var isFull: Bool { requests.count >= countMax }
    var isEmpty: Bool { requests.isEmpty }
    var keys: Dictionary<UInt64, Request>.Keys { requests.keys }

    subscript(sequence: UInt64) -> Request? {
        get { requests[sequence] }
        set {
            precondition(newValue == nil || requests[sequence] != nil || !isFull, "PendingTable: bounded")
            requests[sequence] = newValue
        }
    }

    mutating func insert(_ request: Request, at sequence: UInt64) {
        precondition(!isFull, "PendingTable: callers check isFull before inserting")
        requests[sequence] = request
    }

    @discardableResult
    mutating func remove(_ sequence: UInt64) -> Request? {
        requests.removeValue(forKey: sequence)
    }

    /// Removes and returns every request `isDone` selects.
    mutating func removeAll(where isDone: (Request) -> Bool) -> [Request] {
        let done = requests.filter { isDone($0.value) }
        for sequence in done.keys { requests[sequence] = nil }
        return Array(done.values)
    }

    mutating func updateEach(_ update: (UInt64, inout Request) -> Void) {
        for sequence in Array(requests.keys) {
            guard var request = requests[sequence] else { continue }
            update(sequence, &request)
            requests[sequence] = request
        }
    }
}
