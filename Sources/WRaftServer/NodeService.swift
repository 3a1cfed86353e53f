import KVStore
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
    /// `POST /members/promote`: make a caught-up learner a voter through a membership change.
    func promoteMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError)

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

    /// `GET /data/{key}?revision=N`: the key at a revision (nil: now), and the store's revision.
    func readEntry(key: [UInt8], revision: UInt64?, consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> EntryOutcome
    /// `GET /data?prefix=|start=&end=&revision=&limit=&cursor=`: a page of a key range.
    func readRange(
        _ range: KVKeyRange, after: [UInt8]?, revision: UInt64?, limit: Int, consistency: ReadConsistency,
        deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> RangeOutcome
    /// `POST /txn`, `POST /lease`, `DELETE /lease/{id}`, `POST /compact`: a command through
    /// consensus, answered with the state machine's result once applied.
    func execute(_ request: KVRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> KVResult
    /// `GET /lease/{id}` and, with `renew`, `POST /lease/{id}/keepalive` (the leader answers).
    func lease(_ id: Int64, renew: Bool, deadline: ContinuousClock.Instant) async throws(NodeError) -> LeaseStatus
    /// `GET /leases`: every lease id and TTL, ascending.
    func leases(consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> [LeaseStatus]
    /// The store's current revision (the `X-WRaft-Revision` header of every KV answer).
    func currentRevision() async -> UInt64
    /// `GET /watch`: opens a watch (NodeRuntime+Watch.swift); read it with `WatchStream.next`.
    func openWatch(_ request: WatchRequest) async throws(WatchOpenError) -> WatchStream
    /// etcd's `Status` and the Cluster service: this member's ids, term, revision, sizes and members.
    func memberStatus() async -> MemberStatus
    /// The numbers of etcd's response header, read without waiting for the node (a watch
    /// answers every delivery with one: a thousand watchers must not queue a thousand calls
    /// behind the writes).
    func responseHeaderNumbers() -> ResponseHeaderNumbers
    /// etcd's `Snapshot`: the store as a Raft snapshot carries it, after a read barrier.
    func storeSnapshot(deadline: ContinuousClock.Instant) async throws(NodeError) -> StoreSnapshot
}

/// What every etcd response header carries: the cluster and member ids, the term, and the
/// store's revision (an answer made at another revision names its own). The runtime republishes
/// them after every Ready and every apply, so they are at most one turn of the node old.
public struct ResponseHeaderNumbers: Sendable, Equatable {
    /// 0 before the cluster is formed.
    public var clusterID: UInt64
    public var memberID: UInt64
    public var term: UInt64
    public var revision: UInt64

    public init(clusterID: UInt64, memberID: UInt64, term: UInt64, revision: UInt64) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.term = term
        self.revision = revision
    }
}

/// A member's numbers as etcd's API reports them (`ResponseHeader`, `StatusResponse`).
public struct MemberStatus: Sendable, Equatable {
    /// 0 before the cluster is formed.
    public var clusterID: UInt64
    public var memberID: UInt64
    public var term: UInt64
    public var revision: UInt64
    /// 0: no leader known.
    public var leaderID: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    /// The store's size as `--quota-bytes` counts it (keys, values and retained history).
    public var storeBytes: Int
    public var quotaBytes: Int
    public var isLearner: Bool
    public var members: [MemberView]
    /// Each member's etcd port (`host:port`) as it announced it, by member id (members without
    /// one are absent).
    public var etcdAddresses: [UInt64: String]

    public init(
        clusterID: UInt64, memberID: UInt64, term: UInt64, revision: UInt64, leaderID: UInt64, commitIndex: UInt64,
        appliedIndex: UInt64, storeBytes: Int, quotaBytes: Int, isLearner: Bool, members: [MemberView],
        etcdAddresses: [UInt64: String] = [:]
    ) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.term = term
        self.revision = revision
        self.leaderID = leaderID
        self.commitIndex = commitIndex
        self.appliedIndex = appliedIndex
        self.storeBytes = storeBytes
        self.quotaBytes = quotaBytes
        self.isLearner = isLearner
        self.members = members
        self.etcdAddresses = etcdAddresses
    }

    /// The numbers of a response header made from this status.
    public var headerNumbers: ResponseHeaderNumbers {
        ResponseHeaderNumbers(clusterID: clusterID, memberID: memberID, term: term, revision: revision)
    }
}

/// The store's snapshot bytes (`KVStore.snapshot()`) and the revision they hold.
public struct StoreSnapshot: Sendable, Equatable {
    public var bytes: [UInt8]
    public var revision: UInt64
    public init(bytes: [UInt8], revision: UInt64) {
        self.bytes = bytes
        self.revision = revision
    }
}

/// A key at a revision, and the store's revision when it was read.
public struct EntryOutcome: Sendable, Equatable {
    public var entry: KVEntry?
    public var revision: UInt64
    public init(entry: KVEntry?, revision: UInt64) {
        self.entry = entry
        self.revision = revision
    }
}

/// A page of a key range, and the store's revision when it was read.
public struct RangeOutcome: Sendable, Equatable {
    public var entries: [KVEntry]
    public var hasMore: Bool
    public var revision: UInt64
    public init(entries: [KVEntry], hasMore: Bool, revision: UInt64) {
        self.entries = entries
        self.hasMore = hasMore
        self.revision = revision
    }
}

extension NodeService {
    // Services without revisions (the HTTP tests' in-memory fake) answer these as unsupported.
    public func readEntry(
        key: [UInt8], revision: UInt64?, consistency: ReadConsistency, deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> EntryOutcome {
        throw .internalError(message: "this service keeps no revisions")
    }
    public func readRange(
        _ range: KVKeyRange, after: [UInt8]?, revision: UInt64?, limit: Int, consistency: ReadConsistency,
        deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> RangeOutcome {
        throw .internalError(message: "this service keeps no revisions")
    }
    public func execute(_ request: KVRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> KVResult {
        throw .internalError(message: "this service keeps no revisions")
    }
    public func lease(_ id: Int64, renew: Bool, deadline: ContinuousClock.Instant) async throws(NodeError) -> LeaseStatus {
        throw .internalError(message: "this service keeps no leases")
    }
    public func leases(consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> [LeaseStatus]
    {
        throw .internalError(message: "this service keeps no leases")
    }
    public func currentRevision() async -> UInt64 { 0 }
    public func openWatch(_ request: WatchRequest) async throws(WatchOpenError) -> WatchStream {
        throw .notServing(message: "this service keeps no revisions")
    }
    public func memberStatus() async -> MemberStatus {
        MemberStatus(
            clusterID: 0, memberID: 0, term: 0, revision: 0, leaderID: 0, commitIndex: 0, appliedIndex: 0, storeBytes: 0,
            quotaBytes: 0, isLearner: false, members: [])
    }
    public func storeSnapshot(deadline: ContinuousClock.Instant) async throws(NodeError) -> StoreSnapshot {
        throw .internalError(message: "this service keeps no store")
    }
    public func responseHeaderNumbers() -> ResponseHeaderNumbers {
        ResponseHeaderNumbers(clusterID: 0, memberID: 0, term: 0, revision: 0)
    }
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
    /// `?lease=ID` on a put: the lease the key is attached to (0: none).
    public var lease: Int64

    public init(key: String, operation: Operation, condition: Condition = .none, lease: Int64 = 0) {
        self.key = key
        self.operation = operation
        self.condition = condition
        self.lease = lease
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
