import NIOCore

/// Every `error` code of the HTTP API (shared/API.md), with the HTTP status it is answered with.
/// The one table of codes: the server answers with these, the client reads them back, and the
/// nodes' control protocol carries them between nodes.
///
/// The raw value is the wire string of `{"error": code, "message": text}`.
public enum ErrorCode: String, Sendable, Equatable, Hashable, CaseIterable, Codable {
    // 400: the request itself is wrong.
    case badRequest = "bad_request"
    case badKey = "bad_key"
    case badJSON = "bad_json"
    case badID = "bad_id"
    case badPeer = "bad_peer"
    /// A control request (join, merge) from a key that is not the member's own.
    case forbiddenPeer = "forbidden_peer"
    /// A lease id or TTL out of range.
    case badLease = "bad_lease"
    /// A revision out of range, or a read at a revision above the current one.
    case badRevision = "bad_revision"
    case futureRevision = "future_revision"
    /// A transaction writes one key twice.
    case duplicateKey = "duplicate_key"
    // 401, 403: who may ask.
    case unauthenticated
    case forbidden
    case forbiddenOrigin = "forbidden_origin"
    case faultsDisabled = "faults_disabled"
    // 404, 405.
    case notFound = "not_found"
    case leaseNotFound = "lease_not_found"
    case methodNotAllowed = "method_not_allowed"
    // 409: the node or cluster is in a state that refuses the call.
    case clusterConflict = "cluster_conflict"
    case notInitial = "not_initial"
    case notRunning = "not_running"
    case notMember = "not_member"
    case notLeader = "not_leader"
    case noPeer = "no_peer"
    case nothingToSnapshot = "nothing_to_snapshot"
    case starting
    /// The node stopped while a control request was in flight.
    case stopped
    /// A grant names a lease id in use, or would pass the bound on leases.
    case leaseExists = "lease_exists"
    case tooManyLeases = "too_many_leases"
    /// `POST /members/promote` of a learner that is not caught up with the leader (etcd: "can
    /// only promote a learner member which is in sync with leader").
    case learnerNotReady = "learner_not_ready"
    /// `POST /members/promote` of a member that is already a voter.
    case notLearner = "not_learner"
    /// A membership change asked while another is still in progress (one at a time).
    case membershipChangePending = "membership_change_pending"
    // 410: the history asked for is compacted.
    case compacted
    // 412, 413, 415, 421.
    case compareFailed = "compare_failed"
    case valueTooLarge = "value_too_large"
    case bodyTooLarge = "body_too_large"
    case unsupportedMediaType = "unsupported_media_type"
    case misdirectedRequest = "misdirected_request"
    // 5xx: the node could not do it (now).
    case `internal`
    case peerUnreachable = "peer_unreachable"
    case noLeader = "no_leader"
    case overloaded
    /// `GET /health` of a node that does not serve.
    case notServing = "not_serving"
    case unknownOutcome = "unknown_outcome"
    case quotaExceeded = "quota_exceeded"
    /// The node serves as many watches as it may (`--watchers-max`).
    case tooManyWatchers = "too_many_watchers"
    /// A watcher fell further behind the writes than its queue holds and was ended (the last
    /// message of `GET /watch`; reconnect from the revision after the last one received).
    case watchTooSlow = "watch_too_slow"

    /// The wire string (`"error"` of a JSON error body).
    public var wireString: String { rawValue }

    /// The HTTP status a response with this code carries.
    public var httpStatus: Int {
        switch self {
        case .badRequest, .badKey, .badJSON, .badID, .badPeer, .forbiddenPeer, .badLease, .badRevision,
            .futureRevision, .duplicateKey:
            400
        case .unauthenticated: 401
        case .forbidden, .forbiddenOrigin, .faultsDisabled: 403
        case .notFound, .leaseNotFound: 404
        case .methodNotAllowed: 405
        case .clusterConflict, .notInitial, .notRunning, .notMember, .notLeader, .noPeer, .nothingToSnapshot, .starting,
            .stopped, .leaseExists, .tooManyLeases, .learnerNotReady, .notLearner, .membershipChangePending:
            409
        case .compacted: 410
        case .compareFailed: 412
        case .valueTooLarge, .bodyTooLarge: 413
        case .unsupportedMediaType: 415
        case .misdirectedRequest: 421
        case .internal: 500
        case .peerUnreachable: 502
        case .noLeader, .overloaded, .notServing, .tooManyWatchers, .watchTooSlow: 503
        case .unknownOutcome: 504
        case .quotaExceeded: 507
        }
    }

    /// True when a write answered with this code may still have been applied: the caller must
    /// treat its outcome as unknown. `internal` may come after a proposal was made.
    public var mayHaveTakenEffect: Bool {
        switch self {
        case .unknownOutcome, .internal: true
        default: false
        }
    }
}

/// The body of every error answer: `{"error": code, "message": text}`.
public struct ErrorBody: Sendable, Equatable, Codable {
    /// The code as sent. A client reads it as a string so that a code it does not know (from a
    /// newer node, or a proxy) still reaches the caller as `ErrorCode?` nil, not a decoding error.
    public var error: String
    public var message: String

    package enum CodingKeys: String, CodingKey {
        case error, message
    }

    public init(code: ErrorCode, message: String) {
        self.error = code.wireString
        self.message = message
    }

    /// The code, when it is one this version knows.
    public var code: ErrorCode? { ErrorCode(rawValue: error) }

    /// The body as the server writes it.
    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { writer in
            writer.field(CodingKeys.error, error)
            writer.field(CodingKeys.message, message)
        }
    }
}
