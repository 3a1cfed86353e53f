import RaftCore

/// Everything the HTTP layer asks of a node. `NodeRuntime` implements it for real; HTTP tests
/// use an in-memory fake. Each call either returns its outcome or throws a `NodeError`, which the
/// HTTP layer maps to a status and a JSON body in exactly one place.
public protocol NodeService: Sendable {
    /// `POST /connect`: merge member lists with an `initial` peer, or join the peer's running cluster.
    func connect(peerRaftAddress: String) async throws(NodeError) -> ConnectOutcome
    /// `POST /start`: start the whole connected cluster (idempotent).
    func start() async throws(NodeError)
    /// `GET /state`: this node's view of itself and the cluster.
    func state() async -> NodeStateView
    /// `GET /health`.
    func health() async -> HealthView
    /// `POST /members/remove`: remove a member through a membership change.
    func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError)

    /// `PUT/DELETE /data/{key}`, `POST /set`: a write through consensus, answered once applied.
    func write(_ request: WriteRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> WriteOutcome
    /// `GET /data/{key}`: nil when the key does not exist.
    func read(key: String, consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> ReadOutcome?
    /// `GET /data?prefix=&limit=`: keys in order, starting with `prefix`.
    func list(prefix: String, limit: Int, consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> ListOutcome
    /// `GET /log?from=&limit=`.
    func log(from: LogIndex, limit: Int) async -> LogView
    /// `POST /op/...`: inject or clear a fault on this node.
    func inject(_ fault: FaultCommand) async throws(NodeError)
}

/// A write: what to do to which key, and under which condition.
public struct WriteRequest: Sendable, Equatable {
    public enum Operation: Sendable, Equatable {
        case put(value: [UInt8])
        case delete
    }
    /// Compare-and-set: the write applies only when the key's current state matches.
    public enum Condition: Sendable, Equatable {
        case none
        /// `?prevValue=V`: the key exists and its value is exactly V.
        case valueEquals([UInt8])
        /// `?prevIndex=N`: the index that last modified the key is N (0: the key does not exist).
        case indexEquals(LogIndex)
    }
    public var key: String
    public var operation: Operation
    public var condition: Condition

    public init(key: String, operation: Operation, condition: Condition = .none) {
        self.key = key
        self.operation = operation
        self.condition = condition
    }
}

/// The answer to an applied write.
public struct WriteOutcome: Sendable, Equatable, Codable {
    public var key: String
    /// The log index of the entry that carried the write.
    public var index: UInt64
    public var term: UInt64
    /// For deletes: whether the key existed. Nil for puts.
    public var deleted: Bool?

    public init(key: String, index: UInt64, term: UInt64, deleted: Bool?) {
        self.key = key
        self.index = index
        self.term = term
        self.deleted = deleted
    }
}

public enum ReadConsistency: String, Sendable, Equatable {
    /// ReadIndex through the leader (the default).
    case linearizable
    /// This node's state machine as it is; may be stale; works without a leader.
    case local
}

/// A key's value and the log position that last modified it.
public struct ReadOutcome: Sendable, Equatable {
    public var value: [UInt8]
    public var index: UInt64
    public var term: UInt64
    public init(value: [UInt8], index: UInt64, term: UInt64) {
        self.value = value
        self.index = index
        self.term = term
    }
}

public struct ListOutcome: Sendable, Equatable {
    public struct Item: Sendable, Equatable {
        public var key: String
        public var value: [UInt8]
        public var index: UInt64
        public init(key: String, value: [UInt8], index: UInt64) {
            self.key = key
            self.value = value
            self.index = index
        }
    }
    public var items: [Item]
    /// True when more keys with the prefix follow the last one returned.
    public var hasMore: Bool
    public init(items: [Item], hasMore: Bool) {
        self.items = items
        self.hasMore = hasMore
    }
}

public enum ConnectOutcome: Sendable, Equatable {
    /// Both nodes were `initial`: the member lists were merged; this is the merged list.
    case merged(members: [MemberView])
    /// This empty node joined the peer's running cluster as a new member.
    case joined(clusterID: String, members: [MemberView])
}

/// The faults of `/op/...`.
public enum FaultCommand: Sendable, Equatable {
    case pause
    case resume
    /// Drop raft traffic to and from these peers (nil: all peers).
    case isolate(peers: [NodeID]?)
    case delay(ms: Int, jitterMs: Int)
    case drop(rate: Double)
    case heal
    case crash
    case stepDown
    case transfer(to: NodeID)
    case snapshot
}

/// Why a node could not do what was asked. The HTTP layer maps each case to one status and
/// `{"error": code, "message": ...}`.
public enum NodeError: Error, Sendable, Equatable {
    /// 400: bad input; `code` is e.g. `bad_key`, `bad_json`, `bad_request`.
    case badRequest(code: String, message: String)
    /// 413 value_too_large.
    case valueTooLarge(bytes: Int, limit: Int)
    /// 404 not_found (also for unknown members).
    case notFound(message: String)
    /// 412 compare_failed: the CAS condition did not hold.
    case compareFailed(message: String)
    /// 409 cluster_conflict.
    case clusterConflict(message: String)
    /// 409 not_initial / not_running: the call needs the node in another lifecycle state.
    case wrongState(code: String, message: String)
    /// 503 no_leader, with Retry-After.
    case noLeader(retryAfterMs: Int)
    /// 503 overloaded, with Retry-After: a bound was reached (proposal queue, uncommitted bytes).
    case overloaded(retryAfterMs: Int)
    /// 504 unknown_outcome: the write may or may not have been applied.
    case unknownOutcome(message: String)
    /// 403 faults_disabled: the node runs without `--enable-faults`.
    case faultsDisabled
    /// 502 peer_unreachable: a raft address given to /connect did not answer.
    case peerUnreachable(message: String)
    /// 500 internal: a storage failure or similar; the message says what.
    case internalError(message: String)
    /// 507 quota_exceeded: the write would grow the store to `bytes`, past `--quota-bytes`
    /// (`limit`); deletes still work.
    case quotaExceeded(bytes: Int, limit: Int)
}

/// One member as shown by `/state`.
public struct MemberView: Sendable, Equatable, Codable {
    public var id: String
    public var raftAddress: String
    public var httpAddress: String
    public var voter: Bool
    /// Leader only.
    public var matchIndex: UInt64?
    public var nextIndex: UInt64?
    public var lastContactMs: Int?

    public init(
        id: String, raftAddress: String, httpAddress: String, voter: Bool,
        matchIndex: UInt64? = nil, nextIndex: UInt64? = nil, lastContactMs: Int? = nil
    ) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.voter = voter
        self.matchIndex = matchIndex
        self.nextIndex = nextIndex
        self.lastContactMs = lastContactMs
    }
}

/// The leader as shown by `/state`.
public struct LeaderView: Sendable, Equatable, Codable {
    public var id: String
    public var raftAddress: String
    public var httpAddress: String
    public init(id: String, raftAddress: String, httpAddress: String) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
    }
}

/// The body of `GET /state` (field names are the JSON keys of API.md).
public struct NodeStateView: Sendable, Equatable, Codable {
    public var id: String
    public var clusterID: String?
    public var raftAddress: String
    public var httpAddress: String
    /// `initial` or `running`.
    public var status: String
    /// `follower`, `candidate`, `leader`, `learner` (and `pre-candidate`); nil while `initial`.
    public var role: String?
    public var term: UInt64
    public var votedFor: String?
    public var leader: LeaderView?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastLogIndex: UInt64
    public var snapshotIndex: UInt64
    public var keys: Int
    /// Active injected faults, e.g. `["paused", "isolated:…", "delay:50±20ms", "drop:0.2"]`.
    public var faults: [String]
    public var members: [MemberView]

    public init(
        id: String, clusterID: String?, raftAddress: String, httpAddress: String, status: String,
        role: String?, term: UInt64, votedFor: String?, leader: LeaderView?, commitIndex: UInt64,
        appliedIndex: UInt64, lastLogIndex: UInt64, snapshotIndex: UInt64, keys: Int, faults: [String],
        members: [MemberView]
    ) {
        self.id = id
        self.clusterID = clusterID
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.status = status
        self.role = role
        self.term = term
        self.votedFor = votedFor
        self.leader = leader
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.lastLogIndex = lastLogIndex
        self.snapshotIndex = snapshotIndex
        self.keys = keys
        self.faults = faults
        self.members = members
    }
}

/// The body of `GET /health`.
public struct HealthView: Sendable, Equatable, Codable {
    /// True when the node serves (it is `running` and not paused).
    public var serving: Bool
    public var status: String
    public var role: String?
    public init(serving: Bool, status: String, role: String?) {
        self.serving = serving
        self.status = status
        self.role = role
    }
}

/// The body of `GET /log`.
public struct LogView: Sendable, Equatable, Codable {
    public struct Item: Sendable, Equatable, Codable {
        public var index: UInt64
        public var term: UInt64
        /// `command`, `noop` or `membership`.
        public var type: String
        /// A short human summary, e.g. `put k (3 bytes)`.
        public var summary: String
        public init(index: UInt64, term: UInt64, type: String, summary: String) {
            self.index = index
            self.term = term
            self.type = type
            self.summary = summary
        }
    }
    public var snapshotIndex: UInt64
    public var snapshotTerm: UInt64
    public var entries: [Item]
    public init(snapshotIndex: UInt64, snapshotTerm: UInt64, entries: [Item]) {
        self.snapshotIndex = snapshotIndex
        self.snapshotTerm = snapshotTerm
        self.entries = entries
    }
}
