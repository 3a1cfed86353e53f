/// A message between two Raft nodes. The core produces them in `Ready.messages` and consumes
/// them with `RaftNode.step(_:)`; the transport carries them unchanged.
public struct Message: Sendable, Equatable {
    public var from: NodeID
    public var to: NodeID
    /// The sender's term. For a pre-vote request it is the term the sender *would* campaign in
    /// (its own term is not raised by a pre-vote); for a pre-vote response it echoes the request.
    public var term: Term
    public var payload: Payload

    public init(from: NodeID, to: NodeID, term: Term, payload: Payload) {
        self.from = from
        self.to = to
        self.term = term
        self.payload = payload
    }
}

/// The kinds of Raft messages and what each carries.
public enum Payload: Sendable, Equatable {
    /// RequestVote (or its pre-vote form, dissertation 9.6).
    case voteRequest(VoteRequest)
    case voteResponse(VoteResponse)
    /// AppendEntries carrying entries (possibly none, when probing).
    case append(AppendRequest)
    case appendResponse(AppendResponse)
    /// A heartbeat: keeps followers from campaigning, carries the commit index, and confirms
    /// leadership for ReadIndex rounds.
    case heartbeat(HeartbeatRequest)
    case heartbeatResponse(HeartbeatResponse)
    /// InstallSnapshot: the snapshot's bytes travel beside the message (the runtime streams them);
    /// the core only names which snapshot.
    case installSnapshot(SnapshotMetadata)
    /// Leadership transfer: the target starts an election at once, skipping pre-vote
    /// (dissertation 3.10).
    case timeoutNow
    /// Proposals a follower forwards to its leader. Only `term`-less fields of the entries are
    /// meaningful (kind and data); the leader assigns index and term.
    case propose([Entry])
    /// A follower asks the leader for a read index on behalf of a local read request.
    case readIndexRequest(ReadRequestID)
    /// The leader's answer: the read index, or nil when it cannot serve reads (not leader, or no
    /// entry of its term committed yet).
    case readIndexResponse(ReadRequestID, LogIndex?)
}

public struct VoteRequest: Sendable, Equatable {
    public var lastLogIndex: LogIndex
    public var lastLogTerm: Term
    public var isPreVote: Bool
    /// Set when the election follows a TimeoutNow: voters ignore their leader lease for it.
    public var isLeadershipTransfer: Bool

    public init(lastLogIndex: LogIndex, lastLogTerm: Term, isPreVote: Bool, isLeadershipTransfer: Bool) {
        self.lastLogIndex = lastLogIndex
        self.lastLogTerm = lastLogTerm
        self.isPreVote = isPreVote
        self.isLeadershipTransfer = isLeadershipTransfer
    }
}

public struct VoteResponse: Sendable, Equatable {
    public var isGranted: Bool
    public var isPreVote: Bool

    public init(isGranted: Bool, isPreVote: Bool) {
        self.isGranted = isGranted
        self.isPreVote = isPreVote
    }
}

public struct AppendRequest: Sendable, Equatable {
    /// Index and term of the entry just before `entries`.
    public var previousIndex: LogIndex
    public var previousTerm: Term
    public var entries: [Entry]
    /// The leader's commit index.
    public var commit: LogIndex

    public init(previousIndex: LogIndex, previousTerm: Term, entries: [Entry], commit: LogIndex) {
        self.previousIndex = previousIndex
        self.previousTerm = previousTerm
        self.entries = entries
        self.commit = commit
    }
}

public struct AppendResponse: Sendable, Equatable {
    /// On success: the index up to which the follower's log now matches the leader's.
    /// On rejection: the `previousIndex` of the rejected request.
    public var index: LogIndex
    public var isRejected: Bool
    /// On rejection, the fast-backtracking hint (dissertation 5.3, etcd's findConflictByTerm):
    /// the leader should retry from at most `hintIndex`, whose term on the follower is `hintTerm`.
    public var hintIndex: LogIndex
    public var hintTerm: Term

    public init(index: LogIndex, isRejected: Bool = false, hintIndex: LogIndex = .zero, hintTerm: Term = .zero) {
        self.index = index
        self.isRejected = isRejected
        self.hintIndex = hintIndex
        self.hintTerm = hintTerm
    }
}

public struct HeartbeatRequest: Sendable, Equatable {
    /// min(leader commit, the follower's match index): never tells a follower to commit
    /// something it may not have.
    public var commit: LogIndex
    /// The leader's ReadIndex confirmation round this heartbeat belongs to (0: none).
    public var readRound: UInt64

    public init(commit: LogIndex, readRound: UInt64 = 0) {
        self.commit = commit
        self.readRound = readRound
    }
}

public struct HeartbeatResponse: Sendable, Equatable {
    public var readRound: UInt64
    public init(readRound: UInt64 = 0) { self.readRound = readRound }
}

/// Identifies a linearizable read request on the node that asked for it.
/// Unique per requesting node; the leader keys pending reads by (requester, id).
public struct ReadRequestID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

/// A read that became safe: once the state machine has applied `index`, the read identified by
/// `id` may be served from it and is linearizable.
public struct ReadState: Sendable, Equatable {
    public var id: ReadRequestID
    public var index: LogIndex
    public init(id: ReadRequestID, index: LogIndex) {
        self.id = id
        self.index = index
    }
}
