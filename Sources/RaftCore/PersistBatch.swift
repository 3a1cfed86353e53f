/// Consecutive Readys written with one fsync: group commit across the Ready pipeline.
///
/// While one write is in flight the runtime keeps taking Readys; when it finishes, everything
/// that queued up is merged into one batch and made durable together. A Ready joins a batch only
/// when that promises nothing its predecessors' messages do not: a Ready with a snapshot is
/// written alone, and a Ready that overwrites handed-out entries starts a new batch (see
/// `Ready.overwritesHandedOutEntries`).
///
/// Invariant: `entries` are contiguous, in index order; `readys` are in the order handed out.
public struct PersistBatch: Sendable {
    /// The merged Readys, in order; after the write each is finished and advanced in this order.
    public private(set) var readys: [Ready]
    /// The newest hard state among them.
    public private(set) var hardState: HardState?
    /// Their entries, concatenated.
    public private(set) var entries: [Entry]
    /// The received snapshot to persist first (only ever in a batch of one).
    public var snapshot: SnapshotMetadata? { readys.count == 1 ? readys[0].snapshot : nil }

    public init(_ first: Ready) {
        readys = [first]
        hardState = first.hardState
        entries = first.entries
    }

    /// Adds `next` to the batch if it may share its write; false (and no change) otherwise.
    public mutating func merge(_ next: Ready) -> Bool {
        guard next.snapshot == nil, readys[0].snapshot == nil, !next.overwritesHandedOutEntries else { return false }
        if let first = next.entries.first, let last = entries.last {
            precondition(
                first.index == last.index.next,
                "PersistBatch: a Ready that does not overwrite continues the entries handed out before it")
        }
        readys.append(next)
        if let state = next.hardState { hardState = state }
        entries.append(contentsOf: next.entries)
        return true
    }
}
