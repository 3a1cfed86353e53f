import KVStore
import WRaftAPI

/// Why a node could not do what was asked. Each case answers with its `code` (whose
/// `ErrorCode.httpStatus` is the response's status) and `message`.
public enum NodeError: Error, Sendable, Equatable {
    /// Bad input; `code` is a 400 code (`bad_key`, `bad_json`, `bad_request`, `bad_peer`, ...).
    case badRequest(code: ErrorCode, message: String)
    /// 413 value_too_large.
    case valueTooLarge(bytes: Int, limit: Int)
    /// 404 not_found (also for unknown members).
    case notFound(message: String)
    /// 412 compare_failed: the CAS condition did not hold.
    case compareFailed(message: String)
    /// 409 cluster_conflict.
    case clusterConflict(message: String)
    /// The call needs the node in another lifecycle state; `code` is a 409 code (`not_initial`,
    /// `not_running`, `starting`, ...).
    case wrongState(code: ErrorCode, message: String)
    /// 503 no_leader, with Retry-After.
    case noLeader(retryAfterMs: Int)
    /// 503 overloaded, with Retry-After: a bound was reached (proposal queue, uncommitted bytes).
    case overloaded(retryAfterMs: Int)
    /// 504 unknown_outcome: the write may or may not have been applied.
    case unknownOutcome(message: String)
    /// 403 faults_disabled: the node runs without `--enable-faults`.
    case faultsDisabled
    /// 502 peer_unreachable: a raft address given to /connect did not answer.
    case peerUnreachable(message: String)
    /// 500 internal: a storage failure or similar; the message says what.
    case internalError(message: String)
    /// 507 quota_exceeded: the write would grow the store to `bytes`, past `--quota-bytes`
    /// (`limit`); deletes still work.
    case quotaExceeded(bytes: Int, limit: Int)
    /// What revisions, leases and transactions refuse: `code` is `lease_not_found`,
    /// `lease_exists`, `too_many_leases`, `compacted`, `future_revision`, `duplicate_key`,
    /// `bad_lease`, `bad_revision` or `too_many_watchers`; and what a promotion refuses:
    /// `learner_not_ready`, `not_learner`, `membership_change_pending`.
    case refused(code: ErrorCode, message: String)

    /// The code the error answers with.
    public var code: ErrorCode {
        switch self {
        case .badRequest(let code, _), .wrongState(let code, _), .refused(let code, _): code
        case .valueTooLarge: .valueTooLarge
        case .notFound: .notFound
        case .compareFailed: .compareFailed
        case .clusterConflict: .clusterConflict
        case .noLeader: .noLeader
        case .overloaded: .overloaded
        case .unknownOutcome: .unknownOutcome
        case .faultsDisabled: .faultsDisabled
        case .peerUnreachable: .peerUnreachable
        case .internalError: .internal
        case .quotaExceeded: .quotaExceeded
        }
    }

    /// The human text of the error body.
    public var message: String {
        switch self {
        case .badRequest(_, let message), .notFound(let message), .compareFailed(let message),
            .clusterConflict(let message), .wrongState(_, let message), .unknownOutcome(let message),
            .peerUnreachable(let message), .internalError(let message), .refused(_, let message):
            return message
        case .valueTooLarge(let bytes, let limit):
            let size = bytes > limit ? "\(bytes) bytes" : "more than \(limit) bytes"
            return "the value is \(size); the limit is \(limit) bytes"
        case .noLeader: return "no leader was reachable before the deadline"
        case .overloaded: return "the node is at a limit; retry later"
        case .faultsDisabled: return "fault injection is off; start the node with --enable-faults"
        case .quotaExceeded(let bytes, let limit):
            return "the store would hold \(bytes) bytes, past its quota of \(limit) (--quota-bytes); delete keys to make room"
        }
    }

    /// When the client should come back (`Retry-After`); nil: not a "later" error.
    public var retryAfterMs: Int? {
        switch self {
        case .noLeader(let retryAfterMs), .overloaded(let retryAfterMs): max(0, retryAfterMs)
        default: nil
        }
    }

    /// The error of `code` as another node reported it (the control protocol carries code,
    /// message and the numbers): the inverse of `code`, `message`, `retryAfterMs`, `sizes`.
    /// A code no node error answers with (an HTTP-layer code) becomes `internalError`.
    public init(code: ErrorCode, message: String, retryAfterMs: Int?, sizes: (bytes: Int, limit: Int)?) {
        switch code {
        case .valueTooLarge: self = .valueTooLarge(bytes: sizes?.bytes ?? 0, limit: sizes?.limit ?? 0)
        case .quotaExceeded: self = .quotaExceeded(bytes: sizes?.bytes ?? 0, limit: sizes?.limit ?? 0)
        case .notFound: self = .notFound(message: message)
        case .compareFailed: self = .compareFailed(message: message)
        case .clusterConflict: self = .clusterConflict(message: message)
        case .noLeader: self = .noLeader(retryAfterMs: retryAfterMs ?? 500)
        case .overloaded: self = .overloaded(retryAfterMs: retryAfterMs ?? 500)
        case .unknownOutcome: self = .unknownOutcome(message: message)
        case .faultsDisabled: self = .faultsDisabled
        case .peerUnreachable: self = .peerUnreachable(message: message)
        case .internal: self = .internalError(message: message)
        case .badRequest, .badKey, .badJSON, .badID, .badPeer, .forbiddenPeer:
            self = .badRequest(code: code, message: message)
        case .notInitial, .notRunning, .notMember, .notLeader, .noPeer, .nothingToSnapshot, .starting, .stopped:
            self = .wrongState(code: code, message: message)
        case .leaseNotFound, .leaseExists, .tooManyLeases, .compacted, .futureRevision, .duplicateKey, .badLease,
            .badRevision, .tooManyWatchers, .watchTooSlow, .learnerNotReady, .notLearner, .membershipChangePending:
            self = .refused(code: code, message: message)
        case .unauthenticated, .forbidden, .forbiddenOrigin, .methodNotAllowed, .bodyTooLarge, .unsupportedMediaType,
            .misdirectedRequest, .notServing:
            self = .internalError(message: "a peer answered \(code.wireString): \(message)")
        }
    }

    /// The sizes of `valueTooLarge` and `quotaExceeded`.
    public var sizes: (bytes: Int, limit: Int)? {
        switch self {
        case .valueTooLarge(let bytes, let limit), .quotaExceeded(let bytes, let limit): (bytes, limit)
        default: nil
        }
    }
}

extension NodeError {
    /// The error of a command the store refused.
    init(_ rejection: KVRejection) {
        let code: ErrorCode
        switch rejection {
        case .leaseNotFound: code = .leaseNotFound
        case .leaseExists: code = .leaseExists
        case .tooManyLeases: code = .tooManyLeases
        case .futureRevision: code = .futureRevision
        case .compacted: code = .compacted
        case .duplicateKey: code = .duplicateKey
        }
        self = .refused(code: code, message: rejection.description)
    }

    /// The error of a read at a revision the store cannot serve.
    init(_ error: KVReadError) {
        switch error {
        case .compacted(let compactRevision):
            self = .refused(code: .compacted, message: "the revision is compacted: history starts above \(compactRevision)")
        case .futureRevision(let currentRevision):
            self = .refused(code: .futureRevision, message: "the revision is above the current revision \(currentRevision)")
        }
    }
}
