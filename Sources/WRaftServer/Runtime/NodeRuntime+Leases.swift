import KVStore
import RaftCore
import WRaftAPI
import WRaftSupport

/// A lease as a client sees it: its TTL, the time left on the leader's clock, its keys.
public struct LeaseStatus: Sendable, Equatable {
    public var id: Int64
    public var ttlSeconds: Int64
    public var remainingMs: Int64
    /// Its keys, ascending, at most `NodeRuntime.leaseKeysShownMax`.
    public var keys: [String]

    public init(id: Int64, ttlSeconds: Int64, remainingMs: Int64, keys: [String]) {
        self.id = id
        self.ttlSeconds = ttlSeconds
        self.remainingMs = remainingMs
        self.keys = keys
    }
}

// Lease time, kept by the leader alone (issue 12): deadlines renewed by keep-alives, a revoke
// proposed for each lease past its deadline. Grants, revokes and the keys of a lease are
// replicated commands and state (KVStore); only time is local.
extension NodeRuntime {
    /// The most keys a lease answer lists.
    static let leaseKeysShownMax = 1_000

    /// Brings the leader's lease deadlines up to date (a node that does not lead, or a paused
    /// one, keeps none) and proposes a revoke for each lease past its deadline.
    func expireLeases(now: ContinuousClock.Instant) {
        let leaderTerm = lifecycle == .running && isLeader && !faults.isPaused ? core?.currentTerm : nil
        let due = leaseTimers.update(leaderTerm: leaderTerm, leases: store.leaseTTLs, now: now)
        for id in due {
            logger.info("lease expired: revoking it", metadata: ["lease": "\(id)"])
            let deadline = now + retryInterval
            Task { _ = try? await self.propose(.leaseRevoke(id: id), deadline: deadline) }
        }
    }

    /// A lease's status from the leader (a follower asks it); with `renew`, a keep-alive first.
    func leaseStatus(_ id: Int64, renew: Bool, deadline: ContinuousClock.Instant, isForwarded: Bool = false)
        async throws(NodeError) -> LeaseStatus
    {
        guard id > 0 else { throw .refused(code: .badLease, message: "a lease id is a positive integer") }
        guard lifecycle == .running, core != nil else { throw notRunningError() }
        if !isLeader {
            let response = try await forwardToLeader(
                .lease(id: id, renew: renew, timeoutMs: remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
            guard case .lease(let ttlSeconds, let remainingMs, let keys) = response else {
                throw .internalError(message: "the leader answered a lease request with \(response)")
            }
            return LeaseStatus(
                id: id, ttlSeconds: ttlSeconds, remainingMs: remainingMs,
                keys: Array(keys.prefix(Self.leaseKeysShownMax)))
        }
        // The leader's applied state may trail what it committed (a grant just answered by a
        // follower): a read barrier brings it up to date, and confirms the leadership.
        try await waitUntilReadable(consistency: .linearizable, deadline: deadline)
        guard isLeader else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
        guard let lease = store.lease(id) else { throw NodeError(KVRejection.leaseNotFound) }
        let now = clock.now
        expireLeases(now: now)
        if renew {
            switch leaseTimers.keepAlive(id, ttlSeconds: lease.ttlSeconds, now: now) {
            case .renewed:
                break
            case .notLeader:
                throw .noLeader(retryAfterMs: Self.retryAfterMs)
            case .expired:
                // Too late: `expireLeases` has proposed its revoke. Answer once the lease is
                // gone, as etcd does, so a keeper never hears "renewed" for a lease about to
                // vanish. A revoke of our own orders this answer after it (a second revoke of
                // the same lease is refused by the store and changes nothing).
                logger.info("keep-alive after the lease's deadline: answering once it is revoked", metadata: ["lease": "\(id)"])
                _ = try await propose(.leaseRevoke(id: id), deadline: deadline)
                throw NodeError(KVRejection.leaseNotFound)
            }
        }
        let remaining = leaseTimers.remaining(id, now: now) ?? .seconds(lease.ttlSeconds)
        return LeaseStatus(
            id: id, ttlSeconds: lease.ttlSeconds, remainingMs: Int64(remaining.inMilliseconds),
            keys: lease.keys.prefix(Self.leaseKeysShownMax).map { String(decoding: $0, as: UTF8.self) })
    }
}
