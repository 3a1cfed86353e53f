import ArgumentParser
import WRaftAPI
import WRaftClient

/// The exit codes of the client commands, one per kind of failure, so that a script can tell
/// "absent" from "unreachable" from "no leader". The one table: every client command exits
/// through it, and its `--help` and the README list it from `helpText`.
enum ClientExit: Int32, CaseIterable, Sendable {
    case ok = 0
    /// Anything not below: the node's internal error, an answer this client cannot read.
    case failed = 1
    /// `get` of a key that does not exist (404 `not_found`), an unknown lease or member.
    case notFound = 3
    /// A compare-and-set whose condition did not hold (412 `compare_failed`).
    case compareFailed = 4
    /// No endpoint could be reached (connection refused, no connection within the deadline).
    case unreachable = 5
    /// The cluster cannot serve now: no leader, a node that does not serve, overloaded (503, 502).
    case unavailable = 6
    /// A request went out and no answer came within the deadline, or the node says the outcome
    /// is unknown (504): a write may or may not have been applied.
    case timeout = 7
    /// The node refused the request: bad input, authentication, a state that refuses it, a value
    /// too large, the quota (other 4xx, 507).
    case refused = 8
    /// The command line is wrong (ArgumentParser's validation exit code, EX_USAGE).
    case usage = 64
    /// The input a command reads is not what it takes: a transaction that is not valid JSON or
    /// etcdctl's text form (sysexits' EX_DATAERR).
    case badInput = 65

    /// What the code means, in a few words.
    var meaning: String {
        switch self {
        case .ok: "ok"
        case .failed: "other failure"
        case .notFound: "not found (key, lease, member)"
        case .compareFailed: "compare-and-set condition failed"
        case .unreachable: "no endpoint reachable"
        case .unavailable: "no leader / not serving (503)"
        case .timeout: "timeout or unknown outcome (504)"
        case .refused: "refused by the node (4xx: bad input, auth, conflict, too large, quota)"
        case .usage: "bad command line"
        case .badInput: "unreadable input (txn)"
        }
    }

    /// The paragraph every client command's `--help` ends with.
    static let helpText: String =
        "Exit codes: " + allCases.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: ", ") + "."

    /// The code of a client error.
    init(_ error: WRaftClientError) {
        switch error {
        case .invalidAddress, .invalidToken: self = .usage
        case .connectionRefused, .connectFailed: self = .unreachable
        case .timeout, .connectionClosed: self = .timeout
        case .http(let status, let code, _, _): self = Self(status: status, code: code)
        case .badResponse, .responseTooLarge, .shutDown, .invalidTLSConfiguration: self = .failed
        }
    }

    /// The code of an HTTP error answer: by its JSON code when known, else by its status.
    init(status: Int, code: ErrorCode?) {
        switch code {
        case .notFound?: self = .notFound
        case .compareFailed?: self = .compareFailed
        case .unknownOutcome?: self = .timeout
        case .noLeader?, .notServing?, .overloaded?, .peerUnreachable?: self = .unavailable
        case .internal?: self = .failed
        default:
            switch status {
            case 404: self = .notFound
            case 412: self = .compareFailed
            case 502, 503: self = .unavailable
            case 504: self = .timeout
            case 400..<500, 507: self = .refused
            default: self = .failed
            }
        }
    }
}

/// A client command's failure: the message printed as `Error: ...` and the exit code.
struct ClientFailure: Error, CustomStringConvertible {
    var exit: ClientExit
    var message: String

    init(_ exit: ClientExit, _ message: String) {
        precondition(exit != .ok, "ClientFailure: a failure never exits 0")
        self.exit = exit
        self.message = message
    }

    /// The failure of a request to `endpoint`.
    init(_ error: WRaftClientError, endpoint: NodeAddress) {
        self.init(ClientExit(error), "\(endpoint.url): \(error)")
    }

    var description: String { message }
}

/// Runs a client command's body: a `ClientFailure` is printed as `Error: ...` and exits with its
/// code; anything else (ArgumentParser's own errors) passes through unchanged.
func runClientCommand(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as ClientFailure {
        printToStandardError("Error: \(failure.message)")
        throw ExitCode(failure.exit.rawValue)
    }
}
