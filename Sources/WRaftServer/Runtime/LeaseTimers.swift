import RaftCore

/// The leader's clock for leases (issue 12): the deadline of every lease, renewed by
/// keep-alives, and which leases are due to be revoked. A pure state machine: the runtime tells
/// it the time, its role and term, and the leases the state machine holds; it answers with the
/// ids to revoke.
///
/// Only a leader keeps deadlines. A node that is not leader forgets them all, and a leader of a
/// new term starts every lease it inherits over with its full TTL, so a failover never expires a
/// lease early (etcd's rule); no follower's clock decides anything.
///
/// Invariant: `deadlines` is empty unless `term` is set; `revoking` only names leases in
/// `deadlines`.
struct LeaseTimers<Instant: InstantProtocol> where Instant.Duration == Duration {
    /// The deadline of each lease the state machine holds, once seen by this leader.
    private(set) var deadlines: [Int64: Instant] = [:]
    /// The leader term the deadlines belong to; nil when this node is not leader.
    private(set) var term: Term?
    /// When a revoke was last proposed for a lease past its deadline.
    private var revoking: [Int64: Instant] = [:]
    /// How long to wait for a proposed revoke to apply before proposing it again.
    let revokeRetryInterval: Duration

    init(revokeRetryInterval: Duration) {
        self.revokeRetryInterval = revokeRetryInterval
    }

    /// Brings the deadlines up to date and returns the leases to revoke now, ascending.
    /// `leaderTerm` is the term this node leads in (nil: it does not lead); `leases` are the
    /// state machine's leases and TTLs.
    mutating func update(
        leaderTerm: Term?, leases: some Sequence<(id: Int64, ttlSeconds: Int64)>, now: Instant
    ) -> [Int64] {
        guard let leaderTerm else {
            deadlines = [:]
            revoking = [:]
            term = nil
            return []
        }
        if term != leaderTerm {
            // A new leadership: every lease gets its full TTL from now.
            deadlines = [:]
            revoking = [:]
            term = leaderTerm
        }
        var present: Set<Int64> = []
        for (id, ttlSeconds) in leases {
            present.insert(id)
            if deadlines[id] == nil { deadlines[id] = now.advanced(by: .seconds(ttlSeconds)) }
        }
        if present.count != deadlines.count {
            deadlines = deadlines.filter { present.contains($0.key) }
            revoking = revoking.filter { present.contains($0.key) }
        }
        var due: [Int64] = []
        for (id, deadline) in deadlines where deadline <= now {
            if let proposedAt = revoking[id], now < proposedAt.advanced(by: revokeRetryInterval) { continue }
            revoking[id] = now
            due.append(id)
        }
        return due.sorted()
    }

    /// What a keep-alive came to.
    enum KeepAlive: Equatable {
        /// The lease runs for its full TTL from now.
        case renewed
        /// This node keeps no deadlines (it does not lead; the caller updates first).
        case notLeader
        /// The lease was already past its deadline: a revoke is due or on its way, and a late
        /// renewal must not be answered as a success (etcd's lessor waits for the revoke and
        /// answers "lease not found").
        case expired
    }

    /// Renews a lease for `ttlSeconds` from now (a keep-alive on the leader), unless it is past
    /// its deadline.
    mutating func keepAlive(_ id: Int64, ttlSeconds: Int64, now: Instant) -> KeepAlive {
        guard term != nil else { return .notLeader }
        if let deadline = deadlines[id], deadline <= now { return .expired }
        deadlines[id] = now.advanced(by: .seconds(ttlSeconds))
        precondition(revoking[id] == nil, "LeaseTimers: only a lease past its deadline is being revoked")
        return .renewed
    }

    /// What is left of a lease's time, nil when this leader keeps no deadline for it.
    func remaining(_ id: Int64, now: Instant) -> Duration? {
        guard let deadline = deadlines[id] else { return nil }
        let left = now.duration(to: deadline)
        return left < .zero ? .zero : left
    }
}
