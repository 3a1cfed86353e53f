/// The in-memory Raft log of one node: the entries since its compaction point, which of them are
/// durable, committed and applied, and the latest snapshot.
///
/// Invariants (checked by `checkInvariants()`):
/// - `entries` are contiguous: `entries[i].index == baseIndex + 1 + i`, terms non-decreasing,
///   and no entry's term is below `baseTerm`.
/// - `baseIndex <= appliedIndex <= committedIndex <= lastIndex`.
/// - `stableIndex <= handedOutIndex <= lastIndex`: entries after `stableIndex` are not yet
///   durable; those after `handedOutIndex` have not yet been handed out to be persisted.
/// - `snapshot.index >= baseIndex` (entries may be retained behind the snapshot for slow followers).
struct RaftLog {
    /// The index and term of the entry just before `entries[0]` (compacted away or never held).
    private(set) var baseIndex: LogIndex
    private(set) var baseTerm: Term
    /// The configuration in force at `baseIndex`, with its application context.
    private(set) var baseMembership: Membership
    private(set) var baseMembershipContext: [UInt8]
    private(set) var entries: [Entry]
    /// `entries`' `byteCount`s summed: what the log holds in memory (a metric, and the reason a
    /// node snapshots). Kept beside every change of `entries`; `entryBytesAreSummed()` checks it.
    private(set) var entryBytes: Int
    /// The latest durable snapshot (what a lagging follower is sent).
    private(set) var snapshot: SnapshotMetadata
    /// The highest index known committed.
    private(set) var committedIndex: LogIndex
    /// The highest index the application reported applied.
    private(set) var appliedIndex: LogIndex
    /// The highest index known durable.
    private(set) var stableIndex: LogIndex
    /// The highest index handed out in a `Ready` to be persisted (durable or not yet).
    private(set) var handedOutIndex: LogIndex
    /// Entries handed out were removed since the last `markHandedOut()` (see
    /// `Ready.overwritesHandedOutEntries`).
    private(set) var hasRemovedHandedOutEntries = false

    init(state: PersistentState) {
        baseIndex = state.snapshot.index
        baseTerm = state.snapshot.term
        baseMembership = state.snapshot.membership
        baseMembershipContext = state.snapshot.membershipContext
        entries = state.entries
        entryBytes = state.entries.reduce(0) { $0 + $1.byteCount }
        snapshot = state.snapshot
        // A snapshot only ever holds committed entries, whatever the stored commit index says.
        committedIndex = max(state.hardState.commit, state.snapshot.index)
        appliedIndex = state.snapshot.index
        stableIndex = state.snapshot.index + UInt64(state.entries.count)
        handedOutIndex = stableIndex
    }

    /// Describes why a persisted state cannot be a Raft log, or nil when it can.
    static func validate(_ state: PersistentState) -> String? {
        // Bounds first: the checks below do arithmetic on these numbers.
        if state.hardState.term > Term.wireMax || state.snapshot.term > Term.wireMax {
            return "a term above the bound \(Term.wireMax)"
        }
        if state.hardState.commit > LogIndex.wireMax || state.snapshot.index > LogIndex.wireMax
            || UInt64(state.entries.count) > LogIndex.wireMax.rawValue - state.snapshot.index.rawValue
        {
            return "an index above the bound \(LogIndex.wireMax)"
        }
        var expected = state.snapshot.index.next
        var previousTerm = state.snapshot.term
        for entry in state.entries {
            if entry.index != expected { return "entry \(entry.index) follows \(expected.previous) (gap or overlap)" }
            if entry.term < previousTerm { return "entry \(entry.index) has term \(entry.term) below \(previousTerm)" }
            expected = expected.next
            previousTerm = entry.term
        }
        let lastIndex = expected.previous
        if state.hardState.commit > lastIndex {
            return "commit index \(state.hardState.commit) beyond the last entry \(lastIndex)"
        }
        if state.hardState.term < previousTerm {
            return "hard state term \(state.hardState.term) below the last entry's term \(previousTerm)"
        }
        return nil
    }

    // MARK: Queries

    var firstIndex: LogIndex { baseIndex.next }
    var lastIndex: LogIndex { baseIndex + UInt64(entries.count) }
    var lastTerm: Term { entries.last?.term ?? baseTerm }

    /// The term of the entry at `index`, or nil when it is compacted away or beyond the end.
    func term(at index: LogIndex) -> Term? {
        if index == baseIndex { return baseTerm }
        guard index > baseIndex, index <= lastIndex else { return nil }
        return entries[position(of: index)].term
    }

    /// Whether this log holds an entry at `index` with `term` (index 0, term 0 always matches).
    func matches(index: LogIndex, term: Term) -> Bool {
        self.term(at: index) == term
    }

    /// Raft's "at least as up to date" comparison (paper 5.4.1).
    func isUpToDate(lastIndex otherIndex: LogIndex, lastTerm otherTerm: Term) -> Bool {
        otherTerm > lastTerm || (otherTerm == lastTerm && otherIndex >= lastIndex)
    }

    /// The entry at `index`, if held.
    func entry(at index: LogIndex) -> Entry? {
        guard index > baseIndex, index <= lastIndex else { return nil }
        return entries[position(of: index)]
    }

    /// Entries from `start` through at most `end`, stopping once `bytesMax` is reached (at least one
    /// entry is returned when any is in range). Nil when `start` is compacted away.
    func entries(from start: LogIndex, through end: LogIndex, bytesMax: Int) -> [Entry]? {
        guard start > baseIndex else { return nil }
        let last = min(end, lastIndex)
        guard start <= last else { return [] }
        var result: [Entry] = []
        var bytes = 0
        var index = start
        while index <= last {
            let entry = entries[position(of: index)]
            bytes += entry.byteCount
            if !result.isEmpty && bytes > bytesMax { break }
            result.append(entry)
            index = index.next
        }
        return result
    }

    /// The entries not yet handed out to be persisted.
    var entriesToPersist: ArraySlice<Entry> {
        entries[position(of: handedOutIndex.next)...]
    }

    /// Fast backtracking (dissertation 5.3 / etcd findConflictByTerm): the largest index at or
    /// below `index` whose term is at or below `term`, with that term. Used by a follower to tell
    /// the leader where to retry, and by the leader to skip a whole term at once.
    func conflictHint(atOrBelow index: LogIndex, term: Term) -> (index: LogIndex, term: Term) {
        var candidate = min(index, lastIndex)
        while candidate > baseIndex {
            let candidateTerm = entries[position(of: candidate)].term
            if candidateTerm <= term { return (candidate, candidateTerm) }
            candidate = candidate.previous
        }
        return (baseIndex, baseTerm)
    }

    /// The membership in force at `index` (the latest membership entry at or before it), with its
    /// context and the index of the entry that set it (`baseIndex` when it comes from before the log).
    func membership(at index: LogIndex) -> (membership: Membership, context: [UInt8], setAt: LogIndex) {
        var candidate = min(index, lastIndex)
        while candidate > baseIndex {
            let entry = entries[position(of: candidate)]
            if entry.kind == .membership, let change = try? MembershipChange(decoding: entry.data) {
                return (change.membership, change.context, candidate)
            }
            candidate = candidate.previous
        }
        return (baseMembership, baseMembershipContext, baseIndex)
    }

    // MARK: Mutations

    /// Appends entries that continue the log exactly. Precondition: contiguous, terms ordered.
    mutating func append(_ newEntries: some Collection<Entry>) {
        for entry in newEntries {
            precondition(entry.index == lastIndex.next, "RaftLog.append: entries are contiguous")
            precondition(entry.term >= lastTerm, "RaftLog.append: terms never decrease along the log")
            entries.append(entry)
            entryBytes += entry.byteCount
        }
    }

    /// Removes every entry from `index` on (a leader overwrote an uncommitted suffix).
    mutating func truncate(from index: LogIndex) {
        precondition(index > committedIndex, "RaftLog.truncate: a committed entry is never removed")
        precondition(index > baseIndex, "RaftLog.truncate: only held entries are removed")
        let removed = position(of: index)...
        entryBytes -= entries[removed].reduce(0) { $0 + $1.byteCount }
        entries.removeSubrange(removed)
        if stableIndex >= index { stableIndex = index.previous }
        if handedOutIndex >= index {
            handedOutIndex = index.previous
            hasRemovedHandedOutEntries = true
        }
    }

    mutating func commit(to index: LogIndex) {
        precondition(index <= lastIndex, "RaftLog.commit: commit index <= last index")
        if index > committedIndex { committedIndex = index }
    }

    mutating func markApplied(through index: LogIndex) {
        precondition(index <= committedIndex, "RaftLog.markApplied: applied <= committed")
        if index > appliedIndex { appliedIndex = index }
    }

    /// Records that every entry not yet handed out is now on its way to storage.
    mutating func markHandedOut() {
        handedOutIndex = lastIndex
        hasRemovedHandedOutEntries = false
    }

    /// Records that the entries of a persisted batch are durable, as far as the log still holds
    /// them (a later truncation may have replaced some; those are persisted again). Batches are
    /// persisted in the order they were handed out, so everything before the batch is durable too.
    mutating func markStable(_ persisted: [Entry]) {
        for entry in persisted.reversed() where entry.index > stableIndex {
            if term(at: entry.index) == entry.term {
                stableIndex = min(entry.index, handedOutIndex)
                return
            }
        }
    }

    /// Replaces the whole log by a snapshot received from the leader.
    mutating func restore(_ metadata: SnapshotMetadata) {
        precondition(metadata.index > committedIndex, "RaftLog.restore: a snapshot only moves the log forward")
        baseIndex = metadata.index
        baseTerm = metadata.term
        baseMembership = metadata.membership
        baseMembershipContext = metadata.membershipContext
        entries = []
        entryBytes = 0
        snapshot = metadata
        committedIndex = metadata.index
        stableIndex = metadata.index
        handedOutIndex = metadata.index
    }

    /// The restored snapshot is durable and installed in the state machine.
    mutating func markSnapshotInstalled(_ metadata: SnapshotMetadata) {
        if metadata.index > appliedIndex { appliedIndex = metadata.index }
        if metadata.index > stableIndex { stableIndex = metadata.index }
        if metadata.index > handedOutIndex { handedOutIndex = metadata.index }
    }

    /// Remembers a durable snapshot and drops entries through `snapshot.index - retaining`.
    mutating func compact(to newSnapshot: SnapshotMetadata, retainingEntries retaining: UInt64) {
        precondition(newSnapshot.index <= appliedIndex, "RaftLog.compact: only applied entries are compacted")
        guard newSnapshot.index > snapshot.index else { return }
        snapshot = newSnapshot
        let newBase = max(baseIndex, newSnapshot.index - retaining)
        guard newBase > baseIndex, let newBaseTerm = term(at: newBase) else { return }
        let config = membership(at: newBase)
        baseMembership = config.membership
        baseMembershipContext = config.context
        let removedCount = Int(baseIndex.distance(to: newBase))
        entryBytes -= entries[..<removedCount].reduce(0) { $0 + $1.byteCount }
        entries.removeFirst(removedCount)
        baseIndex = newBase
        baseTerm = newBaseTerm
    }

    func checkInvariants() {
        precondition(baseIndex <= appliedIndex, "RaftLog: base <= applied")
        precondition(appliedIndex <= committedIndex, "RaftLog: applied <= committed")
        precondition(committedIndex <= lastIndex, "RaftLog: committed <= last")
        precondition(stableIndex <= handedOutIndex, "RaftLog: stable <= handed out")
        precondition(handedOutIndex <= lastIndex, "RaftLog: handed out <= last")
        precondition(snapshot.index >= baseIndex, "RaftLog: snapshot index >= base index")
        precondition(entryBytes >= 0, "RaftLog: entryBytes is never negative")
    }

    /// Whether `entryBytes` is the sum over `entries` (O(n): for tests and the simulator's checks).
    func entryBytesAreSummed() -> Bool {
        entryBytes == entries.reduce(0) { $0 + $1.byteCount }
    }

    private func position(of index: LogIndex) -> Int {
        Int(index.rawValue - baseIndex.rawValue - 1)
    }
}
