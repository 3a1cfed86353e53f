import Metrics
import RaftCore
import WRaftSupport

/// The node's own metrics (storage and transport report theirs). Created once per runtime;
/// the handles are cheap to update from the actor. Every family is described in `Family`
/// (HELP text) and in Docs/METRICS.md.
struct RuntimeMetrics: Sendable {
    /// The node's metric families: names, kinds and HELP text, made once and used for both the
    /// handles below and the backend's HELP lines.
    enum Family {
        static let term = MetricDescription("wraft_term", .gauge, help: "The node's current Raft term.")
        static let role = MetricDescription(
            "wraft_role", .gauge, help: "The node's role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader, 4 learner, -1 not running.")
        static let isLeader = MetricDescription("wraft_is_leader", .gauge, help: "1 while this node is the leader, else 0.")
        static let hasLeader = MetricDescription(
            "wraft_has_leader", .gauge, help: "1 while this node knows a leader of its current term, else 0 (alert when 0).")
        static let commitIndex = MetricDescription("wraft_commit_index", .gauge, help: "The highest log index known committed.")
        static let appliedIndex = MetricDescription(
            "wraft_applied_index", .gauge, help: "The highest log index applied to the key-value store.")
        static let snapshotIndex = MetricDescription("wraft_snapshot_index", .gauge, help: "The log index of the latest snapshot.")
        static let keys = MetricDescription("wraft_keys", .gauge, help: "Keys in the key-value store.")
        static let storeBytes = MetricDescription(
            "wraft_store_bytes", .gauge, help: "Bytes of the key-value store's keys and values (what the quota counts besides history).")
        static let storeHistoryBytes = MetricDescription(
            "wraft_store_history_bytes", .gauge, help: "Bytes of retained history (past revisions kept for reads at a revision and watches).")
        static let logEntriesInMemory = MetricDescription(
            "wraft_log_entries_in_memory", .gauge, help: "Raft log entries held in memory (since the last compaction point).")
        static let logBytesInMemory = MetricDescription(
            "wraft_log_bytes_in_memory", .gauge, help: "Bytes of the Raft log entries held in memory (payloads and an estimate of their headers).")
        static let members = MetricDescription("wraft_members", .gauge, help: "Members (voters and learners) of the applied configuration.")
        static let proposals = MetricDescription(
            "wraft_proposals_total", .counter, help: "Client commands handed to the Raft core as proposals.")
        static let proposalsRefused = MetricDescription(
            "wraft_proposals_refused_total", .counter, help: "Client commands the Raft core refused (no leader, too much uncommitted).")
        static let commits = MetricDescription("wraft_commits_total", .counter, help: "Log entries applied after they committed.")
        static let elections = MetricDescription(
            "wraft_elections_total", .counter, help: "Elections this node started (a pre-vote and the vote that follows count once).")
        static let leaderChanges = MetricDescription(
            "wraft_leader_changes_total", .counter,
            help: "Times this node learned of a leader other than the last one it knew (once per new leader).")
        static let readyBatches = MetricDescription(
            "wraft_ready_batches_total", .counter, help: "Ready batches taken from the Raft core.")
        static let readyEntries = MetricDescription(
            "wraft_ready_entries", .histogram, help: "New log entries per Ready batch that had any.")
        static let snapshotsTaken = MetricDescription(
            "wraft_snapshots_taken_total", .counter, help: "Snapshots of the key-value store this node took and saved.")
        static let snapshotsInstalled = MetricDescription(
            "wraft_snapshots_installed_total", .counter, help: "Snapshots received from a leader and installed.")
        static let writesTimedOut = MetricDescription(
            "wraft_writes_timed_out_total", .counter, help: "Client writes answered with a timeout before they applied.")
        static let readsTimedOut = MetricDescription(
            "wraft_reads_timed_out_total", .counter, help: "Linearizable reads answered with a timeout.")
        static let pendingWrites = MetricDescription(
            "wraft_pending_writes", .gauge, help: "Client writes waiting for their entry to apply.")
        static let pendingReads = MetricDescription(
            "wraft_pending_reads", .gauge, help: "Linearizable reads waiting for their read index.")
        static let incomingDropped = MetricDescription(
            "wraft_fault_dropped_incoming_total", .counter, help: "Raft messages from peers dropped by an injected fault.")
        static let outgoingDropped = MetricDescription(
            "wraft_fault_dropped_outgoing_total", .counter, help: "Raft messages to peers dropped by an injected fault.")
        static let persistTime = MetricDescription(
            "wraft_persist_seconds", .histogram,
            help: "Seconds from handing a batch of Readys to storage until it was durable (encoding, write and fsync).")
        static let persistReadys = MetricDescription(
            "wraft_persist_readys", .histogram, help: "Ready batches persisted together by one write (one fsync).")
        static let applyTime = MetricDescription(
            "wraft_apply_seconds", .histogram, help: "Seconds to apply one batch of committed entries to the key-value store.")
        static let writeTime = MetricDescription(
            "wraft_write_seconds", .histogram,
            help: "Seconds from a client write reaching the node to its answer (applied, refused or timed out).")
        static let readBarrierTime = MetricDescription(
            "wraft_read_barrier_seconds", .histogram,
            help: "Seconds from a linearizable read reaching the node until its read index was applied here.")
        static let peerRoundTrip = MetricDescription(
            "wraft_peer_round_trip_seconds", .histogram,
            help: "On the leader, by peer: seconds from a heartbeat handed to the transport to the peer's heartbeat response arriving.")

        static let all = [
            term, role, isLeader, hasLeader, commitIndex, appliedIndex, snapshotIndex, keys, storeBytes, storeHistoryBytes, logEntriesInMemory, logBytesInMemory,
            members, proposals,
            proposalsRefused, commits, elections, leaderChanges, readyBatches, readyEntries, snapshotsTaken,
            snapshotsInstalled, writesTimedOut, readsTimedOut, pendingWrites, pendingReads, incomingDropped,
            outgoingDropped, persistTime, persistReadys, applyTime, writeTime, readBarrierTime, peerRoundTrip,
        ]
    }

    let term = Gauge(label: Family.term.name)
    /// 0 follower, 1 pre-candidate, 2 candidate, 3 leader, 4 learner, -1 not running.
    let role = Gauge(label: Family.role.name)
    let isLeader = Gauge(label: Family.isLeader.name)
    let hasLeader = Gauge(label: Family.hasLeader.name)
    let commitIndex = Gauge(label: Family.commitIndex.name)
    let appliedIndex = Gauge(label: Family.appliedIndex.name)
    let snapshotIndex = Gauge(label: Family.snapshotIndex.name)
    let keys = Gauge(label: Family.keys.name)
    let storeBytes = Gauge(label: Family.storeBytes.name)
    let storeHistoryBytes = Gauge(label: Family.storeHistoryBytes.name)
    let logEntriesInMemory = Gauge(label: Family.logEntriesInMemory.name)
    let logBytesInMemory = Gauge(label: Family.logBytesInMemory.name)
    let members = Gauge(label: Family.members.name)
    let proposals = Counter(label: Family.proposals.name)
    let proposalsRefused = Counter(label: Family.proposalsRefused.name)
    let commits = Counter(label: Family.commits.name)
    let elections = Counter(label: Family.elections.name)
    let leaderChanges = Counter(label: Family.leaderChanges.name)
    let readyBatches = Counter(label: Family.readyBatches.name)
    let readyEntries = Recorder(label: Family.readyEntries.name, aggregate: true)
    let snapshotsTaken = Counter(label: Family.snapshotsTaken.name)
    // Snapshots sent to followers are the transport's `wraft_transport_snapshots_sent_total`
    // (it alone knows the follower accepted one).
    let snapshotsInstalled = Counter(label: Family.snapshotsInstalled.name)
    let writesTimedOut = Counter(label: Family.writesTimedOut.name)
    let readsTimedOut = Counter(label: Family.readsTimedOut.name)
    let pendingWrites = Gauge(label: Family.pendingWrites.name)
    let pendingReads = Gauge(label: Family.pendingReads.name)
    let incomingDropped = Counter(label: Family.incomingDropped.name)
    let outgoingDropped = Counter(label: Family.outgoingDropped.name)
    let persistTime = Timer(label: Family.persistTime.name)
    /// How many Readys each write (one fsync) persisted together.
    let persistReadys = Recorder(label: Family.persistReadys.name, aggregate: true)
    /// One batch of committed entries applied to the store.
    let applyTime = Timer(label: Family.applyTime.name)
    /// From a client write reaching the runtime to its answer (applied, refused or timed out).
    let writeTime = Timer(label: Family.writeTime.name)
    /// From a linearizable read reaching the runtime to its read index being applied here.
    let readBarrierTime = Timer(label: Family.readBarrierTime.name)

    init() {
        // Known from the start: a node that never learns a leader shows 0, not nothing.
        hasLeader.record(0)
        role.record(Self.roleValue(nil))
    }

    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        start.duration(to: .now).inNanoseconds
    }

    /// The round-trip histogram of one peer (made by the caller once per peer).
    static func peerRoundTripTimer(_ peer: NodeID) -> Timer {
        Timer(label: Family.peerRoundTrip.name, dimensions: [("peer", peer.description)])
    }

    static func roleValue(_ role: Role?) -> Int {
        switch role {
        case .none: return -1
        case .follower: return 0
        case .preCandidate: return 1
        case .candidate: return 2
        case .leader: return 3
        case .learner: return 4
        }
    }
}
