import RaftCore
import RaftStorage

@testable import WRaftServer

/// A durable store in memory whose writes a test can hold and release, to put a runtime's
/// events in an exact order (a Ready still being written while messages arrive, a snapshot saved
/// after another one was installed).
///
/// It keeps StorageEngine's snapshot contract, which MemoryStorage does not check: a snapshot
/// never goes backwards. Where the real store traps, this one throws, so that a runtime breaking
/// the contract fails its test (through the harness's fatal-error hook) instead of the process.
actor GatedStorage: NodeStorage {
    /// What is held: `persist` calls, `saveSnapshot` calls, or both.
    struct Holds: OptionSet, Sendable {
        let rawValue: Int
        static let persists = Holds(rawValue: 1)
        static let snapshotSaves = Holds(rawValue: 2)
    }

    private let inner = MemoryStorage()
    private var holds: Holds = []
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// The newest snapshot saved or installed (what StorageEngine checks a new one against).
    private var snapshot = SnapshotMetadata.empty
    /// How many calls wait at the gate now.
    var waitingCount: Int { waiting.count }
    /// The snapshots `saveSnapshot` was called with, in order (held ones included).
    private(set) var savesRequested: [SnapshotMetadata] = []

    /// From now on, the calls in `holds` wait until `release()`.
    func hold(_ holds: Holds) {
        self.holds = holds
    }

    /// Lets every held call go on, and the later ones pass.
    func release() {
        holds = []
        let released = waiting
        waiting = []
        for waiter in released { waiter.resume() }
    }

    private func pass(_ what: Holds) async {
        guard holds.contains(what) else { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func recover() async throws(NodeStorageError) -> PersistentState {
        try await inner.recover()
    }

    func persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?) async throws(NodeStorageError) {
        await pass(.persists)
        if let snapshot { try check(snapshot) }
        try await inner.persist(hardState: hardState, entries: entries, snapshot: snapshot)
    }

    func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) async throws(NodeStorageError) {
        savesRequested.append(metadata)
        await pass(.snapshotSaves)
        try check(metadata)
        try await inner.saveSnapshot(metadata, data: data)
    }

    /// StorageEngine's `violation(installing:)`, thrown instead of trapping.
    private func check(_ metadata: SnapshotMetadata) throws(NodeStorageError) {
        if metadata.index < snapshot.index {
            throw NodeStorageError(description: "snapshot goes backwards: index \(metadata.index) after \(snapshot.index)")
        }
        if metadata.index == snapshot.index && metadata.term != snapshot.term {
            throw NodeStorageError(description: "two snapshots at index \(metadata.index)")
        }
        snapshot = metadata
    }

    func latestSnapshot() async throws(NodeStorageError) -> (SnapshotMetadata, [UInt8])? {
        try await inner.latestSnapshot()
    }

    func loadIdentity() async throws(NodeStorageError) -> NodeIdentity? {
        try await inner.loadIdentity()
    }

    func saveIdentity(_ identity: NodeIdentity) async throws(NodeStorageError) {
        try await inner.saveIdentity(identity)
    }
}

/// A one-way gate: `wait()` returns once `open()` was called.
actor TestGate {
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        guard !isOpen else { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func open() {
        isOpen = true
        let released = waiting
        waiting = []
        for waiter in released { waiter.resume() }
    }
}
