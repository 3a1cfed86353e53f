extension RaftNode {
    /// Whether `ready()` has work to hand out. False while a `Ready` is outstanding (handed out
    /// and not yet advanced): the runtime does one batch at a time.
    public var hasReady: Bool {
        guard outstanding == nil else { return false }
        return (reads.needsBroadcast || isAppendBroadcastPending || isCommitBroadcastPending) && role == .leader
            || !outbox.isEmpty
            || !readStates.isEmpty
            || pendingSnapshot != nil
            || hardState != lastReadyHardState
            || log.stableIndex < log.lastIndex
            || log.appliedIndex < log.committedIndex
    }

    /// Hands out the next batch of work. Precondition: no `Ready` is outstanding.
    public mutating func ready() -> Ready {
        precondition(outstanding == nil, "RaftNode.ready: one Ready at a time; call advance(_:) first")
        flushPendingAppends()
        broadcastReadRoundIfNeeded()
        let state = hardState
        let snapshot = pendingSnapshot
        let applyFrom = (snapshot?.index ?? log.appliedIndex).next
        let committed =
            log.entries(from: applyFrom, through: log.committedIndex, bytesMax: config.committedBytesPerReadyMax) ?? []
        let ready = Ready(
            hardState: state == lastReadyHardState ? nil : state,
            entries: Array(log.unstableEntries),
            snapshot: snapshot,
            messages: outbox,
            committedEntries: committed,
            readStates: readStates)
        outbox = []
        readStates = []
        lastReadyHardState = state
        outstanding = OutstandingReady(lastCommittedIndex: committed.last?.index)
        return ready
    }

    /// Reports that `ready` was done: persisted, sent, applied. The leader counts its own log
    /// toward commitment only now that it is durable (dissertation 10.2.1).
    public mutating func advance(_ ready: Ready) {
        guard let done = outstanding else {
            preconditionFailure("RaftNode.advance: only after ready()")
        }
        outstanding = nil
        if let snapshot = ready.snapshot {
            log.markSnapshotInstalled(snapshot)
            if pendingSnapshot == snapshot { pendingSnapshot = nil }
        }
        if !ready.entries.isEmpty { log.markStable(ready.entries) }
        if let applied = done.lastCommittedIndex { log.markApplied(through: applied) }
        if role == .leader, var me = progress[config.id], me.acknowledge(through: log.stableIndex) {
            progress[config.id] = me
            if advanceCommitIndex() { isCommitBroadcastPending = true }
        }
        if pendingSnapshot == nil { log.checkInvariants() }
    }
}
