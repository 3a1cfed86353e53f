/// One batch of work the core hands to the runtime. The runtime does it in this fixed order:
///
/// 1. persist `snapshot` (if any), then `entries` and `hardState` — durably (fsync);
/// 2. send `messages` (they may promise what step 1 made durable: a vote, an append ack);
/// 3. apply `committedEntries` to the state machine, in order (after installing `snapshot`);
/// 4. serve `readStates` once the state machine has applied their index;
/// 5. call `RaftNode.advance(_:)` with this same value.
///
/// Group commit falls out of this: everything proposed while one batch is being persisted is
/// gathered into the next batch and made durable by one fsync.
public struct Ready: Sendable {
    /// The hard state to persist, when it changed since the last `Ready`.
    public var hardState: HardState?
    /// Entries to append durably. If `entries.first.index` is at or below the last stored index,
    /// the stored log from that index on is replaced (a new leader overwrote an unsafe suffix).
    public var entries: [Entry]
    /// A snapshot received from the leader to persist and install before applying anything.
    /// The runtime holds its bytes (they arrived beside the `installSnapshot` message).
    public var snapshot: SnapshotMetadata?
    /// Messages to send once `entries` and `hardState` are durable.
    public var messages: [Message]
    /// Committed entries to apply, in index order. Each is already durable (here or in an
    /// earlier `Ready`) by the time it is applied, since persisting comes first.
    public var committedEntries: [Entry]
    /// Linearizable reads that became safe (see `ReadState`).
    public var readStates: [ReadState]

    public init(
        hardState: HardState? = nil, entries: [Entry] = [], snapshot: SnapshotMetadata? = nil,
        messages: [Message] = [], committedEntries: [Entry] = [], readStates: [ReadState] = []
    ) {
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
