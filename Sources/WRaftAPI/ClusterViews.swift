import NIOCore

// The JSON bodies of the cluster endpoints (/state, /health, /connect, /start, /members/remove,
// /log, /op/...). The server writes each with `encodedJSON()`, naming every field by the type's
// own `CodingKeys`; the client reads it with the synthesized `Decodable`.

/// One member as `/state` and `/connect` show it.
public struct MemberView: Sendable, Equatable, Codable {
    public var id: String
    public var raftAddress: String
    public var httpAddress: String
    public var voter: Bool
    /// Reported by the leader only.
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

    /// The leader-only fields appear only where known.
    func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field(CodingKeys.id, id)
        writer.field(CodingKeys.raftAddress, raftAddress)
        writer.field(CodingKeys.httpAddress, httpAddress)
        writer.field(CodingKeys.voter, voter)
        if let matchIndex { writer.field(CodingKeys.matchIndex, matchIndex) }
        if let nextIndex { writer.field(CodingKeys.nextIndex, nextIndex) }
        if let lastContactMs { writer.field(CodingKeys.lastContactMs, lastContactMs) }
        writer.endObject()
    }

    static func write(_ members: [MemberView], into writer: inout JSONWriter) {
        writer.beginArray()
        for member in members { member.write(into: &writer) }
        writer.endArray()
    }
}

/// The leader as `/state` shows it.
public struct LeaderView: Sendable, Equatable, Codable {
    public var id: String
    public var raftAddress: String
    public var httpAddress: String

    public init(id: String, raftAddress: String, httpAddress: String) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
    }

    func write(into writer: inout JSONWriter) {
        writer.beginObject()
        writer.field(CodingKeys.id, id)
        writer.field(CodingKeys.raftAddress, raftAddress)
        writer.field(CodingKeys.httpAddress, httpAddress)
        writer.endObject()
    }
}

/// The body of `GET /state`: one node's view of itself and its cluster.
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
    /// The number of keys in this node's state machine.
    public var keys: Int
    /// Active injected faults, e.g. `["paused", "isolated:…", "delay:50±20ms", "drop:0.2"]`.
    public var faults: [String]
    public var members: [MemberView]

    public init(
        id: String, clusterID: String? = nil, raftAddress: String = "", httpAddress: String = "", status: String,
        role: String? = nil, term: UInt64 = 0, votedFor: String? = nil, leader: LeaderView? = nil,
        commitIndex: UInt64 = 0, appliedIndex: UInt64 = 0, lastLogIndex: UInt64 = 0, snapshotIndex: UInt64 = 0,
        keys: Int = 0, faults: [String] = [], members: [MemberView] = []
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

    /// True when this node is `running` and believes it is the leader.
    public var isLeader: Bool { status == "running" && role == "leader" }

    /// The body, field for field as API.md names them; absent values are `null`.
    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 512 + 200 * members.count) { writer in
            writer.field(CodingKeys.id, id)
            writer.field(CodingKeys.clusterID, clusterID)
            writer.field(CodingKeys.raftAddress, raftAddress)
            writer.field(CodingKeys.httpAddress, httpAddress)
            writer.field(CodingKeys.status, status)
            writer.field(CodingKeys.role, role)
            writer.field(CodingKeys.term, term)
            writer.field(CodingKeys.votedFor, votedFor)
            writer.key(CodingKeys.leader)
            if let leader { leader.write(into: &writer) } else { writer.null() }
            writer.field(CodingKeys.commitIndex, commitIndex)
            writer.field(CodingKeys.appliedIndex, appliedIndex)
            writer.field(CodingKeys.lastLogIndex, lastLogIndex)
            writer.field(CodingKeys.snapshotIndex, snapshotIndex)
            writer.field(CodingKeys.keys, keys)
            writer.key(CodingKeys.faults)
            writer.beginArray()
            for fault in faults { writer.string(fault) }
            writer.endArray()
            writer.key(CodingKeys.members)
            MemberView.write(members, into: &writer)
        }
    }
}

/// The body of `GET /health`: 200 when the node is healthy (it serves and knows a leader);
/// 503 with the same fields, `reason`, and an error's `error` and `message` when not.
public struct HealthView: Sendable, Equatable, Codable {
    /// Why a node is not healthy (the `reason` field).
    public enum Reason {
        /// The node is `initial`, `starting` or `stopped`: not a running member.
        public static let notRunning = "not_running"
        /// The node is paused by `/op/pause`.
        public static let paused = "paused"
        /// The node runs but knows no leader (an election is under way, or it is cut off from a
        /// majority: check-quorum and pre-vote make a cut-off member drop its leader).
        public static let noLeader = "no_leader"
    }

    /// True when the node serves (it is `running` and not paused).
    public var serving: Bool
    public var status: String
    public var role: String?
    /// True when the node serves and knows a leader: `/health` answers 200.
    public var health: Bool
    /// Why `health` is false (`Reason`); nil when healthy.
    public var reason: String?

    /// `health` defaults to `serving`; `reason` of an unhealthy view to `paused` for a running
    /// node and `not_running` for another.
    public init(serving: Bool, status: String, role: String?, health: Bool? = nil, reason: String? = nil) {
        self.serving = serving
        self.status = status
        self.role = role
        let isHealthy = health ?? serving
        self.health = isHealthy
        self.reason = isHealthy ? nil : (reason ?? (status == "running" ? Reason.paused : Reason.notRunning))
    }

    /// The error code of an unhealthy answer: `no_leader`, else `not_serving`.
    public var errorCode: ErrorCode? {
        guard !health else { return nil }
        return reason == Reason.noLeader ? .noLeader : .notServing
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { writer in
            writer.field(CodingKeys.serving, serving)
            writer.field(CodingKeys.status, status)
            writer.field(CodingKeys.role, role)
            writer.field(CodingKeys.health, health)
            writer.field(CodingKeys.reason, reason)
            if let errorCode {
                writer.field(ErrorBody.CodingKeys.error, errorCode.wireString)
                let message =
                    errorCode == .noLeader
                    ? "the node is running but knows no leader" : "the node is \(status) and does not serve requests"
                writer.field(ErrorBody.CodingKeys.message, message)
            }
        }
    }
}

/// The body of a `/connect` answer: the member list after the merge or the join.
public struct ConnectView: Sendable, Equatable, Codable {
    public enum Result: String, Sendable, Equatable, Codable {
        /// Both nodes were `initial`: their member lists were merged.
        case merged
        /// This empty node joined the peer's running cluster.
        case joined
    }

    public var result: Result
    /// The cluster joined; nil after a merge (the cluster id is made at `/start`).
    public var clusterID: String?
    public var members: [MemberView]

    public init(result: Result, clusterID: String?, members: [MemberView]) {
        self.result = result
        self.clusterID = clusterID
        self.members = members
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 64 + 200 * members.count) { writer in
            writer.field(CodingKeys.result, result.rawValue)
            if let clusterID { writer.field(CodingKeys.clusterID, clusterID) }
            writer.key(CodingKeys.members)
            MemberView.write(members, into: &writer)
        }
    }
}

/// The body of a `/start` answer: `{"started": true}` once the node has started.
public struct StartedView: Sendable, Equatable, Codable {
    public var started: Bool

    public init(started: Bool) { self.started = started }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { $0.field(CodingKeys.started, started) }
    }
}

/// The body of a `/members/remove` answer: `{"removed": id}` once the change applied.
public struct RemovedView: Sendable, Equatable, Codable {
    public var removed: String

    public init(removed: String) { self.removed = removed }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { $0.field(CodingKeys.removed, removed) }
    }
}

/// The answer of `POST /members/promote`: `{"promoted": id}` once the learner is a voter.
public struct PromotedView: Sendable, Equatable, Codable {
    public var promoted: String

    public init(promoted: String) { self.promoted = promoted }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { $0.field(CodingKeys.promoted, promoted) }
    }
}

/// The faults of `POST /op/{name}`; the raw value is the path component.
public enum FaultName: String, Sendable, Equatable, CaseIterable, Codable {
    case pause, resume, isolate, delay, drop, heal, crash
    case stepDown = "step-down"
    case transfer, snapshot
    /// Stop this node's Raft clock (no ticks: no heartbeats, no election timeouts) until
    /// `release`; messages still flow. The dashboard freezes every member to look at one moment.
    case freeze, release
}

/// The body of an `/op/...` answer: `{"op": name, "ok": true}`.
public struct FaultInjectedView: Sendable, Equatable, Codable {
    public var op: FaultName
    public var ok: Bool

    public init(op: FaultName, ok: Bool) {
        self.op = op
        self.ok = ok
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { writer in
            writer.field(CodingKeys.op, op.rawValue)
            writer.field(CodingKeys.ok, ok)
        }
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

        func write(into writer: inout JSONWriter) {
            writer.beginObject()
            writer.field(CodingKeys.index, index)
            writer.field(CodingKeys.term, term)
            writer.field(CodingKeys.type, type)
            writer.field(CodingKeys.summary, summary)
            writer.endObject()
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

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 64 + 80 * entries.count) { writer in
            writer.field(CodingKeys.snapshotIndex, snapshotIndex)
            writer.field(CodingKeys.snapshotTerm, snapshotTerm)
            writer.key(CodingKeys.entries)
            writer.beginArray()
            for entry in entries { entry.write(into: &writer) }
            writer.endArray()
        }
    }
}
