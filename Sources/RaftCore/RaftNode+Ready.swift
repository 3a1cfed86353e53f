extension RaftNode {
    /// Whether `ready()` has work to hand out. Readys may be outstanding (handed out, not yet
    /// advanced) while new ones are taken, except that a Ready carrying a received snapshot is a
    /// barrier: nothing more is handed out until it is advanced (it replaces the state machine).
    public var hasReady: Bool {
        guard !isSnapshotReadyOutstanding else { return false }
        return (reads.needsBroadcast || isAppendBroadcastPending || isCommitBroadcastDue) && role == .leader
            || !outbox.isEmpty
            || !readStates.isEmpty
            || pendingSnapshot != nil
            || hardState != lastReadyHardState
            || log.handedOutIndex < log.lastIndex
            || log.appliedIndex < log.committedIndex
    }

    /// Hands out the next batch of work (see `Ready` for what the runtime does with it).
    ///
    /// Pipelining (etcd's asynchronous storage writes, dissertation 10.2.1): `ready()` may be
    /// called again before earlier Readys are advanced, so a leader's appends go out, and
    /// committed entries are applied, while an earlier batch is still being written. The runtime
    /// must persist Readys in the order they were handed out and advance them in that order.
    /// Committed entries are counted applied when handed out: the runtime applies them before it
    /// calls `ready()` again (after installing the snapshot, for a Ready that carries one).
    /// Precondition: no Ready carrying a snapshot is outstanding.
    public mutating func ready() -> Ready {
        precondition(!isSnapshotReadyOutstanding, "RaftNode.ready: a Ready with a snapshot is advanced before the next")
        flushPendingAppends()
        broadcastReadRoundIfNeeded()
        let state = hardState
        let snapshot = pendingSnapshot
        let applyFrom = (snapshot?.index ?? log.appliedIndex).next
        let committed =
            log.entries(from: applyFrom, through: log.committedIndex, bytesMax: config.committedBytesPerReadyMax) ?? []
        let ready = Ready(
            hardState: state == lastReadyHardState ? nil : state,
            entries: Array(log.entriesToPersist),
            snapshot: snapshot,
            messages: outbox,
            committedEntries: committed,
            readStates: readStates,
            overwritesHandedOutEntries: log.hasRemovedHandedOutEntries)
        outbox = []
        readStates = []
        lastReadyHardState = state
        log.markHandedOut()
        if snapshot != nil {
            // Nothing is applied until the snapshot is installed (in `advance`).
            pendingSnapshot = nil
            isSnapshotReadyOutstanding = true
            pendingAppliedIndex = committed.last?.index
        } else if let applied = committed.last?.index {
            log.markApplied(through: applied)
        }
        outstandingReadyCount += 1
        return ready
    }

    /// Reports that `ready` was persisted, its remaining messages sent and its committed entries
    /// applied. Readys are advanced in the order they were handed out. The leader counts its own
    /// log toward commitment only now that it is durable (dissertation 10.2.1).
    public mutating func advance(_ ready: Ready) {
        precondition(outstandingReadyCount > 0, "RaftNode.advance: only after ready()")
        outstandingReadyCount -= 1
        if let snapshot = ready.snapshot {
            precondition(isSnapshotReadyOutstanding, "RaftNode.advance: Readys are advanced in order")
            isSnapshotReadyOutstanding = false
            log.markSnapshotInstalled(snapshot)
            if let applied = pendingAppliedIndex { log.markApplied(through: applied) }
            pendingAppliedIndex = nil
        }
        if !ready.entries.isEmpty { log.markStable(ready.entries) }
        if role == .leader, var me = progress[config.id], me.acknowledge(through: log.stableIndex) {
            progress[config.id] = me
            if advanceCommitIndex() { isCommitBroadcastPending = true }
        }
        if !isSnapshotReadyOutstanding, pendingSnapshot == nil { log.checkInvariants() }
        // O(n), so only in debug builds and on short logs: the simulator's seeds snapshot every 5-40
        // entries and overwrite suffixes, which is where the running sum could go wrong.
        assert(log.entries.count > 512 || log.entryBytesAreSummed(), "RaftLog: entryBytes is the sum of the entries' byteCount")
    }
}
