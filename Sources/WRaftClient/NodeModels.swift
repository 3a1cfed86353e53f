import Foundation

// Mirrors of the JSON bodies of shared/API.md. They decode leniently (a missing optional field
// takes its default) so a client keeps working against a node that adds fields.

/// A member of the cluster as a node reports it in `/state`.
public struct MemberInfo: Sendable, Equatable, Codable {
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

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        raftAddress = try container.decodeIfPresent(String.self, forKey: .raftAddress) ?? ""
        httpAddress = try container.decodeIfPresent(String.self, forKey: .httpAddress) ?? ""
        voter = try container.decodeIfPresent(Bool.self, forKey: .voter) ?? true
        matchIndex = try container.decodeIfPresent(UInt64.self, forKey: .matchIndex)
        nextIndex = try container.decodeIfPresent(UInt64.self, forKey: .nextIndex)
        lastContactMs = try container.decodeIfPresent(Int.self, forKey: .lastContactMs)
    }
}

/// The leader as a node knows it.
public struct LeaderInfo: Sendable, Equatable, Codable {
    public var id: String
    public var raftAddress: String
    public var httpAddress: String

    public init(id: String, raftAddress: String, httpAddress: String) {
        self.id = id
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        raftAddress = try container.decodeIfPresent(String.self, forKey: .raftAddress) ?? ""
        httpAddress = try container.decodeIfPresent(String.self, forKey: .httpAddress) ?? ""
    }
}

/// The body of `GET /state`: one node's view of itself and its cluster.
public struct NodeState: Sendable, Equatable, Codable {
    public var id: String
    public var clusterID: String?
    public var raftAddress: String
    public var httpAddress: String
    /// `initial` or `running`.
    public var status: String
    /// `follower`, `candidate`, `leader`, `learner`...; nil while `initial`.
    public var role: String?
    public var term: UInt64
    public var votedFor: String?
    public var leader: LeaderInfo?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastLogIndex: UInt64
    public var snapshotIndex: UInt64
    /// The number of keys in this node's state machine.
    public var keys: Int
    /// Active injected faults.
    public var faults: [String]
    public var members: [MemberInfo]

    public init(
        id: String, clusterID: String? = nil, raftAddress: String = "", httpAddress: String = "",
        status: String, role: String? = nil, term: UInt64 = 0, votedFor: String? = nil, leader: LeaderInfo? = nil,
        commitIndex: UInt64 = 0, appliedIndex: UInt64 = 0, lastLogIndex: UInt64 = 0, snapshotIndex: UInt64 = 0,
        keys: Int = 0, faults: [String] = [], members: [MemberInfo] = []
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

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        clusterID = try container.decodeIfPresent(String.self, forKey: .clusterID)
        raftAddress = try container.decodeIfPresent(String.self, forKey: .raftAddress) ?? ""
        httpAddress = try container.decodeIfPresent(String.self, forKey: .httpAddress) ?? ""
        status = try container.decode(String.self, forKey: .status)
        role = try container.decodeIfPresent(String.self, forKey: .role)
        term = try container.decodeIfPresent(UInt64.self, forKey: .term) ?? 0
        votedFor = try container.decodeIfPresent(String.self, forKey: .votedFor)
        leader = try container.decodeIfPresent(LeaderInfo.self, forKey: .leader)
        commitIndex = try container.decodeIfPresent(UInt64.self, forKey: .commitIndex) ?? 0
        appliedIndex = try container.decodeIfPresent(UInt64.self, forKey: .appliedIndex) ?? 0
        lastLogIndex = try container.decodeIfPresent(UInt64.self, forKey: .lastLogIndex) ?? 0
        snapshotIndex = try container.decodeIfPresent(UInt64.self, forKey: .snapshotIndex) ?? 0
        keys = try container.decodeIfPresent(Int.self, forKey: .keys) ?? 0
        faults = try container.decodeIfPresent([String].self, forKey: .faults) ?? []
        members = try container.decodeIfPresent([MemberInfo].self, forKey: .members) ?? []
    }

    /// True when this node is `running` and believes it is the leader.
    public var isLeader: Bool { status == "running" && role == "leader" }
}

/// The body of `GET /health`.
public struct HealthInfo: Sendable, Equatable, Codable {
    public var serving: Bool
    public var status: String
    public var role: String?

    public init(serving: Bool, status: String, role: String?) {
        self.serving = serving
        self.status = status
        self.role = role
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        serving = try container.decodeIfPresent(Bool.self, forKey: .serving) ?? false
        status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
        role = try container.decodeIfPresent(String.self, forKey: .role)
    }
}

/// The answer to an applied write (`PUT`/`DELETE /data/{key}`, `POST /set`).
public struct WriteResult: Sendable, Equatable, Codable {
    public var key: String
    /// The log index of the entry that carried the write.
    public var index: UInt64
    public var term: UInt64
    /// For deletes: whether the key existed.
    public var deleted: Bool?

    public init(key: String, index: UInt64, term: UInt64, deleted: Bool? = nil) {
        self.key = key
        self.index = index
        self.term = term
        self.deleted = deleted
    }
}

/// A key's value and the log position that last modified it (`GET /data/{key}`).
public struct ReadResult: Sendable, Equatable {
    public var value: [UInt8]
    /// `X-Raft-Index`: the index of the entry that last modified the key.
    public var index: UInt64
    /// `X-Raft-Term`.
    public var term: UInt64

    public init(value: [UInt8], index: UInt64, term: UInt64) {
        self.value = value
        self.index = index
        self.term = term
    }

    /// The value as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: value, as: UTF8.self) }
}

/// The body of `GET /data?prefix=&limit=`.
public struct ListResult: Sendable, Equatable, Codable {
    public struct Item: Sendable, Equatable, Codable {
        public var key: String
        /// The value as the node sent it: UTF-8 text, or base64 when `encoding` is `base64`.
        public var value: String
        public var index: UInt64
        /// `base64` for a value that is not valid UTF-8; nil for text.
        public var encoding: String?

        public init(key: String, value: String, index: UInt64, encoding: String? = nil) {
            self.key = key
            self.value = value
            self.index = index
            self.encoding = encoding
        }

        /// The value's bytes (base64 decoded when needed; nil if that base64 is invalid).
        public var valueBytes: [UInt8]? {
            guard encoding == "base64" else { return Array(value.utf8) }
            return Data(base64Encoded: value).map { Array($0) }
        }
    }
    public var items: [Item]
    /// True when more keys with the prefix follow the last one returned.
    public var more: Bool
    /// With `more`: the opaque continuation cursor of the next page (`?cursor=`); nil from a
    /// node that pages by `limit` only.
    public var next: String?

    public init(items: [Item], more: Bool, next: String? = nil) {
        self.items = items
        self.more = more
        self.next = next
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        items = try container.decodeIfPresent([Item].self, forKey: .items) ?? []
        more = try container.decodeIfPresent(Bool.self, forKey: .more) ?? false
        next = try container.decodeIfPresent(String.self, forKey: .next)
    }
}

/// The body of `GET /log`.
public struct LogResult: Sendable, Equatable, Codable {
    public struct Item: Sendable, Equatable, Codable {
        public var index: UInt64
        public var term: UInt64
        /// `command`, `noop` or `membership`.
        public var type: String
        public var summary: String

        public init(index: UInt64, term: UInt64, type: String, summary: String) {
            self.index = index
            self.term = term
            self.type = type
            self.summary = summary
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            index = try container.decode(UInt64.self, forKey: .index)
            term = try container.decode(UInt64.self, forKey: .term)
            type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
            summary = try container.decodeIfPresent(String.self, forKey: .summary) ?? ""
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

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        snapshotIndex = try container.decodeIfPresent(UInt64.self, forKey: .snapshotIndex) ?? 0
        snapshotTerm = try container.decodeIfPresent(UInt64.self, forKey: .snapshotTerm) ?? 0
        entries = try container.decodeIfPresent([Item].self, forKey: .entries) ?? []
    }
}

/// The body of a `/connect` answer: the member list after the merge or the join.
public struct ConnectResult: Sendable, Equatable, Codable {
    public var clusterID: String?
    public var members: [MemberInfo]

    public init(clusterID: String?, members: [MemberInfo]) {
        self.clusterID = clusterID
        self.members = members
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clusterID = try container.decodeIfPresent(String.self, forKey: .clusterID)
        members = try container.decodeIfPresent([MemberInfo].self, forKey: .members) ?? []
    }
}

/// How `GET /data` reads.
public enum ReadConsistency: String, Sendable, Equatable, CaseIterable {
    /// ReadIndex through the leader (the default).
    case linearizable
    /// This node's state machine as it is: may be stale, works without a leader.
    case local
}

/// A compare-and-set condition of a write.
public enum WriteCondition: Sendable, Equatable {
    /// `?prevValue=V`: the key exists and holds exactly this value (UTF-8 text in the query).
    case valueEquals(String)
    /// `?prevIndex=N`: the index that last modified the key is N (0: the key does not exist).
    case indexEquals(UInt64)
}

/// The faults of `POST /op/...`, acting on the node addressed.
public enum Fault: Sendable, Equatable {
    case pause
    case resume
    /// Drop raft traffic to and from these member ids (nil: every peer).
    case isolate(peers: [String]?)
    case delay(ms: Int, jitterMs: Int)
    case drop(rate: Double)
    case heal
    case crash
    case stepDown
    case transfer(to: String)
    case snapshot

    /// The path under `/op/`.
    var pathComponent: String {
        switch self {
        case .pause: "pause"
        case .resume: "resume"
        case .isolate: "isolate"
        case .delay: "delay"
        case .drop: "drop"
        case .heal: "heal"
        case .crash: "crash"
        case .stepDown: "step-down"
        case .transfer: "transfer"
        case .snapshot: "snapshot"
        }
    }
}
