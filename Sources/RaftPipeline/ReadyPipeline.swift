import RaftCore

/// The Ready pipeline's rules, as a pure state machine: events go in, actions come out, and the
/// executor (the node's runtime, or the simulator) carries the actions out in the order given.
/// It does no I/O and keeps no clock. `ReceivedSnapshot` is what the executor keeps of a
/// snapshot received from the leader (its bytes, perhaps already decoded); the pipeline only
/// holds it until the core's Ready names it.
///
/// The rules (`Ready`'s contract, with the runtime's latency decisions):
/// - Readys are taken as soon as the core has one (`take`); each waits in a queue for the one
///   write in flight to end. When it does (`startWrite`), every Ready queued behind it that may
///   share a write (`PersistBatch`) goes into the next one: group commit.
/// - A leader's appends and heartbeats leave when the Ready is taken, once their term is
///   durable (dissertation 10.2.1: it counts itself only after `advance`). Everything else a
///   Ready sends (votes, acknowledgements) promises what its write makes durable: it leaves
///   after the write.
/// - Committed entries are applied, and their reads noted, when the Ready is taken: they are
///   durable on a quorum already. A Ready carrying a snapshot applies only after the snapshot
///   is durable and restored.
/// - A hard state that differs only by its commit index (volatile in Raft: a restarted node
///   relearns it) is not worth an fsync of its own: it is held back and written with the next
///   entries.
/// - The node's own snapshot is saved behind every Ready taken before it (storage drops the log
///   it covers, so those entries must be written first), and is dropped if a newer received
///   snapshot became durable meanwhile.
///
/// Ticks go straight to the core: nothing in the pipeline depends on time.
public struct ReadyPipeline<ReceivedSnapshot: Sendable>: Sendable {
    /// A Ready taken from the core and not yet written.
    struct QueuedReady: Sendable {
        var ready: Ready
        /// The messages that wait for the write.
        var lateMessages: [Message]
        /// The bytes of `ready.snapshot`, pinned here when the Ready was taken.
        var received: ReceivedSnapshot?
    }

    enum Work: Sendable {
        case ready(QueuedReady)
        case save(SnapshotMetadata, data: [UInt8])
    }

    enum InFlight: Sendable {
        case write(PipelineWriteID, [QueuedReady], hardState: HardState?)
        case save(PipelineWriteID, SnapshotMetadata)
    }

    /// How many Readys and snapshot saves may wait behind the write in flight before
    /// `canTakeReady` says no (proposals then gather in the core and go out together).
    public let queuedWorkMax: Int

    /// Work taken and not yet handed to storage, in order.
    private var queue: [Work] = []
    /// Invariant: at most one write or save is in flight, and it is older than all of `queue`.
    private var inFlight: InFlight?
    private var nextWriteID: UInt64 = 1

    /// The highest term known durable: a leader's appends and heartbeats of this term may leave
    /// before their Ready is written.
    /// Invariant: never above the term of the newest hard state handed out (the core's term).
    public private(set) var durableTerm: Term
    /// The hard state last made durable.
    public private(set) var persistedHardState: HardState
    /// A newer hard state that differs from `persistedHardState` only by its commit index, held
    /// back to ride with the next write.
    /// Invariant: when set, its term and vote equal `persistedHardState`'s.
    public private(set) var deferredHardState: HardState?
    /// The newest durable snapshot (the node's own or a received one).
    public private(set) var snapshotIndex: LogIndex
    /// The newest snapshot received from the leader that the core accepted and no Ready named
    /// yet (the only one a later Ready can name). The one a taken Ready names is pinned in the
    /// queue with it, so newer arrivals never take its bytes away.
    private var received: (index: LogIndex, snapshot: ReceivedSnapshot)?
    /// The node's own snapshot is being serialized or saved (at most one at a time).
    public private(set) var isSnapshotInProgress = false

    /// A pipeline for a core restarted from `hardState` and a snapshot at `snapshotIndex`.
    public init(persisted hardState: HardState, snapshotIndex: LogIndex, queuedWorkMax: Int = 64) {
        precondition(queuedWorkMax >= 1, "ReadyPipeline: the queue holds at least one Ready")
        self.queuedWorkMax = queuedWorkMax
        self.durableTerm = hardState.term
        self.persistedHardState = hardState
        self.snapshotIndex = snapshotIndex
    }

    // MARK: Queries

    /// Whether the executor may take another Ready from the core.
    public var canTakeReady: Bool { queue.count < queuedWorkMax }
    /// Readys and saves waiting behind the write in flight.
    public var queuedCount: Int { queue.count }
    /// Whether a write or a snapshot save is in flight.
    public var isWriting: Bool { inFlight != nil }
    /// Nothing is queued or in flight.
    public var isIdle: Bool { inFlight == nil && queue.isEmpty }
    /// The index of the received snapshot held for a Ready to name, if any.
    public var receivedSnapshotIndex: LogIndex? { received?.index }

    // MARK: Events: messages

    /// A message arrived from a peer (snapshots come with their bytes: `snapshotArrived`).
    public func arrived(_ message: Message) -> PipelineArrival {
        switch message.payload {
        case .installSnapshot:
            // Without its bytes the core would install a snapshot nobody holds; only a broken
            // or hostile peer sends one.
            return .ignore
        case .readIndexResponse(let id, let index):
            // Any node that answered as leader gave a good index, whoever leads now; taking it
            // here saves waiting for a Ready being written. Nil: it could not serve the read,
            // which the executor retries.
            guard let index else { return .ignore }
            return .readIndex(ReadState(id: id, index: index))
        default:
            return .step
        }
    }

    /// A snapshot from the leader (with what the executor keeps of its bytes) was stepped into
    /// the core; `commitIndexBefore` is the core's commit index before that step,
    /// `snapshotIndexAfter` its snapshot index after it. The core accepted the snapshot if its
    /// log starts there now (it refuses one at or below its commit index); only then can a Ready
    /// name it, and it supersedes any accepted before that no Ready names yet.
    public mutating func snapshotStepped(
        _ metadata: SnapshotMetadata, _ snapshot: ReceivedSnapshot, commitIndexBefore: LogIndex,
        snapshotIndexAfter: LogIndex
    ) {
        guard metadata.index > commitIndexBefore, snapshotIndexAfter == metadata.index else { return }
        received = (metadata.index, snapshot)
    }

    // MARK: Events: Readys and writes

    /// The core handed out `ready`. Returns what happens at once: the messages that may leave
    /// before the write, and the commits to apply. The Ready then waits for `startWrite`.
    public mutating func take(_ ready: Ready) -> [PipelineAction<ReceivedSnapshot>] {
        precondition(canTakeReady, "ReadyPipeline.take: the executor checks canTakeReady first")
        if let hardState = ready.hardState {
            precondition(hardState.term >= durableTerm, "ReadyPipeline: a Ready's term never goes back")
        }
        var pinned: ReceivedSnapshot?
        if let snapshot = ready.snapshot {
            guard let held = received, held.index == snapshot.index else {
                preconditionFailure("ReadyPipeline: the bytes of the snapshot a Ready names were kept since the core accepted it")
            }
            pinned = held.snapshot
            received = nil
        }
        var actions: [PipelineAction<ReceivedSnapshot>] = []
        let (early, late) = partitionMessages(ready)
        if !early.isEmpty { actions.append(.send(early)) }
        if ready.snapshot == nil, !ready.committedEntries.isEmpty || !ready.readStates.isEmpty {
            actions.append(.apply(committed: ready.committedEntries, readStates: ready.readStates))
        }
        queue.append(.ready(QueuedReady(ready: ready, lateMessages: late, received: pinned)))
        return actions
    }

    /// Splits a Ready's messages into those that may leave before its write and those that wait.
    private func partitionMessages(_ ready: Ready) -> (early: [Message], late: [Message]) {
        guard !ready.messages.isEmpty else { return ([], []) }
        // Only a leader sends appends and heartbeats; they promise nothing about this node's log
        // (the leader counts itself once durable), but their term must be durable: a crash
        // must not let this node forget a term it led.
        let isTermDurable = (ready.hardState?.term ?? durableTerm) == durableTerm
        guard isTermDurable else { return ([], ready.messages) }
        var early: [Message] = []
        var late: [Message] = []
        for message in ready.messages {
            switch message.payload {
            case .append, .heartbeat:
                if message.term == durableTerm { early.append(message) } else { late.append(message) }
            default:
                late.append(message)
            }
        }
        return (early, late)
    }

    /// Starts the next write or snapshot save if none is in flight. Work that needs no write
    /// (a held-back commit-only hard state, messages alone) finishes here at once. Returns the
    /// actions: finishing work, then at most one `.write` or `.saveSnapshot`.
    public mutating func startWrite() -> [PipelineAction<ReceivedSnapshot>] {
        var actions: [PipelineAction<ReceivedSnapshot>] = []
        while inFlight == nil, !queue.isEmpty {
            switch queue.removeFirst() {
            case .save(let metadata, let data):
                guard metadata.index > snapshotIndex else {
                    // A newer snapshot from the leader became durable while this one was being
                    // serialized: storage never goes back, and the log is compacted past it.
                    isSnapshotInProgress = false
                    actions.append(.discardSnapshot(metadata))
                    continue
                }
                let id = makeWriteID()
                inFlight = .save(id, metadata)
                actions.append(.saveSnapshot(id, metadata, data: data))
            case .ready(let first):
                startBatch(first, actions: &actions)
            }
        }
        return actions
    }

    /// Merges the Readys queued behind `first` that may share its write and hands the write out
    /// (or finishes the batch at once when nothing in it needs writing).
    private mutating func startBatch(_ first: QueuedReady, actions: inout [PipelineAction<ReceivedSnapshot>]) {
        var batch = PersistBatch(first.ready)
        var readys = [first]
        while case .ready(let next)? = queue.first, batch.merge(next.ready) {
            queue.removeFirst()
            readys.append(next)
        }
        var hardState = batch.hardState
        if let changed = hardState, batch.entries.isEmpty, batch.snapshot == nil,
            changed.term == persistedHardState.term, changed.votedFor == persistedHardState.votedFor
        {
            // Only the commit index moved: it rides with the next write.
            deferredHardState = changed
            finish(readys, writtenHardState: nil, actions: &actions)
            return
        }
        if hardState == nil, !batch.entries.isEmpty || batch.snapshot != nil { hardState = deferredHardState }
        guard hardState != nil || !batch.entries.isEmpty || batch.snapshot != nil else {
            // Messages (and commits) only: nothing to write, but their order is kept.
            finish(readys, writtenHardState: nil, actions: &actions)
            return
        }
        let snapshot: (metadata: SnapshotMetadata, received: ReceivedSnapshot)?
        if let metadata = batch.snapshot {
            guard let pinned = first.received else {
                preconditionFailure("ReadyPipeline: a Ready with a snapshot holds its bytes")
            }
            snapshot = (metadata, pinned)
        } else {
            snapshot = nil
        }
        let id = makeWriteID()
        inFlight = .write(id, readys, hardState: hardState)
        actions.append(
            .write(PipelineWrite(id: id, hardState: hardState, entries: batch.entries, snapshot: snapshot, readyCount: readys.count)))
    }

    /// The write `id` is durable. Returns, per Ready in order: the messages that waited for it, a
    /// received snapshot's restore and its commits, and `advance`. A completion for any other
    /// write is stale and ignored. Call `startWrite` for the next one.
    public mutating func writeFinished(_ id: PipelineWriteID) -> [PipelineAction<ReceivedSnapshot>] {
        guard case .write(let current, let readys, let hardState)? = inFlight, current == id else { return [] }
        inFlight = nil
        var actions: [PipelineAction<ReceivedSnapshot>] = []
        finish(readys, writtenHardState: hardState, actions: &actions)
        return actions
    }

    private mutating func finish(
        _ readys: [QueuedReady], writtenHardState: HardState?, actions: inout [PipelineAction<ReceivedSnapshot>]
    ) {
        if let written = writtenHardState {
            precondition(written.term >= persistedHardState.term, "ReadyPipeline: the durable term never goes back")
            persistedHardState = written
            deferredHardState = nil
        }
        // A held-back hard state has the durable term, so the newest hard state of the batch,
        // written or not, names a durable term.
        for queued in readys {
            if let hardState = queued.ready.hardState { durableTerm = max(durableTerm, hardState.term) }
        }
        for queued in readys {
            let ready = queued.ready
            if !queued.lateMessages.isEmpty { actions.append(.send(queued.lateMessages)) }
            if let metadata = ready.snapshot, let pinned = queued.received {
                snapshotIndex = max(snapshotIndex, metadata.index)
                if let held = received, held.index <= metadata.index { received = nil }
                actions.append(.restore(metadata, pinned))
                if !ready.committedEntries.isEmpty || !ready.readStates.isEmpty {
                    actions.append(.apply(committed: ready.committedEntries, readStates: ready.readStates))
                }
            }
            actions.append(.advance(ready))
        }
    }

    // MARK: Events: the node's own snapshots

    /// The executor starts serializing its state machine for a snapshot.
    public mutating func snapshotStarted() {
        precondition(!isSnapshotInProgress, "ReadyPipeline: one snapshot at a time")
        isSnapshotInProgress = true
    }

    /// The snapshot started with `snapshotStarted` is serialized: it is saved behind every Ready
    /// taken so far (call `startWrite`). Ignored when no snapshot is in progress (the pipeline
    /// was stopped meanwhile). It may exceed `queuedWorkMax` by this one save.
    public mutating func snapshotTaken(_ metadata: SnapshotMetadata, data: [UInt8]) {
        guard isSnapshotInProgress else { return }
        queue.append(.save(metadata, data: data))
    }

    /// Serializing the snapshot failed: nothing is saved, the snapshot is over.
    public mutating func snapshotFailed() {
        isSnapshotInProgress = false
    }

    /// The save `id` is durable: the core's log may be compacted to it. Stale ids are ignored.
    public mutating func snapshotSaved(_ id: PipelineWriteID) -> [PipelineAction<ReceivedSnapshot>] {
        guard case .save(let current, let metadata)? = inFlight, current == id else { return [] }
        inFlight = nil
        isSnapshotInProgress = false
        snapshotIndex = max(snapshotIndex, metadata.index)
        return [.compact(metadata)]
    }

    // MARK: Stopping

    /// The node stops (or crashed): queued work is dropped, completions still to come are stale.
    public mutating func stop() {
        queue.removeAll()
        received = nil
        inFlight = nil
        isSnapshotInProgress = false
    }

    private mutating func makeWriteID() -> PipelineWriteID {
        defer { nextWriteID += 1 }
        return PipelineWriteID(rawValue: nextWriteID)
    }
}
