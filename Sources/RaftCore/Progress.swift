/// The leader's view of one member's log (etcd's tracker.Progress).
///
/// Invariant: `matchIndex < nextIndex`.
struct Progress {
    var matchIndex: LogIndex
    var nextIndex: LogIndex
    private(set) var state: PeerProgress.State = .probe
    /// In `.probe`: an append is out and we wait for its answer before sending another.
    var isProbeSent = false
    /// In `.snapshot`: the index of the snapshot being sent.
    private(set) var pendingSnapshotIndex: LogIndex = .zero
    /// Heard from during the current check-quorum window.
    var isRecentlyActive = false
    /// The highest ReadIndex confirmation round this member acknowledged.
    var acknowledgedReadRound: UInt64 = 0
    var inflights: Inflights

    init(nextIndex: LogIndex, inflightMessagesMax: Int) {
        self.matchIndex = .zero
        self.nextIndex = nextIndex
        self.inflights = Inflights(capacity: inflightMessagesMax)
    }

    /// True when no more appends may be sent now.
    var isPaused: Bool {
        switch state {
        case .probe: return isProbeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        // After a snapshot, resume from what the snapshot covered.
        if state == .snapshot {
            nextIndex = max(matchIndex.next, pendingSnapshotIndex.next)
        } else {
            nextIndex = matchIndex.next
        }
        state = .probe
        isProbeSent = false
        pendingSnapshotIndex = .zero
        inflights.removeAll()
    }

    /// Forgets a snapshot transfer that failed, so probing resumes from the match point.
    mutating func abandonPendingSnapshot() {
        pendingSnapshotIndex = .zero
    }

    mutating func becomeReplicate() {
        state = .replicate
        nextIndex = matchIndex.next
        isProbeSent = false
        inflights.removeAll()
    }

    mutating func becomeSnapshot(index: LogIndex) {
        state = .snapshot
        pendingSnapshotIndex = index
        isProbeSent = false
        inflights.removeAll()
    }

    /// An acknowledgement that the member matches through `index`. Returns whether it was news.
    mutating func acknowledge(through index: LogIndex) -> Bool {
        var updated = false
        if matchIndex < index {
            matchIndex = index
            updated = true
            isProbeSent = false
        }
        if nextIndex < index.next { nextIndex = index.next }
        inflights.free(through: index)
        return updated
    }

    /// Records that an append ending at `lastIndex` was sent.
    mutating func sentEntries(through lastIndex: LogIndex) {
        switch state {
        case .replicate:
            nextIndex = lastIndex.next
            inflights.add(lastIndex)
        case .probe:
            isProbeSent = true
        case .snapshot:
            preconditionFailure("Progress: no appends are sent while a snapshot is pending")
        }
    }

    /// A rejection of the append whose previous index was `rejected`; `hint` is where to retry.
    /// Returns false when the rejection is stale (answers an older request).
    mutating func backtrack(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            guard rejected > matchIndex else { return false }
            becomeProbe()
            return true
        }
        guard nextIndex.previous == rejected else { return false }
        nextIndex = max(min(rejected, hint.next), matchIndex.next)
        isProbeSent = false
        return true
    }

    var view: PeerProgress {
        PeerProgress(
            matchIndex: matchIndex, nextIndex: nextIndex, state: state,
            isRecentlyActive: isRecentlyActive, inflightMessages: inflights.count)
    }
}

/// The last indices of the appends in flight to one member, oldest first, at most `capacity`
/// (a ring buffer: adding and freeing are O(1) amortized, no allocation after the first fill).
struct Inflights {
    private var buffer: [LogIndex]
    private var start = 0
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity >= 1, "Inflights: capacity >= 1")
        self.capacity = capacity
        self.buffer = []
    }

    var isFull: Bool { count == capacity }

    mutating func add(_ index: LogIndex) {
        precondition(!isFull, "Inflights.add: never more than capacity in flight")
        if buffer.count < capacity { buffer.reserveCapacity(capacity) }
        let slot = (start + count) % capacity
        if slot < buffer.count { buffer[slot] = index } else { buffer.append(index) }
        count += 1
    }

    /// Drops every in-flight append ending at or before `index`.
    mutating func free(through index: LogIndex) {
        while count > 0 && buffer[start] <= index {
            start = (start + 1) % capacity
            count -= 1
        }
        if count == 0 { start = 0 }
    }

    /// Frees the oldest in-flight append (used when a heartbeat answer shows the member alive
    /// while the window is full: an append was probably lost, and probing will find out).
    mutating func freeFirst() {
        guard count > 0 else { return }
        start = (start + 1) % capacity
        count -= 1
        if count == 0 { start = 0 }
    }

    mutating func removeAll() {
        start = 0
        count = 0
    }
}
