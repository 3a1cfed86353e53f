import Hummingbird

/// Why a request failed: a `NodeError` from the node, or one of the few failures only the HTTP
/// layer knows. `errorResponse(for:)` turns every one of them into a status and a JSON body.
package enum APIError: Error, Equatable {
    /// Everything the node reports, and the HTTP layer's own input errors that have a
    /// `NodeError` case (`badRequest`, `valueTooLarge`, `notFound`).
    case node(NodeError)
    /// The path exists but not with this method.
    case methodNotAllowed(allowed: [HTTPRequest.Method])
    /// A JSON request body over `HTTPOptions.jsonBodyBytesMax`.
    case bodyTooLarge(limit: Int)

    static func badRequest(_ message: String) -> APIError {
        .node(.badRequest(code: "bad_request", message: message))
    }

    static func badKey(_ message: String) -> APIError {
        .node(.badRequest(code: "bad_key", message: message))
    }

    static func badJSON(_ message: String) -> APIError {
        .node(.badRequest(code: "bad_json", message: message))
    }
}

/// The one place that maps a failure to HTTP: status, `{"error": code, "message": text}`, and
/// `Retry-After` (whole seconds, at least 1) when the client should come back later.
func errorResponse(for error: APIError) -> Response {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var retryAfterMs: Int?
    var allowed: [HTTPRequest.Method] = []
    switch error {
    case .methodNotAllowed(let methods):
        (status, code, message) = (.methodNotAllowed, "method_not_allowed", "use " + methods.map(\.rawValue).joined(separator: " or "))
        allowed = methods
    case .bodyTooLarge(let limit):
        (status, code, message) = (.contentTooLarge, "body_too_large", "the request body exceeds \(limit) bytes")
    case .node(let nodeError):
        (status, code, message) = statusCodeAndMessage(of: nodeError)
        retryAfterMs = retryAfterMilliseconds(of: nodeError)
    }
    var writer = JSONWriter()
    writer.beginObject()
    writer.field("error", code)
    writer.field("message", message)
    writer.endObject()
    var response = jsonResponse(status, writer.buffer)
    if let retryAfterMs {
        response.headers[.retryAfter] = String(max(1, (retryAfterMs + 999) / 1_000))
    }
    if !allowed.isEmpty {
        response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
    }
    return response
}

private func statusCodeAndMessage(of error: NodeError) -> (HTTPResponse.Status, String, String) {
    switch error {
    case .badRequest(let code, let message): return (.badRequest, code, message)
    case .valueTooLarge(let bytes, let limit):
        let size = bytes > limit ? "\(bytes) bytes" : "more than \(limit) bytes"
        return (.contentTooLarge, "value_too_large", "the value is \(size); the limit is \(limit) bytes")
    case .notFound(let message): return (.notFound, "not_found", message)
    case .compareFailed(let message): return (.preconditionFailed, "compare_failed", message)
    case .clusterConflict(let message): return (.conflict, "cluster_conflict", message)
    case .wrongState(let code, let message): return (.conflict, code, message)
    case .noLeader: return (.serviceUnavailable, "no_leader", "no leader was reachable before the deadline")
    case .overloaded: return (.serviceUnavailable, "overloaded", "the node is at a limit; retry later")
    case .unknownOutcome(let message): return (.gatewayTimeout, "unknown_outcome", message)
    case .faultsDisabled:
        return (.forbidden, "faults_disabled", "fault injection is off; start the node with --enable-faults")
    case .peerUnreachable(let message): return (.badGateway, "peer_unreachable", message)
    case .internalError(let message): return (.internalServerError, "internal", message)
    }
}

private func retryAfterMilliseconds(of error: NodeError) -> Int? {
    switch error {
    case .noLeader(let retryAfterMs), .overloaded(let retryAfterMs): return max(0, retryAfterMs)
    default: return nil
    }
}
