/// Something the core did, as it did it: the truth a dashboard or a trace is built from.
///
/// The core records events only while `RaftNode.isRecordingEvents` is set (nothing is stored,
/// and nothing allocated, otherwise) into a buffer bounded by `RaftNode.bufferedEventsMax`, which
/// the runtime drains with `RaftNode.takeEvents()` after each call into the core. The runtime
/// adds what only it knows (messages on the wire, writes, applies, snapshots, faults).
public enum RaftEvent: Sendable, Equatable {
    /// The role, the term or the known leader changed (all three are given, whichever moved).
    case state(role: Role, term: Term, leader: NodeID?)
    /// This node started a pre-vote or an election for `term`, asking every other voter.
    case campaign(term: Term, isPreVote: Bool, isTransfer: Bool)
    /// This node answered (or ignored: `reason == .leaderLease`) a vote request.
    case voteCast(candidate: NodeID, term: Term, isPreVote: Bool, isGranted: Bool, reason: VoteReason)
    /// A vote answer counted in this node's current campaign, with the tally after it.
    case voteReceived(from: NodeID, term: Term, isPreVote: Bool, isGranted: Bool, grantedCount: Int, refusedCount: Int)
    /// The election timer (re)started: it fires after `ticksLeft` more ticks unless reset again
    /// (its deadline). At most one a tick is recorded for the resets by a leader's messages.
    case electionTimerReset(ticksLeft: Int)
    /// The commit index moved to `index` (of term `term`).
    case committed(index: LogIndex, term: Term)
}

/// Why a vote was granted or refused.
public enum VoteReason: String, Sendable, Equatable {
    case granted
    /// This node already voted for another candidate in that term.
    case votedForAnother = "voted-for-another"
    /// This node knows a leader in that term.
    case hasLeader = "has-leader"
    /// The candidate's log is behind this node's (paper 5.4.1).
    case logBehind = "log-behind"
    /// The request's term is older than this node's.
    case staleTerm = "stale-term"
    /// Ignored without an answer: this node heard from a live leader within the minimum
    /// election timeout (dissertation 4.2.3).
    case leaderLease = "leader-lease"
}

extension RaftNode {
    /// The most events the core holds between two `takeEvents()` calls; past it further events
    /// are counted in `droppedEventCount` and dropped (the runtime drains after every call, so
    /// only a runtime that stopped draining reaches it).
    public static let bufferedEventsMax = 4_096

    /// Starts or stops recording events (off by default).
    public mutating func setRecordingEvents(_ isOn: Bool) {
        isRecordingEvents = isOn
        if isOn { lastRecordedState = nil } else { events = [] }
        recordStateIfChanged()
    }

    /// Hands out the events recorded since the last call.
    public mutating func takeEvents() -> [RaftEvent] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// Whether events wait to be taken.
    public var hasEvents: Bool { !events.isEmpty }

    mutating func record(_ event: RaftEvent) {
        guard isRecordingEvents else { return }
        guard events.count < Self.bufferedEventsMax else {
            droppedEventCount &+= 1
            return
        }
        events.append(event)
    }

    /// Records a `.state` event if role, term or leader differ from the last one recorded.
    mutating func recordStateIfChanged() {
        guard isRecordingEvents else { return }
        let now = RecordedState(role: role, term: term, leader: leader)
        guard now != lastRecordedState else { return }
        lastRecordedState = now
        record(.state(role: role, term: term, leader: leader))
    }

    /// Restarts the election timer because a leader (or a granted vote) was heard from; records
    /// it only when the timer had run (so at most once a tick).
    mutating func restartElectionTimer() {
        let hadRun = electionElapsedTicks > 0
        electionElapsedTicks = 0
        if hadRun { record(.electionTimerReset(ticksLeft: randomizedElectionTimeoutTicks)) }
    }
}

/// The role, term and leader last recorded as a `.state` event.
struct RecordedState: Equatable {
    var role: Role
    var term: Term
    var leader: NodeID?
}
