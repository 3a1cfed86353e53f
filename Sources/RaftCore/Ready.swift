/// One batch of work the core hands to the runtime, which does it in this order:
///
/// 1. At once, when it takes the Ready: send the messages that promise nothing durable (a
///    leader's appends and heartbeats in a term already durable: it counts itself only once its
///    own write is durable, dissertation 10.2.1), and apply `committedEntries` (they are durable
///    on a quorum) unless the Ready carries a `snapshot`.
/// 2. Persist `snapshot` (if any), then `entries` and `hardState`, durably (fsync), in the order
///    the Readys were handed out. Consecutive Readys may share one write (`PersistBatch`).
/// 3. Send the other `messages` (they may promise what step 2 made durable: a vote, an ack).
/// 4. For a Ready with a `snapshot`: install it, then apply `committedEntries`.
/// 5. Serve `readStates` once the state machine has applied their index.
/// 6. Call `RaftNode.advance(_:)` with this same value, in the order the Readys were handed out.
///
/// The runtime may take the next Ready before earlier ones are persisted (a pipeline), so a
/// commit never waits for an unrelated fsync; a Ready with a snapshot is a barrier (the core
/// hands out nothing more until it is advanced). Group commit falls out of this: everything
/// handed out while one write is in flight is persisted by the next fsync.
public struct Ready: Sendable {
    /// The hard state to persist, when it changed since the last `Ready`.
    public var hardState: HardState?
    /// Entries to append durably. If `entries.first.index` is at or below the last stored index,
    /// the stored log from that index on is replaced (a new leader overwrote an unsafe suffix).
    public var entries: [Entry]
    /// A snapshot received from the leader to persist and install before applying anything.
    /// The runtime holds its bytes (they arrived beside the `installSnapshot` message).
    public var snapshot: SnapshotMetadata?
    /// Messages to send once `entries` and `hardState` are durable (a leader's appends may go
    /// before, see above).
    public var messages: [Message]
    /// Committed entries to apply, in index order. They are durable on a quorum (not
    /// necessarily here yet: a commit does not wait for the local write).
    public var committedEntries: [Entry]
    /// The entries replace entries handed out in an earlier Ready (a new leader overwrote an
    /// uncommitted suffix). Such a Ready must not share a write with the earlier ones: their
    /// acknowledgements promise the replaced entries, and must go out before the overwrite is
    /// durable, never after.
    public var overwritesHandedOutEntries: Bool
    /// Linearizable reads that became safe (see `ReadState`).
    public var readStates: [ReadState]

    public init(
        hardState: HardState? = nil, entries: [Entry] = [], snapshot: SnapshotMetadata? = nil,
        messages: [Message] = [], committedEntries: [Entry] = [], readStates: [ReadState] = [],
        overwritesHandedOutEntries: Bool = false
    ) {
        self.overwritesHandedOutEntries = overwritesHandedOutEntries
        self.hardState = hardState
        self.entries = entries
        self.snapshot = snapshot
        self.messages = messages
        self.committedEntries = committedEntries
        self.readStates = readStates
    }

    /// True when the batch holds nothing to do.
    public var isEmpty: Bool {
        hardState == nil && entries.isEmpty && snapshot == nil && messages.isEmpty
            && committedEntries.isEmpty && readStates.isEmpty
    }
}

/// What a node restarts from: everything a previous run made durable.
public struct PersistentState: Sendable {
    public var hardState: HardState
    /// The latest snapshot (`SnapshotMetadata.empty` when none).
    public var snapshot: SnapshotMetadata
    /// The stored log entries after `snapshot.index`, contiguous and in order.
    public var entries: [Entry]

    public init(hardState: HardState = .initial, snapshot: SnapshotMetadata = .empty, entries: [Entry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }
}

/// The role a node plays in its current term.
public enum Role: String, Sendable, Equatable {
    case follower
    case preCandidate = "pre-candidate"
    case candidate
    case leader
    /// A non-voting member catching up (it behaves as a follower that never campaigns).
    case learner
}

/// A read-only view of a node for `/state`, the dashboard and tests.
public struct Status: Sendable, Equatable {
    public var id: NodeID
    public var role: Role
    public var term: Term
    public var votedFor: NodeID?
    public var leader: NodeID?
    public var commitIndex: LogIndex
    /// The last committed entry handed out to be applied (the runtime applies them before it
    /// takes the next Ready; a snapshot Ready's entries count once it is advanced).
    public var appliedIndex: LogIndex
    public var lastLogIndex: LogIndex
    public var snapshotIndex: LogIndex
    public var membership: Membership
    /// The node a leadership transfer is heading to, if one is in progress (leader only).
    public var transferee: NodeID?
    /// Replication progress per member (leader only; empty elsewhere).
    public var progress: [NodeID: PeerProgress]
}

/// How far the leader knows a member's log matches its own.
public struct PeerProgress: Sendable, Equatable {
    public enum State: String, Sendable {
        /// Sending one append at a time until the match point is found.
        case probe
        /// Streaming appends optimistically, up to the in-flight window.
        case replicate
        /// Waiting for a snapshot transfer to finish.
        case snapshot
    }
    public var matchIndex: LogIndex
    public var nextIndex: LogIndex
    public var state: State
    /// Whether the member was heard from during the current check-quorum window.
    public var isRecentlyActive: Bool
    public var inflightMessages: Int
}
