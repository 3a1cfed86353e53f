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

    func loadIdentity() async throws(NodeStorageError) -> NodeIdentityRecord? {
        do {
            return try await storage.loadIdentity().map {
                NodeIdentityRecord(
                    nodeID: $0.nodeID, clusterID: $0.clusterID, raftAddress: $0.raftAddress, httpAddress: $0.httpAddress,
                    peers: Dictionary(
                        $0.peers.map { ($0.nodeID, MemberAddress(raftAddress: $0.raftAddress, httpAddress: $0.httpAddress)) },
                        uniquingKeysWith: { first, _ in first }))
            }
        } catch {
            throw NodeStorageError(description: error.description)
        }
    }

    func saveIdentity(_ identity: NodeIdentityRecord) async throws(NodeStorageError) {
        do {
            try await storage.saveIdentity(
                NodeIdentity(
                    nodeID: identity.nodeID, clusterID: identity.clusterID, raftAddress: identity.raftAddress,
                    httpAddress: identity.httpAddress,
                    peers: identity.peers.map {
                        PeerAddresses(nodeID: $0.key, raftAddress: $0.value.raftAddress, httpAddress: $0.value.httpAddress)
                    }))
        } catch {
            throw NodeStorageError(description: error.description)
        }
    }
}
