import RaftCore

/// What the WAL's records add up to: the hard state, the snapshot the log starts after, and
/// the stored entries after it. Recovery folds every record into one of these, and the live
/// storage folds each batch into its own copy before writing it, so both read the records the
/// same way.
///
/// Recovery may start from a segment whose predecessors were deleted (a snapshot covered
/// their entries). Its header says where the log stood when it was started; the entries up to
/// there are *unknown* until a snapshot marker covers them, which it must by the end of the
/// scan (`hasUnknownEntries` is then false).
///
/// Invariant: `snapshot.index <= unknownThrough <= lastIndex`; `termRuns` (and `entries`,
/// kept only during recovery) cover exactly `unknownThrough + 1 ... lastIndex`, contiguous.
struct LogState {
    /// A run of consecutive entries with the same term, starting at `firstIndex`.
    struct TermRun: Equatable {
        var firstIndex: LogIndex
        var term: Term
    }

    var hardState = HardState.initial
    private(set) var snapshot = SnapshotMetadata.empty
    private(set) var lastIndex = LogIndex.zero
    /// Entries `snapshot.index + 1 ... unknownThrough` are in deleted segments.
    private(set) var unknownThrough = LogIndex.zero
    /// The term of the entry at `unknownThrough`, when the segment header said it.
    private var unknownThroughTerm: Term?
    /// Terms of the known entries, run-length encoded: a handful of runs for millions of entries.
    private(set) var termRuns: [TermRun] = []
    /// The known entries themselves, kept only while recovering (the core holds the log).
    private(set) var entries: [Entry] = []
    let isKeepingEntries: Bool

    init(isKeepingEntries: Bool) {
        self.isKeepingEntries = isKeepingEntries
    }

    /// A copy without the entries kept during recovery (the live storage only needs terms).
    func withoutEntries() -> LogState {
        var copy = LogState(isKeepingEntries: false)
        copy.hardState = hardState
        copy.snapshot = snapshot
        copy.lastIndex = lastIndex
        copy.unknownThrough = unknownThrough
        copy.unknownThroughTerm = unknownThroughTerm
        copy.termRuns = termRuns
        return copy
    }

    /// Whether some entries after the snapshot are only known to have been in deleted segments.
    var hasUnknownEntries: Bool { unknownThrough > snapshot.index }

    /// Starts the scan of a log whose first segments were deleted: entries up to `index`
    /// (whose term is `term`) are unknown. Precondition: nothing was folded in yet.
    mutating func startAfterDeletedSegments(lastIndex index: LogIndex, term: Term) {
        precondition(lastIndex == .zero && snapshot.index == .zero, "LogState: a deleted prefix comes first")
        unknownThrough = index
        unknownThroughTerm = term
        lastIndex = index
    }

    /// The term of the entry at `index`, or nil when it is not stored (or unknown).
    func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex, index >= unknownThrough else { return nil }
        if index == unknownThrough { return unknownThroughTerm }
        // The last run starting at or before `index`.
        var low = 0
        var high = termRuns.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if termRuns[middle].firstIndex <= index { low = middle } else { high = middle - 1 }
        }
        return termRuns[low].term
    }

    // MARK: Entries

    /// Why `batch` cannot be appended, or nil when it can.
    func violation(appending batch: some BidirectionalCollection<Entry>) -> String? {
        guard let first = batch.first else { return "an empty batch of entries" }
        guard first.index > snapshot.index else {
            return "entries from index \(first.index) are at or below the snapshot index \(snapshot.index)"
        }
        // `previous`, not `next`: an index read from disk may be UInt64.max (no overflow trap).
        guard first.index.previous <= lastIndex else {
            return "gap: entries start at index \(first.index) but the log ends at \(lastIndex)"
        }
        var previous = (index: first.index.previous, term: term(at: first.index.previous) ?? .zero)
        for entry in batch {
            guard entry.index > previous.index, entry.index.previous == previous.index else {
                return "entries not contiguous: index \(entry.index) follows \(previous.index)"
            }
            guard entry.term >= previous.term else {
                return "term goes backwards: entry \(entry.index) has term \(entry.term) after term \(previous.term)"
            }
            previous = (entry.index, entry.term)
        }
        return nil
    }

    /// Appends `batch`, first dropping the stored suffix from its first index on (a new leader
    /// overwrote it). Precondition: `violation(appending:)` is nil.
    mutating func append(_ batch: some BidirectionalCollection<Entry>) {
        guard let first = batch.first, let last = batch.last else { return }
        truncate(after: first.index.previous)
        for entry in batch where termRuns.last?.term != entry.term {
            termRuns.append(TermRun(firstIndex: entry.index, term: entry.term))
        }
        if isKeepingEntries { entries.append(contentsOf: batch) }
        lastIndex = last.index
    }

    /// Drops stored entries after `index` (at or after the snapshot index).
    private mutating func truncate(after index: LogIndex) {
        guard index < lastIndex else { return }
        if index < unknownThrough {
            // Overwritten inside the unknown part: only what follows is known now.
            unknownThrough = index
            unknownThroughTerm = nil
            termRuns.removeAll()
            if isKeepingEntries { entries.removeAll() }
        } else {
            while let run = termRuns.last, run.firstIndex > index { termRuns.removeLast() }
            if isKeepingEntries { entries.removeLast(Int(index.distance(to: lastIndex))) }
        }
        lastIndex = index
    }

    // MARK: Snapshots

    /// Why the snapshot marker cannot be applied, or nil when it can.
    func violation(installing metadata: SnapshotMetadata) -> String? {
        if metadata.index < snapshot.index {
            return "snapshot goes backwards: index \(metadata.index) after \(snapshot.index)"
        }
        if metadata.index == snapshot.index && metadata.term != snapshot.term {
            return "two snapshots at index \(metadata.index) with terms \(snapshot.term) and \(metadata.term)"
        }
        return nil
    }

    /// Why a snapshot record flagged `keepsLaterEntries` cannot be true of this log, or nil. The
    /// writer sets the flag only when the entry at the snapshot's index has the snapshot's term,
    /// so the entries it keeps never have a lower term than the snapshot. When the entry at the
    /// index is unknown (in deleted segments, or cut off by an overwrite), the terms of what
    /// follows still must not go below the snapshot's.
    func violation(keepingEntriesAfter metadata: SnapshotMetadata) -> String? {
        guard metadata.index < lastIndex else { return nil }
        if let stored = term(at: metadata.index), stored != metadata.term {
            return "snapshot at \(metadata.index) term \(metadata.term) keeps later entries, "
                + "but the entry there has term \(stored)"
        }
        // Known terms never decrease (`violation(appending:)`), so the first kept one is the least.
        if unknownThrough > metadata.index, let term = unknownThroughTerm, term < metadata.term {
            return "snapshot at \(metadata.index) term \(metadata.term) keeps later entries of term \(term)"
        }
        let lastUnkept = max(metadata.index, unknownThrough)
        if lastUnkept < lastIndex, let term = term(at: lastUnkept.next), term < metadata.term {
            return "snapshot at \(metadata.index) term \(metadata.term) keeps later entries of term \(term)"
        }
        return nil
    }

    /// Whether installing `metadata` as a compaction keeps the stored entries after it: only
    /// when the stored entry at its index has its term (dissertation 5.4.1 / Figure 5.13;
    /// otherwise the stored log diverges from the snapshot and is discarded). The live storage
    /// decides this (it knows every term) and writes the decision into the snapshot record, so
    /// recovery never has to judge.
    func keepsLaterEntries(installing metadata: SnapshotMetadata) -> Bool {
        term(at: metadata.index) == metadata.term
    }

    /// Compacts the log through `metadata`: entries up to its index go; those after it stay
    /// when `keepsLaterEntries`, else they go too. Precondition: `violation(installing:)` is nil.
    mutating func install(_ metadata: SnapshotMetadata, keepsLaterEntries: Bool) {
        defer { snapshot = metadata }
        let index = metadata.index
        if !keepsLaterEntries || index >= lastIndex {
            termRuns.removeAll()
            if isKeepingEntries { entries.removeAll() }
            lastIndex = index
            unknownThrough = index
            unknownThroughTerm = nil
        } else if index < unknownThrough {
            // Inside the unknown part (an older snapshot than the one that let segments be
            // deleted, which comes later): the entries after it stay as they are.
        } else {
            dropKnownPrefix(through: index)
        }
    }

    /// Drops the known entries up to `index` (`unknownThrough <= index < lastIndex`).
    private mutating func dropKnownPrefix(through index: LogIndex) {
        let firstKept = index.next
        let runsBefore = termRuns.lastIndex { $0.firstIndex <= firstKept } ?? 0
        termRuns.removeFirst(runsBefore)
        if !termRuns.isEmpty { termRuns[0].firstIndex = max(termRuns[0].firstIndex, firstKept) }
        if isKeepingEntries {
            entries.removeFirst(Int(unknownThrough.distance(to: index)))
        }
        unknownThrough = index
        unknownThroughTerm = nil
    }
}
