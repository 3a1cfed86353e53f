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
    /// 421: the `Host` header does not name this node (a DNS-rebinding page, or a wrong address).
    case misdirected(host: String?)
    /// 403: a state-changing request from a page whose origin is neither a member's nor allowed.
    case forbiddenOrigin(String)
    /// 401: tokens are configured and the request carries none that is known.
    case unauthenticated(String)
    /// 403: the token is known, but its role is below what the endpoint needs.
    case forbidden(needed: AccessRole, held: AccessRole)
    /// 415: a JSON endpoint got a body that does not say `Content-Type: application/json`.
    case unsupportedMediaType(String?)

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
    case .misdirected(let host):
        let named = host.map { "\"\($0.prefix(100))\"" } ?? "no host"
        (status, code, message) = (
            .misdirectedRequest, "misdirected_request",
            "the Host header names \(named), not this node; use its address, localhost, or a --host-allowlist name"
        )
    case .forbiddenOrigin(let origin):
        (status, code, message) = (
            .forbidden, "forbidden_origin",
            "requests from the page at \"\(origin.prefix(100))\" may not change state: it is no member's address and not in --cors-allowed-origins"
        )
    case .unauthenticated(let why):
        (status, code, message) = (.unauthorized, "unauthenticated", why)
    case .forbidden(let needed, let held):
        (status, code, message) = (.forbidden, "forbidden", "this needs a token with the \(needed) role; this token has \(held)")
    case .unsupportedMediaType(let given):
        let what = given.map { "Content-Type \"\($0.prefix(100))\"" } ?? "no Content-Type"
        (status, code, message) = (
            .unsupportedMediaType, "unsupported_media_type", "the body is JSON and must say Content-Type: application/json, not \(what)"
        )
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
    if case .unauthenticated = error {
        response.headers[.wwwAuthenticate] = "Bearer"
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
    case .quotaExceeded(let bytes, let limit):
        return (
            insufficientStorage, "quota_exceeded",
            "the store would hold \(bytes) bytes, past its quota of \(limit) (--quota-bytes); delete keys to make room"
        )
    }
}

/// 507: HTTPTypes names no constant for it.
private let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

private func retryAfterMilliseconds(of error: NodeError) -> Int? {
    switch error {
    case .noLeader(let retryAfterMs), .overloaded(let retryAfterMs): return max(0, retryAfterMs)
    default: return nil
    }
}
