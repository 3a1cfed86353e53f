import Metrics
import RaftCore
import WRaftSupport

/// The node's own metrics (storage and transport report theirs). Created once per runtime;
/// the handles are cheap to update from the actor.
struct RuntimeMetrics: Sendable {
    let term = Gauge(label: "wraft_term")
    /// 0 follower, 1 pre-candidate, 2 candidate, 3 leader, 4 learner, -1 not running.
    let role = Gauge(label: "wraft_role")
    let isLeader = Gauge(label: "wraft_is_leader")
    let commitIndex = Gauge(label: "wraft_commit_index")
    let appliedIndex = Gauge(label: "wraft_applied_index")
    let snapshotIndex = Gauge(label: "wraft_snapshot_index")
    let keys = Gauge(label: "wraft_keys")
    let members = Gauge(label: "wraft_members")
    let proposals = Counter(label: "wraft_proposals_total")
    let proposalsRefused = Counter(label: "wraft_proposals_refused_total")
    let commits = Counter(label: "wraft_commits_total")
    let elections = Counter(label: "wraft_elections_total")
    let leaderChanges = Counter(label: "wraft_leader_changes_total")
    let readyBatches = Counter(label: "wraft_ready_batches_total")
    let readyEntries = Recorder(label: "wraft_ready_entries", aggregate: true)
    let snapshotsTaken = Counter(label: "wraft_snapshots_taken_total")
    let snapshotsInstalled = Counter(label: "wraft_snapshots_installed_total")
    let snapshotsSent = Counter(label: "wraft_snapshots_sent_total")
    let writesTimedOut = Counter(label: "wraft_writes_timed_out_total")
    let readsTimedOut = Counter(label: "wraft_reads_timed_out_total")
    let pendingWrites = Gauge(label: "wraft_pending_writes")
    let pendingReads = Gauge(label: "wraft_pending_reads")
    let incomingDropped = Counter(label: "wraft_fault_dropped_incoming_total")
    let outgoingDropped = Counter(label: "wraft_fault_dropped_outgoing_total")
    let persistTime = Timer(label: "wraft_persist_seconds")
    /// How many Readys each write (one fsync) persisted together.
    let persistReadys = Recorder(label: "wraft_persist_readys", aggregate: true)
    /// From a client write reaching the runtime to its answer (applied, refused or timed out).
    let writeTime = Timer(label: "wraft_write_seconds")
    /// From a linearizable read reaching the runtime to its read index being applied here.
    let readBarrierTime = Timer(label: "wraft_read_barrier_seconds")

    static func nanoseconds(since start: ContinuousClock.Instant) -> Int64 {
        start.duration(to: .now).inNanoseconds
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
