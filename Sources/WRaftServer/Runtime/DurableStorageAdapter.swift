import RaftCore
import RaftStorage

/// The runtime's view of RaftStorage's `DurableStorage` (which runs on its own thread).
struct DurableStorageAdapter: NodeStorage {
    let storage: DurableStorage

    func recover() async throws(NodeStorageError) -> PersistentState {
        do { return try await storage.recover() } catch { throw NodeStorageError(description: error.description) }
    }

    func persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?) async throws(NodeStorageError) {
        do {
            try await storage.persist(hardState: hardState, entries: entries, snapshot: snapshot)
        } catch {
            throw NodeStorageError(description: error.description)
        }
    }

    func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) async throws(NodeStorageError) {
        do {
            try await storage.saveSnapshot(metadata, data: data)
        } catch {
            throw NodeStorageError(description: error.description)
        }
    }

    func latestSnapshot() async throws(NodeStorageError) -> (SnapshotMetadata, [UInt8])? {
        do { return try await storage.latestSnapshot() } catch { throw NodeStorageError(description: error.description) }
    }

    func loadIdentity() async throws(NodeStorageError) -> NodeIdentity? {
        do { return try await storage.loadIdentity() } catch { throw NodeStorageError(description: error.description) }
    }

    func saveIdentity(_ identity: NodeIdentity) async throws(NodeStorageError) {
        do {
            try await storage.saveIdentity(identity)
        } catch {
            throw NodeStorageError(description: error.description)
        }
    }
}
