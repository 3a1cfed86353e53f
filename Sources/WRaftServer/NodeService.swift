import RaftCore
import WRaftAPI

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
    /// `GET /data?prefix=&limit=&cursor=`: keys in order, starting with `prefix`, after the key
    /// `after` when given (a page's continuation).
    func list(
        prefix: String, after: String?, limit: Int, consistency: ReadConsistency, deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> ListOutcome
    /// `GET /log?from=&limit=`.
    func log(from: LogIndex, limit: Int) async -> LogView
    /// `POST /op/...`: inject or clear a fault on this node.
    func inject(_ fault: FaultCommand) async throws(NodeError)
    /// `GET /events`: what this node did, as the stream serves it (nil: no stream here).
    var eventStreamSource: NodeEventLog? { get }
}

extension NodeService {
    /// No event stream (test fakes).
    public var eventStreamSource: NodeEventLog? { nil }

    /// The first page of keys starting with `prefix`.
    public func list(prefix: String, limit: Int, consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> ListOutcome
    {
        try await list(prefix: prefix, after: nil, limit: limit, consistency: consistency, deadline: deadline)
    }
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

/// The keys of a list call, before the HTTP layer sizes them into a `ListView` page.
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

/// What `/connect` did.
public enum ConnectOutcome: Sendable, Equatable {
    /// Both nodes were `initial`: the member lists were merged; this is the merged list.
    case merged(members: [MemberView])
    /// This empty node joined the peer's running cluster as a new member.
    case joined(clusterID: String, members: [MemberView])
}

/// The faults of `/op/...`, checked: members are named by their `NodeID`.
public typealias FaultCommand = FaultRequest<NodeID>
