import KVStore
import RaftCore
import WRaftAPI

// What etcd's gRPC API (Sources/WRaftServer/Etcd) needs beyond the HTTP handlers' calls: the
// numbers of every response header and of Status, and the store's snapshot bytes.
extension NodeRuntime {
    nonisolated func responseHeaderNumbers() -> ResponseHeaderNumbers {
        publishedHeader.withLock { $0 }
    }

    /// Republishes the response-header numbers when one changed; called after every Ready
    /// (term, cluster id) and every apply (revision), in the same turn.
    func publishResponseHeader() {
        let numbers = ResponseHeaderNumbers(
            clusterID: clusterID ?? 0, memberID: localID.rawValue, term: core?.currentTerm.rawValue ?? 0,
            revision: store.revision)
        publishedHeader.withLock { if $0 != numbers { $0 = numbers } }
    }

    func memberStatus() async -> MemberStatus {
        let status = core?.status
        return MemberStatus(
            clusterID: clusterID ?? 0, memberID: localID.rawValue, term: status?.term.rawValue ?? 0,
            revision: store.revision, leaderID: status?.leader?.rawValue ?? 0,
            commitIndex: status?.commitIndex.rawValue ?? 0, appliedIndex: store.appliedIndex.rawValue,
            storeBytes: store.quotaByteCount, quotaBytes: options.quotaBytes,
            isLearner: status.map { !$0.membership.isVoter(localID) } ?? false, members: memberViews(),
            etcdAddresses: Dictionary(
                uniqueKeysWithValues: book.ids.compactMap { id in book[id]?.etcdAddress.map { (id.rawValue, $0) } }))
    }

    func storeSnapshot(deadline: ContinuousClock.Instant) async throws(NodeError) -> StoreSnapshot {
        try await waitUntilReadable(consistency: .linearizable, deadline: deadline)
        return StoreSnapshot(bytes: store.snapshot(), revision: store.revision)
    }
}
