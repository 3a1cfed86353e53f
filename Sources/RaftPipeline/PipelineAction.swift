import RaftCore

/// One write the pipeline hands to storage: a received snapshot first (if any), then `entries`
/// and `hardState`, made durable together (one fsync). The executor reports its end with
/// `ReadyPipeline.writeFinished(_:)`, naming `id`.
public struct PipelineWrite<ReceivedSnapshot: Sendable>: Sendable {
    public let id: PipelineWriteID
    /// The hard state to write: the newest of the batch, or a commit-only one held back earlier.
    public let hardState: HardState?
    /// Contiguous entries; from `entries.first.index` on they replace the stored log.
    public let entries: [Entry]
    /// A snapshot received from the leader, to save before the entries (a batch of one Ready).
    public let snapshot: (metadata: SnapshotMetadata, received: ReceivedSnapshot)?
    /// How many Readys share this write (group commit).
    public let readyCount: Int
}

/// Names one write or snapshot save, so that a completion meant for another is ignored.
public struct PipelineWriteID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "w\(rawValue)" }
}

/// What the executor of a `ReadyPipeline` does next, in the order given.
public enum PipelineAction<ReceivedSnapshot: Sendable>: Sendable {
    /// Send these messages now (in this order).
    case send([Message])
    /// Apply these committed entries to the state machine, then note the reads whose index is
    /// known and serve the ones the state machine has reached.
    case apply(committed: [Entry], readStates: [ReadState])
    /// Make this durable; call `writeFinished(id)` when it is.
    case write(PipelineWrite<ReceivedSnapshot>)
    /// Replace the state machine with a received snapshot (its write is durable).
    case restore(SnapshotMetadata, ReceivedSnapshot)
    /// Call `RaftNode.advance(_:)` with this Ready.
    case advance(Ready)
    /// Save the node's own snapshot; call `snapshotSaved(id)` when it is durable.
    case saveSnapshot(PipelineWriteID, SnapshotMetadata, data: [UInt8])
    /// The node's own snapshot is durable: compact the core's log to it. The snapshot in
    /// progress is over.
    case compact(SnapshotMetadata)
    /// The node's own snapshot was not saved: a newer one (received from the leader) is durable
    /// already. The snapshot in progress is over.
    case discardSnapshot(SnapshotMetadata)
}

/// What to do with a message that arrived from a peer.
public enum PipelineArrival: Sendable, Equatable {
    /// Step it into the core.
    case step
    /// A read-index answer: note this read state at once (serving the read when the state
    /// machine reaches its index) instead of waiting for it in a Ready.
    case readIndex(ReadState)
    /// Drop it.
    case ignore
}
