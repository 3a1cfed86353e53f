import KVStore
import RaftCore
import WRaftAPI

/// The client of a write the proposal queue holds, waiting for the state machine's result.
struct WriteWaiter {
    let continuation: CheckedContinuation<Result<KVResult, NodeError>, Never>
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

/// Requests keyed by a per-incarnation sequence number, bounded in count and in weight (bytes).
///
/// Invariant: `count <= countMax`; `weight` is the sum of `weigh` over the requests held.
struct PendingTable<Request> {
    private(set) var requests: [UInt64: Request] = [:]
    let countMax: Int
    let weightMax: Int
    private let weigh: (Request) -> Int
    private(set) var weight = 0

    init(countMax: Int, weightMax: Int = .max, weigh: @escaping (Request) -> Int = { _ in 0 }) {
        precondition(countMax >= 1 && weightMax >= 1, "PendingTable: the bounds are validated as >= 1")
        self.countMax = countMax
        self.weightMax = weightMax
        self.weigh = weigh
        requests.reserveCapacity(min(countMax, 1_024))
    }

    var count: Int { requests.count }
    var isEmpty: Bool { requests.isEmpty }
    var keys: Dictionary<UInt64, Request>.Keys { requests.keys }

    /// Whether a request of `weight` more would exceed a bound.
    func isFull(adding extra: Int = 0) -> Bool {
        requests.count >= countMax || weight + extra > weightMax
    }

    /// Reads and updates a held request (the update may not add or remove one).
    subscript(sequence: UInt64) -> Request? {
        get { requests[sequence] }
        set {
            guard let newValue, let old = requests[sequence] else { return }
            weight += weigh(newValue) - weigh(old)
            requests[sequence] = newValue
        }
    }

    mutating func insert(_ request: Request, at sequence: UInt64) {
        precondition(requests[sequence] == nil, "PendingTable: a sequence is inserted once")
        precondition(!isFull(adding: weigh(request)), "PendingTable: callers check isFull before inserting")
        requests[sequence] = request
        weight += weigh(request)
    }

    @discardableResult
    mutating func remove(_ sequence: UInt64) -> Request? {
        guard let request = requests.removeValue(forKey: sequence) else { return nil }
        weight -= weigh(request)
        return request
    }

    /// Removes and returns every request `isDone` selects.
    mutating func removeAll(where isDone: (Request) -> Bool) -> [Request] {
        let done = requests.filter { isDone($0.value) }
        for sequence in done.keys { remove(sequence) }
        return Array(done.values)
    }
}
