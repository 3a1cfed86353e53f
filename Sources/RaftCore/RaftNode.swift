import WRaftSupport

/// One Raft participant as a pure state machine (Raft paper and Ongaro's dissertation).
///
/// It does no I/O and reads no clock: the runtime calls `tick()` on a timer, hands peer messages
/// to `step(_:)` and client requests to `propose`, `requestRead`, `proposeMembershipChange` and
/// `transferLeadership`, then collects the resulting work with `ready()` and reports it done with
/// `advance(_:)` (see `Ready` for the order). It is a non-Sendable value owned by one actor.
///
/// Features: pre-vote and check-quorum with leader lease, pipelined replication with a bounded
/// in-flight window per follower and fast backtracking, single-server membership changes with
/// learners, ReadIndex reads, leadership transfer, snapshots.
public struct RaftNode {
    public let config: Config

    // MARK: Persistent state (Figure 2), handed out for persistence through `Ready.hardState`.
    /// Invariant: never decreases.
    var term: Term
    var votedFor: NodeID?
    var log: RaftLog

    // MARK: Volatile state
    var role: Role = .follower
    var leader: NodeID?
    /// The configuration in force (the latest membership entry in the log, dissertation 4.1).
    var membership: Membership
    /// The context (addresses) of that membership entry, and its index.
    var membershipContext: [UInt8]
    var membershipIndex: LogIndex

    /// Ticks since the last election timeout reset (followers, candidates) or since the last
    /// check-quorum round (leaders).
    var electionElapsedTicks = 0
    var heartbeatElapsedTicks = 0
    var randomizedElectionTimeoutTicks: Int
    var random: SplitMix64

    /// Votes received in the current (pre-)election, by voter.
    var votes: [NodeID: Bool] = [:]

    // MARK: Leader state
    var progress: [NodeID: Progress] = [:]
    /// The target of an ongoing leadership transfer.
    var transferee: NodeID?
    /// Bytes of entries this leader appended that are not yet committed (bounded).
    var uncommittedBytes = 0
    var reads = ReadIndexQueue()
    /// Appends wait to be sent until the next `ready()`, so every proposal made between two
    /// batches travels in one message per follower.
    var isAppendBroadcastPending = false
    /// The commit index moved and some follower was not told yet: an empty append tells it at
    /// the next `ready()` (`commitBroadcastDelayTicks` 0) or once the delay has passed, unless
    /// appends with entries reach every follower first.
    var isCommitBroadcastPending = false {
        didSet { if !isCommitBroadcastPending { commitBroadcastWaitedTicks = 0 } }
    }
    /// Ticks `isCommitBroadcastPending` has been true (at most `commitBroadcastDelayTicks`).
    var commitBroadcastWaitedTicks = 0
    /// The last index of entries each follower forwarded (`propose`) that it may still wait to
    /// see committed; at most one per member. A commit reaching one is told at once.
    var forwardedThrough: [NodeID: LogIndex] = [:]
    /// Whether the pending commit must go out at the next `ready()`: no delay is configured, or
    /// a follower waits for entries it forwarded.
    var isCommitBroadcastDue: Bool {
        guard isCommitBroadcastPending else { return false }
        return config.commitBroadcastDelayTicks == 0 || forwardedThrough.values.contains { $0 <= log.committedIndex }
    }

    // MARK: Output, drained by `ready()`
    var outbox: [Message] = []
    var readStates: [ReadState] = []
    /// A snapshot received from the leader, to be persisted and installed.
    var pendingSnapshot: SnapshotMetadata?
    /// The hard state as of the last `Ready` handed out.
    var lastReadyHardState: HardState
    /// The number of Readys handed out and not yet advanced.
    public internal(set) var outstandingReadyCount = 0
    /// A Ready carrying a received snapshot is outstanding: nothing more is handed out until it
    /// is advanced.
    var isSnapshotReadyOutstanding = false
    /// The last committed entry handed out with that snapshot Ready, counted applied on advance.
    var pendingAppliedIndex: LogIndex?

    // MARK: Events (see `RaftEvent`)
    var isRecordingEvents = false
    /// Recorded and not yet taken; at most `bufferedEventsMax`.
    var events: [RaftEvent] = []
    var lastRecordedState: RecordedState?
    /// Events dropped because the buffer was full.
    public internal(set) var droppedEventCount: UInt64 = 0

    // MARK: Construction

    /// A node restarting from what it persisted (an empty `PersistentState` for a node that has
    /// never been part of a cluster and waits to be added).
    public init(config: Config, state: PersistentState) throws(ConfigError) {
        try config.validate()
        if let problem = RaftLog.validate(state) { throw .invalidPersistentState(problem) }
        self.config = config
        self.term = state.hardState.term
        self.votedFor = state.hardState.votedFor
        self.log = RaftLog(state: state)
        self.random = SplitMix64(seed: config.randomSeed ^ config.id.rawValue)
        self.randomizedElectionTimeoutTicks = config.electionTimeoutTicks
        self.lastReadyHardState = state.hardState
        let current = log.membership(at: log.lastIndex)
        self.membership = current.membership
        self.membershipContext = current.context
        self.membershipIndex = current.setAt
        self.role = membership.learners.contains(config.id) ? .learner : .follower
        resetElectionTimeout()
    }

    /// The identical state every founding member persists before it first starts: entry 1
    /// (term 1) is a membership entry naming the founders, already committed. Because every
    /// founder holds the same entry 1, a member added later receives the founding configuration
    /// by ordinary replication.
    public static func bootstrapState(membership: Membership, context: [UInt8]) -> PersistentState {
        let change = MembershipChange(membership: membership, change: nil, context: context)
        let entry = Entry(term: Term(1), index: LogIndex(1), kind: .membership, data: change.encoded())
        return PersistentState(
            hardState: HardState(term: Term(1), votedFor: nil, commit: LogIndex(1)),
            snapshot: .empty, entries: [entry])
    }

    // MARK: Queries

    public var id: NodeID { config.id }

    /// True when this node may campaign: it is a voter of the configuration it knows.
    var isPromotable: Bool { membership.isVoter(config.id) }

    public var status: Status {
        Status(
            id: config.id, role: role, term: term, votedFor: votedFor, leader: leader,
            commitIndex: log.committedIndex, appliedIndex: log.appliedIndex, lastLogIndex: log.lastIndex,
            snapshotIndex: log.snapshot.index, membership: membership, transferee: transferee,
            progress: role == .leader ? progress.mapValues(\.view) : [:])
    }

    /// The current term.
    public var currentTerm: Term { term }
    /// The leader this node knows of in the current term.
    public var currentLeader: NodeID? { leader }
    /// The configuration in force and its application context.
    public var currentMembership: (membership: Membership, context: [UInt8]) { (membership, membershipContext) }
    /// The latest durable snapshot (what lagging followers are sent).
    public var latestSnapshot: SnapshotMetadata { log.snapshot }
    /// What the log holds in memory: its entries (since the compaction point) and their bytes
    /// (`Entry.byteCount`: the payload and an estimate of each entry's header).
    public var logInMemory: (entries: Int, bytes: Int) { (log.entries.count, log.entryBytes) }

    /// Log entries from `start` (at most `limit`), for inspection (`GET /log`).
    public func entries(from start: LogIndex, limit: Int) -> [Entry] {
        // `start` comes from a client (`GET /log?from=`): anything past the log is simply empty.
        guard limit > 0, start <= log.lastIndex else { return [] }
        let first = max(start, log.firstIndex)
        let last = min(log.lastIndex, first + UInt64(limit - 1))
        return log.entries(from: first, through: last, bytesMax: Int.max) ?? []
    }

    // MARK: Time

    /// Advances the node's clock by one tick.
    public mutating func tick() {
        switch role {
        case .leader: tickLeader()
        case .follower, .preCandidate, .candidate, .learner: tickElection()
        }
        recordStateIfChanged()
    }

    private mutating func tickElection() {
        electionElapsedTicks += 1
        if isPromotable && electionElapsedTicks >= randomizedElectionTimeoutTicks {
            electionElapsedTicks = 0
            startElection(isTransfer: false)
        }
    }

    private mutating func tickLeader() {
        heartbeatElapsedTicks += 1
        electionElapsedTicks += 1
        if electionElapsedTicks >= config.electionTimeoutTicks {
            electionElapsedTicks = 0
            if config.isCheckQuorumEnabled && !hasActiveQuorum() {
                // Check-quorum (dissertation 6.2): a leader cut off from a majority steps down.
                becomeFollower(term: term, leader: nil)
                return
            }
            // A transfer that did not finish within an election timeout is abandoned (3.10).
            transferee = nil
        }
        if heartbeatElapsedTicks >= config.heartbeatTicks {
            heartbeatElapsedTicks = 0
            broadcastHeartbeat(readRound: reads.confirmedRoundCeiling)
        }
        if isCommitBroadcastPending && config.commitBroadcastDelayTicks > 0 {
            commitBroadcastWaitedTicks += 1
            precondition(
                commitBroadcastWaitedTicks <= config.commitBroadcastDelayTicks,
                "RaftNode: a pending commit broadcast waits at most commitBroadcastDelayTicks")
            if commitBroadcastWaitedTicks >= config.commitBroadcastDelayTicks {
                broadcastAppend(sendIfEmpty: true)
                isCommitBroadcastPending = false
                let committed = log.committedIndex
                forwardedThrough = forwardedThrough.filter { $0.value > committed }
            }
        }
    }

    mutating func resetElectionTimeout() {
        electionElapsedTicks = 0
        // Our own bounded draw, not `Int.random(in:using:)`: a seed replays on any Swift version.
        let jitterTicks = random.int(in: 0..<config.electionTimeoutJitterTicks)
        randomizedElectionTimeoutTicks = config.electionTimeoutTicks + jitterTicks
        record(.electionTimerReset(ticksLeft: randomizedElectionTimeoutTicks))
    }

    // MARK: Role transitions

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        precondition(newTerm >= term, "RaftNode: the term never decreases")
        if role == .leader { failPendingReads() }
        if newTerm > term {
            term = newTerm
            votedFor = nil
        }
        role = membership.learners.contains(config.id) ? .learner : .follower
        leader = newLeader
        transferee = nil
        isAppendBroadcastPending = false
        isCommitBroadcastPending = false
        forwardedThrough = [:]
        votes = [:]
        progress = [:]
        heartbeatElapsedTicks = 0
        resetElectionTimeout()
        recordStateIfChanged()
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "RaftNode.becomeLeader: only a candidate wins an election")
        role = .leader
        leader = config.id
        transferee = nil
        votes = [:]
        heartbeatElapsedTicks = 0
        electionElapsedTicks = 0
        uncommittedBytes = 0
        forwardedThrough = [:]
        reads = ReadIndexQueue()
        progress = [:]
        for member in membership.members { addProgress(for: member) }
        // Dissertation 6.4: a new leader commits a no-op of its own term before serving reads,
        // and (4.1) before accepting a membership change.
        recordStateIfChanged()
        appendAsLeader([Entry(term: term, index: .zero, kind: .noop)])
    }

    mutating func addProgress(for member: NodeID) {
        var peer = Progress(nextIndex: log.lastIndex.next, inflightMessagesMax: config.inflightMessagesMax)
        if member == config.id {
            // The leader's own match moves only when its entries are durable (see `advance`).
            peer.matchIndex = log.stableIndex
            peer.isRecentlyActive = true
        }
        progress[member] = peer
    }

    // MARK: Membership

    /// Applies a membership entry that was just appended to the log (a configuration takes
    /// effect when appended, dissertation 4.1).
    mutating func adoptMembership(from entry: Entry) {
        guard entry.kind == .membership, let change = try? MembershipChange(decoding: entry.data) else { return }
        setMembership(change.membership, context: change.context, index: entry.index)
    }

    /// After a truncation, falls back to the configuration of the latest remaining entry.
    mutating func recomputeMembership() {
        let current = log.membership(at: log.lastIndex)
        setMembership(current.membership, context: current.context, index: current.setAt)
    }

    private mutating func setMembership(_ newMembership: Membership, context: [UInt8], index: LogIndex) {
        membership = newMembership
        membershipContext = context
        membershipIndex = index
        if role == .leader {
            for member in newMembership.members where progress[member] == nil { addProgress(for: member) }
            for member in progress.keys where !newMembership.contains(member) { progress[member] = nil }
            if let target = transferee, !newMembership.isVoter(target) { transferee = nil }
        } else if role == .follower || role == .learner {
            role = newMembership.learners.contains(config.id) ? .learner : .follower
            recordStateIfChanged()
        }
    }

    // MARK: Helpers

    /// Queues a message to a peer, stamped with this node's id and term.
    mutating func send(_ payload: Payload, to peer: NodeID, term messageTerm: Term? = nil) {
        precondition(peer != config.id, "RaftNode.send: a node never messages itself")
        outbox.append(Message(from: config.id, to: peer, term: messageTerm ?? term, payload: payload))
    }

    var hardState: HardState { HardState(term: term, votedFor: votedFor, commit: log.committedIndex) }
}
