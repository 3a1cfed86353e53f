import RaftCore
import RaftPipeline

/// What one node made durable. It survives crashes; everything else of the node does not.
///
/// Invariant: `entries` are contiguous and start right after `snapshot.index`;
/// `hardState.commit <= lastIndex`.
public struct DurableState: Sendable {
    public var hardState: HardState = .initial
    public var snapshot: SnapshotMetadata = .empty
    /// The state machine's bytes as of `snapshot`.
    public var snapshotBytes: [UInt8] = CheckedStateMachine().snapshot()
    public var entries: [Entry] = []

    init() {}

    init(_ state: PersistentState) {
        hardState = state.hardState
        snapshot = state.snapshot
        entries = state.entries
    }

    public var lastIndex: LogIndex { entries.last?.index ?? snapshot.index }

    /// The term of the entry at `index`, if it is stored (or is the snapshot's last entry).
    public func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(snapshot.index.distance(to: index)) - 1].term
    }

    public var persistentState: PersistentState {
        PersistentState(hardState: hardState, snapshot: snapshot, entries: entries)
    }

    /// Appends `newEntries`, replacing the stored suffix from their first index on (the Ready
    /// contract). Returns why the batch breaks the contract, or nil when it was stored.
    mutating func append(_ newEntries: [Entry]) -> String? {
        guard let first = newEntries.first else { return nil }
        guard first.index > snapshot.index else {
            return "entries from \(first.index) overwrite the snapshot (index \(snapshot.index))"
        }
        guard first.index <= lastIndex.next else {
            return "entries from \(first.index) leave a gap after the last stored index \(lastIndex)"
        }
        for (offset, entry) in newEntries.enumerated() where entry.index != first.index + UInt64(offset) {
            return "entries are not contiguous at \(entry.index)"
        }
        entries.removeLast(Int(first.index.distance(to: lastIndex.next)))
        entries.append(contentsOf: newEntries)
        return nil
    }

    /// Stores a snapshot (taken here or received): the log up to its index is dropped; a stored
    /// suffix after it survives only if the stored log agrees with the snapshot's last entry.
    mutating func store(snapshot metadata: SnapshotMetadata, bytes: [UInt8]) {
        if term(at: metadata.index) == metadata.term {
            entries.removeFirst(Int(snapshot.index.distance(to: metadata.index)))
        } else {
            entries.removeAll()
        }
        snapshot = metadata
        snapshotBytes = bytes
    }
}

/// A write or snapshot save the pipeline handed to the simulated disk: it becomes durable, all
/// at once, at `durableAt` (a crash before then loses all of it).
struct DiskOperation {
    enum Kind {
        case write(PipelineWrite<[UInt8]>)
        case save(PipelineWriteID, SnapshotMetadata, data: [UInt8])
    }
    var kind: Kind
    var durableAt: UInt64
}

/// Where in carrying out the pipeline's actions a node can be made to crash.
public enum CrashPoint: String, Sendable, CaseIterable {
    /// The write (or snapshot save) is done on the disk but not yet durable: all of it is lost.
    case beforePersist = "before persist"
    /// The write is durable; the messages that waited for it are not sent yet.
    case afterPersist = "after persist, before send"
    /// Right after sending a group of messages (before the write, a leader's early appends).
    case afterSend = "after send, before apply"
    /// Right after applying committed entries, before the Ready is advanced.
    case afterApply = "after apply, before advance"
}

/// One simulated node: its core (nil while crashed), its durable state, its state machine and
/// the shipped Ready pipeline the simulator executes for it. Owned by the `Simulation`.
final class SimulatedNode {
    let id: NodeID
    var config: Config
    var core: RaftNode?
    var durable: DurableState
    var machine = CheckedStateMachine()
    /// The node's Ready pipeline (rebuilt from the durable state at every start); received
    /// snapshots are their bytes.
    var pipeline = ReadyPipeline<[UInt8]>(persisted: .initial, snapshotIndex: .zero)
    /// The write or snapshot save on the disk, if any (the pipeline has at most one).
    var diskOperation: DiskOperation?
    /// This node's disk latency, when a scenario set one (else `SimulationOptions.diskLatencyTicks`).
    var diskLatencyTicks: ClosedRange<Int>?
    /// This node's own snapshot being serialized, when `snapshotSerializationTicks` is not 0:
    /// handed to the pipeline (`snapshotTaken`) at `readyAt`.
    var serializingSnapshot: (metadata: SnapshotMetadata, data: [UInt8], readyAt: UInt64)?
    /// Transport outcomes to report to the core at the next tick: (peer, snapshot succeeded?);
    /// nil means "unreachable".
    var pendingReports: [(peer: NodeID, snapshotSucceeded: Bool?)] = []
    /// Ticks are scaled by `tickRatePermille / 1000` (clock skew).
    let tickRatePermille: Int
    var tickAccumulator = 0
    var lastRole: Role?
    var lastTerm: Term = .zero
    var lastCommit: LogIndex = .zero
    /// Stopped for good (removed from the cluster): never restarted, not expected to converge.
    var isRetired = false
    var crashCount = 0
    var scheduledCrash: CrashPoint?
    /// The node's client writes, from arrival to answer: the shipped `ProposalQueue`, keyed by
    /// ticket, timed in ticks. Volatile: a crash loses it (its clients see the connection close).
    var proposals: ProposalQueue<UInt64>
    /// The leader last seen, to notice a change (as the runtime's `observeStatus` does).
    var observedLeader: NodeID?
    /// The core's events and the Readys taken, in order (`SimulationOptions.isRecordingEvents`).
    var eventTimeline: [EventTimelineItem] = []

    init(id: NodeID, config: Config, durable: DurableState, tickRatePermille: Int, proposals: ProposalQueue<UInt64>) {
        self.id = id
        self.config = config
        self.durable = durable
        self.tickRatePermille = tickRatePermille
        self.proposals = proposals
    }

    var isRunning: Bool { core != nil }
}

/// One item of a simulated node's event timeline: an event its core recorded, a Ready it took
/// (what it promised: the hard state to persist, the votes it sends, the commit it applies),
/// or a restart (a crash lost the core; the hard state restarts from the disk).
public enum EventTimelineItem: Sendable, Equatable {
    case event(RaftEvent)
    case ready(ReadyFacts)
    /// The hard state the core restarted with (`commit`: its commit index, at least the snapshot's).
    case restart(HardState)
}

/// What a Ready shows of votes, terms and commits.
public struct ReadyFacts: Sendable, Equatable {
    public var hardState: HardState?
    /// Granted votes (not pre-votes) this Ready sends: (candidate, term).
    public var votesGranted: [VoteSent]
    /// (Pre-)vote requests this Ready sends: (term, isPreVote), once per campaign.
    public var campaigns: [CampaignSent]
    /// The last committed entry handed out to be applied.
    public var lastCommittedIndex: LogIndex?

    public struct VoteSent: Sendable, Equatable {
        public var candidate: NodeID
        public var term: Term
        public init(candidate: NodeID, term: Term) {
            self.candidate = candidate
            self.term = term
        }
    }
    public struct CampaignSent: Sendable, Equatable {
        public var term: Term
        public var isPreVote: Bool
    }

    public init(hardState: HardState?, votesGranted: [VoteSent], campaigns: [CampaignSent], lastCommittedIndex: LogIndex?) {
        self.hardState = hardState
        self.votesGranted = votesGranted
        self.campaigns = campaigns
        self.lastCommittedIndex = lastCommittedIndex
    }

    init(_ ready: Ready) {
        hardState = ready.hardState
        votesGranted = []
        campaigns = []
        for message in ready.messages {
            switch message.payload {
            case .voteResponse(let response) where response.isGranted && !response.isPreVote:
                votesGranted.append(VoteSent(candidate: message.to, term: message.term))
            case .voteRequest(let request):
                let campaign = CampaignSent(term: message.term, isPreVote: request.isPreVote)
                if campaigns.last != campaign { campaigns.append(campaign) }
            default:
                break
            }
        }
        lastCommittedIndex = ready.committedEntries.last?.index
    }
}
