/// A lease of the `txn-watch` workload's lease part (issue 12), as recorded: when it was
/// granted, the key attached to it, and for a kept lease its keeper's renewals. Times are
/// nanoseconds since the run's start.
public struct LeaseRecord: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Renewed every third of its TTL by a keeper: its key must never vanish.
        case kept
        /// Never renewed: its key must vanish, neither early nor too late.
        case lapsing
    }

    public var id: Int64
    public var kind: Kind
    public var ttlSeconds: Int64
    public var key: String
    /// The grant's request was sent / answered.
    public var grantInvokeNs: UInt64
    public var grantAckNs: UInt64
    /// Kept leases: each renewal the leader answered, as (sent, answered), in order.
    public var renewals: [Renewal]
    /// Kept leases: when a renewal was answered that the lease is gone (404 lease_not_found).
    public var lostNs: UInt64?
    /// Kept leases: when the keeper stopped (after the run's final read).
    public var keptUntilNs: UInt64?

    public struct Renewal: Sendable, Equatable {
        public var invokeNs: UInt64
        public var ackNs: UInt64

        public init(invokeNs: UInt64, ackNs: UInt64) {
            self.invokeNs = invokeNs
            self.ackNs = ackNs
        }
    }

    public init(
        id: Int64, kind: Kind, ttlSeconds: Int64, key: String, grantInvokeNs: UInt64, grantAckNs: UInt64,
        renewals: [Renewal] = [], lostNs: UInt64? = nil, keptUntilNs: UInt64? = nil
    ) {
        self.id = id
        self.kind = kind
        self.ttlSeconds = ttlSeconds
        self.key = key
        self.grantInvokeNs = grantInvokeNs
        self.grantAckNs = grantAckNs
        self.renewals = renewals
        self.lostNs = lostNs
        self.keptUntilNs = keptUntilNs
    }

    var ttlNs: UInt64 { UInt64(clamping: ttlSeconds) * 1_000_000_000 }
}

/// A delete of a lease's key that a watcher of the leases' prefix received: at the earliest
/// moment any watcher received it (the delete happened no later).
public struct LeaseKeyDelete: Sendable, Equatable {
    public var key: String
    public var revision: UInt64
    public var receivedNs: UInt64

    public init(key: String, revision: UInt64, receivedNs: UInt64) {
        self.key = key
        self.revision = revision
        self.receivedNs = receivedNs
    }
}

/// The bounds `LeaseChecker` judges with.
public struct LeaseBounds: Sendable, Equatable {
    /// Clock slack: a lapsing lease's key may vanish this much before its grant's request was
    /// sent plus its TTL (the leader starts its clock between the request and the answer).
    public var earlySlackNs: UInt64 = 100_000_000
    /// How long the cluster may take to elect a new leader (election timeout, its jitter, a
    /// split vote).
    public var electionNs: UInt64 = 1_000_000_000
    /// The leader's expiry tick, the revoke's commit and the event's delivery, on a loaded machine.
    public var deliverySlackNs: UInt64 = 1_000_000_000
    /// How long a watcher may take to notice a dead stream and resume elsewhere.
    public var watcherStallNs: UInt64 = UInt64(WatchFollower.stallMs) * 1_000_000

    public init() {}
}

/// What `LeaseChecker` found.
public struct LeaseVerdict: Sendable, Equatable {
    public var problems: [String]
    /// Notes that are not failures (a keeper that could not renew for a whole TTL).
    public var notes: [String]
    public var keptCount: Int
    public var lapsingCount: Int
    /// Lapsing leases whose key was seen deleted, and the latest expiry after grant + TTL, in ms.
    public var expiredCount: Int
    public var latestExpiryAfterTTLMs: Int?

    public var isPassed: Bool { problems.isEmpty }
}

/// The lease checks of `wraft check --workload txn-watch` (issue 12): "a lease kept alive
/// through failovers never expires; one left to lapse does expire, within its TTL plus an
/// election timeout".
///
/// - A kept lease's key is never deleted (no delete event, present at the final read), and no
///   renewal is answered that the lease is gone, unless its keeper went a whole TTL without a
///   renewal (every node unreachable): that is noted, not failed. "Without a renewal" is judged
///   soundly: a renewal sent at `s` keeps the lease until at least `s + TTL`, so the keeper kept
///   it if each renewal (and the first after the grant) was answered before the previous one's
///   send time plus the TTL.
/// - A lapsing lease's key is deleted (a delete event) no earlier than its grant's send time
///   plus its TTL (less `earlySlackNs`), and no later than the latest expiry the fault schedule
///   allows: the grant's answer plus the TTL, and, because a new leader restarts every lease it
///   inherits with its full TTL (etcd's rule), for every fault that began before that bound:
///   the fault's end plus an election plus the TTL (a leader change can happen any time while a
///   fault lasts), plus a watcher's stall when a fault was active (the event may reach the
///   watchers late), plus `deliverySlackNs`.
public enum LeaseChecker {
    public static func check(
        leases: [LeaseRecord], deletes: [LeaseKeyDelete], presentAtEnd: [String: Bool], faults: [FaultRecord],
        bounds: LeaseBounds = LeaseBounds()
    ) -> LeaseVerdict {
        var problems: [String] = []
        var notes: [String] = []
        let deletesByKey = Dictionary(grouping: deletes, by: \.key)
        var expired = 0
        var latestAfterTTLMs: Int?
        for lease in leases {
            let keyDeletes = (deletesByKey[lease.key] ?? []).sorted { $0.revision < $1.revision }
            switch lease.kind {
            case .kept:
                let gap = keeperGap(lease)
                let present = presentAtEnd[lease.key]
                var failures: [String] = keyDeletes.map { delete in
                    "its key \(lease.key) was deleted at revision \(delete.revision) (\(ms(delete.receivedNs)) ms)"
                }
                if present == false { failures.append("its key \(lease.key) is absent at the final read") }
                if let lostNs = lease.lostNs { failures.append("a renewal at \(ms(lostNs)) ms was answered that the lease is gone") }
                if let gap {
                    notes.append("kept lease \(lease.id): its keeper went \(ms(gap.length)) ms without a renewal from \(ms(gap.from)) ms (TTL \(lease.ttlSeconds) s): not judged"
                        + (failures.isEmpty ? "" : " (" + failures.joined(separator: "; ") + ")"))
                } else {
                    problems += failures.map { "kept lease \(lease.id) (TTL \(lease.ttlSeconds) s, renewed \(lease.renewals.count) times): " + $0 }
                }
                if present == nil { notes.append("kept lease \(lease.id): its key could not be read at the end") }
            case .lapsing:
                let earliest = (lease.grantInvokeNs + lease.ttlNs).subtractingClamped(bounds.earlySlackNs)
                let latest = latestExpiry(lease, faults: faults, bounds: bounds)
                guard let delete = keyDeletes.first else {
                    let state = presentAtEnd[lease.key].map { $0 ? "still present at the final read" : "absent at the final read" } ?? "not read at the end"
                    problems.append("lapsing lease \(lease.id) (TTL \(lease.ttlSeconds) s, granted at \(ms(lease.grantAckNs)) ms): its key \(lease.key) was never seen deleted (\(state); latest allowed expiry \(ms(latest)) ms)")
                    continue
                }
                expired += 1
                let afterTTL = Int(Int64(delete.receivedNs) - Int64(lease.grantAckNs + lease.ttlNs)) / 1_000_000
                latestAfterTTLMs = max(latestAfterTTLMs ?? afterTTL, afterTTL)
                if delete.receivedNs < earliest {
                    problems.append("lapsing lease \(lease.id) (TTL \(lease.ttlSeconds) s, grant sent at \(ms(lease.grantInvokeNs)) ms): expired early, its key deleted by \(ms(delete.receivedNs)) ms, before \(ms(earliest)) ms")
                }
                if delete.receivedNs > latest {
                    problems.append("lapsing lease \(lease.id) (TTL \(lease.ttlSeconds) s, granted at \(ms(lease.grantAckNs)) ms): expired late, its key deleted at \(ms(delete.receivedNs)) ms, after the latest allowed \(ms(latest)) ms")
                }
                if keyDeletes.count > 1 {
                    problems.append("lapsing lease \(lease.id): its key \(lease.key) was deleted \(keyDeletes.count) times")
                }
            }
        }
        return LeaseVerdict(
            problems: problems, notes: notes, keptCount: leases.filter { $0.kind == .kept }.count,
            lapsingCount: leases.filter { $0.kind == .lapsing }.count, expiredCount: expired,
            latestExpiryAfterTTLMs: latestAfterTTLMs)
    }

    /// The first stretch in which the keeper did not provably keep the lease: from a renewal's
    /// (or the grant's) send time, the next renewal answered more than a TTL later (or none
    /// before the keeper stopped).
    static func keeperGap(_ lease: LeaseRecord) -> (from: UInt64, length: UInt64)? {
        var keptFrom = lease.grantInvokeNs
        for renewal in lease.renewals {
            if renewal.ackNs > keptFrom + lease.ttlNs { return (keptFrom, renewal.ackNs - keptFrom) }
            keptFrom = max(keptFrom, renewal.invokeNs)
        }
        if let until = lease.keptUntilNs, until > keptFrom + lease.ttlNs { return (keptFrom, until - keptFrom) }
        return nil
    }

    /// The latest a lapsing lease's key may be seen deleted (see the type's comment).
    static func latestExpiry(_ lease: LeaseRecord, faults: [FaultRecord], bounds: LeaseBounds) -> UInt64 {
        var latest = lease.grantAckNs + lease.ttlNs
        var stalled = false
        for fault in faults.sorted(by: { $0.startNs < $1.startNs }) {
            guard fault.startNs <= latest else { break }
            // A fault that ended (and whose election settled) before the grant cannot move it.
            let settled = (fault.endNs ?? UInt64.max / 4) + bounds.electionNs
            guard settled >= lease.grantInvokeNs else { continue }
            latest = max(latest, settled + lease.ttlNs)
            stalled = true
        }
        return latest + bounds.deliverySlackNs + (stalled ? bounds.watcherStallNs : 0)
    }

    static func ms(_ ns: UInt64) -> Int { Int(ns / 1_000_000) }
}

extension UInt64 {
    fileprivate func subtractingClamped(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
