/// The tunables of one Raft node. Every bound is named here and checked once, by `validate()`.
///
/// Time is counted in ticks: the runtime calls `RaftNode.tick()` every `tickInterval` of its
/// clock (WRaft: 10 ms, so the defaults below are a 100 ms heartbeat and a 300-450 ms election
/// timeout, as in the original WRaft).
public struct Config: Sendable, Equatable {
    /// This node's identity.
    public var id: NodeID
    /// A follower that hears nothing from a leader for a randomized timeout in
    /// `electionTimeoutTicks ..< electionTimeoutTicks + electionTimeoutJitterTicks` campaigns.
    public var electionTimeoutTicks: Int = 30
    public var electionTimeoutJitterTicks: Int = 15
    /// A leader sends heartbeats every `heartbeatTicks`.
    public var heartbeatTicks: Int = 10
    /// Run a pre-vote round before raising the term (dissertation 9.6).
    public var isPreVoteEnabled: Bool = true
    /// A leader steps down when it has not heard from a quorum within an election timeout, and
    /// followers that heard from a leader within one ignore vote requests (leader lease).
    public var isCheckQuorumEnabled: Bool = true
    /// The most append messages in flight (unacknowledged) to one follower while replicating.
    public var inflightMessagesMax: Int = 256
    /// The most entry bytes one append message carries (at least one entry is always sent).
    public var messageBytesMax: Int = 1 << 20
    /// The most bytes of proposed but uncommitted entries a leader holds; past it proposals are
    /// refused with `ProposalError.overloaded` (the client gets 503 and retries).
    public var uncommittedBytesMax: Int = 64 << 20
    /// The most bytes of committed entries handed out in one `Ready` for applying.
    public var committedBytesPerReadyMax: Int = 8 << 20
    /// How long a leader may wait, in ticks, before telling followers of a commit that no append
    /// has carried to them yet (0: at once, in the next `ready()`, as etcd-raft does).
    ///
    /// Every append carries the leader's commit index, so under a steady stream of writes, even
    /// from one client, the next write's append tells the followers; only the last commit of a
    /// burst waits, at most this long, and its empty append goes out then. Telling them at once
    /// instead costs each write a second message and acknowledgement per follower, and a
    /// second Ready on every member, when the pipeline runs nearly empty. Nothing waits for
    /// followers to learn a commit but their own applying (a follower's stale `local` read, its
    /// read-index read, which learns the commit from the read round's heartbeat anyway).
    public var commitBroadcastDelayTicks: Int = 0
    /// Seeds the node's random generator (election timeout jitter). The simulator passes a
    /// per-node seed so a whole cluster replays from one number.
    public var randomSeed: UInt64 = 0

    public init(id: NodeID) {
        self.id = id
    }

    /// Checks every bound; the core refuses to start on a configuration that fails.
    public func validate() throws(ConfigError) {
        guard id.rawValue != 0 else { throw .invalid("id must not be 0") }
        guard heartbeatTicks >= 1 else { throw .invalid("heartbeatTicks must be >= 1") }
        guard electionTimeoutTicks > heartbeatTicks else {
            throw .invalid("electionTimeoutTicks (\(electionTimeoutTicks)) must exceed heartbeatTicks (\(heartbeatTicks))")
        }
        guard electionTimeoutJitterTicks >= 1 else { throw .invalid("electionTimeoutJitterTicks must be >= 1") }
        guard inflightMessagesMax >= 1 else { throw .invalid("inflightMessagesMax must be >= 1") }
        guard messageBytesMax >= 1 else { throw .invalid("messageBytesMax must be >= 1") }
        guard uncommittedBytesMax >= messageBytesMax else {
            throw .invalid("uncommittedBytesMax must be >= messageBytesMax")
        }
        guard (0...heartbeatTicks).contains(commitBroadcastDelayTicks) else {
            throw .invalid("commitBroadcastDelayTicks (\(commitBroadcastDelayTicks)) must be in 0...heartbeatTicks (\(heartbeatTicks))")
        }
        guard committedBytesPerReadyMax >= 1 else { throw .invalid("committedBytesPerReadyMax must be >= 1") }
    }
}

/// A configuration that `Config.validate()` refused.
/// Also thrown when the persisted state handed to `RaftNode.init` cannot be a Raft log.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    case invalidPersistentState(String)
    public var description: String {
        switch self {
        case .invalid(let why): return "invalid raft configuration: \(why)"
        case .invalidPersistentState(let why): return "invalid persisted raft state: \(why)"
        }
    }
}

/// Why a proposal (command, membership change, transfer) was refused. None of these is a bug:
/// the caller retries elsewhere or later.
public enum ProposalError: Error, Equatable, Sendable {
    /// No leader is known to forward to.
    case noLeader
    /// A leadership transfer is in progress; proposals wait until it ends.
    case transferInProgress
    /// Another membership change is appended but not yet committed.
    case membershipChangePending
    /// The change would do nothing, or is not a single-server change.
    case invalidMembershipChange(String)
    /// The leader holds too many uncommitted bytes; retry later.
    case overloaded
    /// This node is not the leader and the operation must run on the leader.
    case notLeader(leader: NodeID?)
    /// The node named is not a member.
    case unknownMember(NodeID)
    /// This node is not a member of the cluster (removed, or not yet added).
    case notMember
}
