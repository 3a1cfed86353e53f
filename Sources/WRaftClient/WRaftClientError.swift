import WRaftAPI

/// Why a request to a node did not produce the answer asked for.
///
/// The cases separate what the caller must treat differently: a request that never left this
/// process (`invalidAddress`, `connectionRefused`, `connectFailed`, `shutDown`) was certainly not
/// applied; one that timed out or lost its connection after being sent may or may not have been
/// (`mayHaveTakenEffect`); an HTTP error carries the node's own verdict.
public enum WRaftClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The address is not `HOST:PORT` with a port in 1...65535.
    case invalidAddress(String)
    /// Nothing listens at the address (ECONNREFUSED).
    case connectionRefused(address: String)
    /// The TCP connection could not be made for another reason.
    case connectFailed(address: String, reason: String)
    /// No complete answer arrived within the request's deadline.
    case timeout(afterMs: Int)
    /// The node closed the connection (or it broke) before the answer was complete.
    case connectionClosed(address: String)
    /// The node answered with an error status; `code` and `message` come from its JSON body
    /// (`{"error": code, "message": ...}`; `code` nil when the body has none this client knows),
    /// `retryAfterSeconds` from `Retry-After`.
    case http(status: Int, code: ErrorCode?, message: String, retryAfterSeconds: Int?)
    /// The node answered something this client cannot understand.
    case badResponse(String)
    /// The answer's body is larger than `responseBytesMax`.
    case responseTooLarge(bytesMax: Int)
    /// The client was shut down.
    case shutDown
    /// The HTTPS settings cannot be used (a missing or malformed CA, certificate or key file).
    case invalidTLSConfiguration(String)
    /// The bearer token cannot be sent (empty, too long, or holding characters a header cannot carry).
    case invalidToken(String)

    /// True when the request may have been applied although no success was seen: the caller must
    /// treat the outcome as unknown. False when it certainly was not applied, or was answered.
    public var mayHaveTakenEffect: Bool {
        switch self {
        case .timeout, .connectionClosed, .badResponse, .responseTooLarge:
            return true
        case .http(let status, let code, _, _):
            // Without a code this client knows, the status decides: a 5xx from a proxy or a
            // newer node may have come after a proposal was made.
            return code?.mayHaveTakenEffect ?? (status == 504 || status == 500)
        case .invalidAddress, .connectionRefused, .connectFailed, .shutDown, .invalidTLSConfiguration, .invalidToken:
            return false
        }
    }

    /// The JSON error code for `.http`, nil otherwise.
    public var httpErrorCode: ErrorCode? {
        if case .http(_, let code, _, _) = self { return code }
        return nil
    }

    /// The HTTP status for `.http`, nil otherwise.
    public var httpStatus: Int? {
        if case .http(let status, _, _, _) = self { return status }
        return nil
    }

    public var description: String {
        switch self {
        case .invalidAddress(let address):
            return "invalid address '\(address)' (expected HOST:PORT)"
        case .connectionRefused(let address):
            return "connection refused by \(address) (is the node running?)"
        case .connectFailed(let address, let reason):
            return "could not connect to \(address): \(reason)"
        case .timeout(let afterMs):
            return "no answer within \(afterMs) ms"
        case .connectionClosed(let address):
            return "\(address) closed the connection before answering"
        case .http(let status, let code, let message, let retryAfterSeconds):
            var text = "HTTP \(status) \(code?.wireString ?? "(no code)"): \(message)"
            if let retryAfterSeconds { text += " (retry after \(retryAfterSeconds) s)" }
            return text
        case .badResponse(let reason):
            return "unexpected answer: \(reason)"
        case .responseTooLarge(let bytesMax):
            return "answer larger than \(bytesMax) bytes"
        case .shutDown:
            return "the client was shut down"
        case .invalidTLSConfiguration(let reason):
            return "HTTPS: \(reason)"
        case .invalidToken(let reason):
            return "invalid token: \(reason)"
        }
    }
}
