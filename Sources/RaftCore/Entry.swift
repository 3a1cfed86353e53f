/// One entry of the replicated log.
public struct Entry: Sendable, Equatable {
    /// What an entry carries.
    public enum Kind: UInt8, Sendable {
        /// An application command (opaque bytes, applied to the state machine).
        case command = 0
        /// The empty entry a new leader appends to commit an entry of its own term
        /// (dissertation 6.4). Its `data` is empty.
        case noop = 1
        /// A membership change: `data` is an encoded `MembershipChange` (the full new configuration).
        case membership = 2
    }

    public var term: Term
    public var index: LogIndex
    public var kind: Kind
    public var data: [UInt8]

    public init(term: Term, index: LogIndex, kind: Kind = .command, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }

    /// The bytes this entry weighs for flow control (payload plus a fixed header estimate).
    public var byteCount: Int { data.count + Entry.headerBytesEstimate }

    /// The per-entry overhead counted by flow control and size limits.
    public static let headerBytesEstimate = 24
}

/// A member set: who votes, and who only receives the log (learners).
///
/// Invariant: `voters` and `learners` are disjoint.
public struct Membership: Sendable, Equatable, Hashable {
    public var voters: Set<NodeID>
    public var learners: Set<NodeID>

    public init(voters: Set<NodeID> = [], learners: Set<NodeID> = []) {
        precondition(voters.isDisjoint(with: learners), "Membership: voters and learners are disjoint")
        self.voters = voters
        self.learners = learners
    }

    public static let empty = Membership()

    /// Every member, voters and learners.
    public var members: Set<NodeID> { voters.union(learners) }
    public func contains(_ id: NodeID) -> Bool { voters.contains(id) || learners.contains(id) }
    public func isVoter(_ id: NodeID) -> Bool { voters.contains(id) }
    public var isEmpty: Bool { voters.isEmpty && learners.isEmpty }
    /// The majority rules over the voters (learners never count).
    var quorum: Quorum { Quorum(voters: voters) }
}

/// A single-server membership change (dissertation 4.1): at most one member differs between
/// the old and the new configuration's voters.
public struct ConfigChange: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// Add a non-voting member that receives the log and catches up.
        case addLearner = 0
        /// Make a member a voter (promote a learner, or add a new voter directly).
        case addVoter = 1
        /// Remove a member (voter or learner), the leader included.
        case remove = 2
    }

    public var kind: Kind
    public var node: NodeID

    public init(_ kind: Kind, _ node: NodeID) {
        self.kind = kind
        self.node = node
    }

    /// The configuration that results from applying this change to `membership`, or nil when the
    /// change would do nothing (adding what is there, removing what is not).
    public func applied(to membership: Membership) -> Membership? {
        var result = membership
        switch kind {
        case .addLearner:
            guard !membership.contains(node) else { return nil }
            result.learners.insert(node)
        case .addVoter:
            guard !membership.isVoter(node) else { return nil }
            result.learners.remove(node)
            result.voters.insert(node)
        case .remove:
            guard membership.contains(node) else { return nil }
            result.voters.remove(node)
            result.learners.remove(node)
        }
        return result
    }
}

/// The payload of an `Entry.Kind.membership` entry: the full configuration in force from this
/// entry on (a configuration takes effect when appended, dissertation 4.1), the change that led
/// to it (nil for the bootstrap configuration), and opaque application context (WRaft puts the
/// members' addresses there).
public struct MembershipChange: Sendable, Equatable {
    public var membership: Membership
    public var change: ConfigChange?
    public var context: [UInt8]

    public init(membership: Membership, change: ConfigChange?, context: [UInt8] = []) {
        self.membership = membership
        self.change = change
        self.context = context
    }
}

/// What must survive a crash besides the log: the current term, the vote cast in it, and the
/// highest index known committed.
///
/// Invariant: `commit <= lastIndex` of the log it was persisted with.
public struct HardState: Sendable, Equatable {
    public var term: Term
    public var votedFor: NodeID?
    public var commit: LogIndex

    public init(term: Term = .zero, votedFor: NodeID? = nil, commit: LogIndex = .zero) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }

    public static let initial = HardState()
}

/// Describes a snapshot: the state machine after applying every entry up to `index` (whose term
/// is `term`), and the configuration in force at that index. The snapshot's bytes are the
/// application's; the core only ever sees this metadata.
public struct SnapshotMetadata: Sendable, Equatable {
    public var index: LogIndex
    public var term: Term
    public var membership: Membership
    /// The application context of the membership entry in force at `index` (addresses).
    public var membershipContext: [UInt8]

    public init(index: LogIndex, term: Term, membership: Membership, membershipContext: [UInt8] = []) {
        self.index = index
        self.term = term
        self.membership = membership
        self.membershipContext = membershipContext
    }

    /// The state before any entry: index 0, term 0, no members.
    public static let empty = SnapshotMetadata(index: .zero, term: .zero, membership: .empty)
}
