import Hummingbird
import WRaftAPI

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
        .node(.badRequest(code: .badRequest, message: message))
    }

    static func badKey(_ message: String) -> APIError {
        .node(.badRequest(code: .badKey, message: message))
    }

    static func badJSON(_ message: String) -> APIError {
        .node(.badRequest(code: .badJSON, message: message))
    }

    /// The code the error answers with; its `httpStatus` is the response's status.
    var code: ErrorCode {
        switch self {
        case .node(let nodeError): nodeError.code
        case .methodNotAllowed: .methodNotAllowed
        case .bodyTooLarge: .bodyTooLarge
        case .misdirected: .misdirectedRequest
        case .forbiddenOrigin: .forbiddenOrigin
        case .unauthenticated: .unauthenticated
        case .forbidden: .forbidden
        case .unsupportedMediaType: .unsupportedMediaType
        }
    }

    /// The human text of the error body.
    var message: String {
        switch self {
        case .node(let nodeError):
            return nodeError.message
        case .methodNotAllowed(let methods):
            return "use " + methods.map(\.rawValue).joined(separator: " or ")
        case .bodyTooLarge(let limit):
            return "the request body exceeds \(limit) bytes"
        case .misdirected(let host):
            let named = host.map { "\"\($0.prefix(100))\"" } ?? "no host"
            return "the Host header names \(named), not this node; use its address, localhost, or a --host-allowlist name"
        case .forbiddenOrigin(let origin):
            return "requests from the page at \"\(origin.prefix(100))\" may not change state: it is no member's address and not in --cors-allowed-origins"
        case .unauthenticated(let why):
            return why
        case .forbidden(let needed, let held):
            return "this needs a token with the \(needed) role; this token has \(held)"
        case .unsupportedMediaType(let given):
            let what = given.map { "Content-Type \"\($0.prefix(100))\"" } ?? "no Content-Type"
            return "the body is JSON and must say Content-Type: application/json, not \(what)"
        }
    }
}

/// The one place that maps a failure to HTTP: the status of its `ErrorCode`,
/// `{"error": code, "message": text}`, and `Retry-After` (whole seconds, at least 1) when the
/// client should come back later.
func errorResponse(for error: APIError) -> Response {
    let code = error.code
    var response = jsonResponse(
        HTTPResponse.Status(code: code.httpStatus), ErrorBody(code: code, message: error.message).encodedJSON())
    if case .node(let nodeError) = error, let retryAfterMs = nodeError.retryAfterMs {
        response.headers[.retryAfter] = String(max(1, (retryAfterMs + 999) / 1_000))
    }
    if case .methodNotAllowed(let allowed) = error {
        response.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
    }
    if case .unauthenticated = error {
        response.headers[.wwwAuthenticate] = "Bearer"
    }
    return response
}
