import KVStore
import RaftCore
import WRaftAPI
import WRaftSupport

// Reads at a revision, ranges, and the commands of revisions, leases and transactions
// (issue 12), for the HTTP layer (`NodeService`).
extension NodeRuntime {
    func readEntry(key: [UInt8], revision: UInt64?, consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> EntryOutcome
    {
        try await waitUntilReadable(consistency: consistency, deadline: deadline)
        do throws(KVReadError) {
            return EntryOutcome(entry: try store.entry(key, atRevision: revision), revision: store.revision)
        } catch {
            throw NodeError(error)
        }
    }

    func readRange(
        _ range: KVKeyRange, after: [UInt8]?, revision: UInt64?, limit: Int, consistency: ReadConsistency,
        deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> RangeOutcome {
        guard limit >= 0 else { throw .badRequest(code: .badRequest, message: "limit must be >= 0") }
        try await waitUntilReadable(consistency: consistency, deadline: deadline)
        do throws(KVReadError) {
            let found = try store.range(range, after: after, atRevision: revision, limit: limit)
            return RangeOutcome(entries: found.entries, hasMore: found.hasMore, revision: store.revision)
        } catch {
            throw NodeError(error)
        }
    }

    /// Proposes `request` and answers its result (a refusal as its `NodeError`).
    ///
    /// A lease grant without an id gets one here, before it is proposed: etcd's clients take
    /// lease ids as opaque 63-bit positive numbers, so the node draws one at random
    /// (`LeaseIDs.draw`) into the replicated command, and every member applies the same id. The
    /// store refuses an id in use (`leaseExists`); for an id this node drew, that only means a
    /// collision, and it draws again (`LeaseIDs.drawsMax` times at most). A command of an
    /// older node with id 0 still applies as before (the store chooses from the entry's index).
    func execute(_ request: KVRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> KVResult {
        guard case .leaseGrant(0, let ttlSeconds) = request else { return try await executeOnce(request, deadline: deadline) }
        var draws = 1
        while true {
            do throws(NodeError) {
                return try await executeOnce(.leaseGrant(id: LeaseIDs.draw(), ttlSeconds: ttlSeconds), deadline: deadline)
            } catch {
                guard draws < LeaseIDs.drawsMax, case .refused(code: .leaseExists, _) = error else { throw error }
                draws += 1
            }
        }
    }

    private func executeOnce(_ request: KVRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> KVResult {
        let command = KVCommand(id: .unidentified, request: request)
        guard command.isWithinBounds else {
            throw .badRequest(code: .badRequest, message: "the request is outside the bounds of a command")
        }
        if case .txn(let txn) = request { try checkQuota(txn) }
        let result = try await propose(request, deadline: deadline)
        switch result {
        case .rejected(let rejection): throw NodeError(rejection)
        case .sessionExpired:
            throw .unknownOutcome(message: "the command was retried too late to know whether it applied")
        case .undecodable(let error): throw .internalError(message: "the command could not be decoded: \(error)")
        default: return result
        }
    }

    /// A transaction's puts against the quota (its deletes free room, which is not counted).
    private func checkQuota(_ txn: KVTxn) throws(NodeError) {
        for case .put(let key, let value, _) in txn.success + txn.failure {
            try checkQuota(.put(key: key, value: value, condition: .none))
        }
    }

    func lease(_ id: Int64, renew: Bool, deadline: ContinuousClock.Instant) async throws(NodeError) -> LeaseStatus {
        try await leaseStatus(id, renew: renew, deadline: deadline)
    }

    func leases(consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> [LeaseStatus]
    {
        try await waitUntilReadable(consistency: consistency, deadline: deadline)
        let now = clock.now
        return store.leaseList.map { lease in
            let remaining = leaseTimers.remaining(lease.id, now: now)
            return LeaseStatus(
                id: lease.id, ttlSeconds: lease.ttlSeconds, remainingMs: remaining.map { $0.inMilliseconds } ?? -1,
                keys: [])
        }
    }

    func currentRevision() async -> UInt64 { store.revision }
}

/// The lease ids a node draws for grants that name none (issue 12).
enum LeaseIDs {
    /// Draws for one grant before its collision is reported (each collides with odds of about
    /// leases / 2^63).
    static let drawsMax = 4

    /// A random id in 1...Int64.max, from the system's generator (each process draws its own).
    static func draw() -> Int64 {
        var generator = SystemRandomNumberGenerator()
        return Int64.random(in: 1...Int64.max, using: &generator)
    }
}
