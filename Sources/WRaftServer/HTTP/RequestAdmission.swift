import Foundation
import Hummingbird

// The checks every request passes before its endpoint runs, in this order: `Host` (421),
// `Origin` for state-changing requests (403 forbidden_origin), bearer token (401/403),
// `Content-Type` of JSON bodies (415).

extension APIResponder {
    /// Admits `request` or throws why not. Returns the request's `Origin` when the page it came
    /// from is allowed (the answer then reflects it in `Access-Control-Allow-Origin`).
    nonisolated(nonsending) func admit(_ request: Request, _ endpoint: Endpoint) async throws(APIError) -> String? {
        let host = request.head.authority
        guard hostPolicy.admits(host: host, port: boundPort.value) else { throw .misdirected(host: host) }
        let allowedOrigin = try await checkOrigin(request, host: host)
        if request.method != .options, let needed = endpoint.requiredRole(for: request.method), let tokens {
            try authorize(request, needs: needed, tokens: tokens)
        }
        if endpoint.takesJSONBody, request.method != .options { try checkJSONContentType(request) }
        return allowedOrigin
    }

    /// A request without `Origin` is no browser page's cross-site request. With one: allowed when
    /// it is this page's own origin, a member's HTTP address, or configured; a state-changing
    /// request (or its preflight) from any other origin is refused; a read from one is answered
    /// without `Access-Control-Allow-Origin`, so the page cannot see it.
    private nonisolated(nonsending) func checkOrigin(_ request: Request, host: String?) async throws(APIError) -> String? {
        guard let origin = request.headers[.origin] else { return nil }
        let normalized = HostPolicy.normalizedOrigin(origin)
        var isAllowed = hostPolicy.isSameOrigin(normalized, host: host) || hostPolicy.configuredOrigins.contains(normalized)
        if !isAllowed {
            let members = await service.state().members.map(\.httpAddress)
            isAllowed = hostPolicy.memberOrigins(httpAddresses: members).contains(normalized)
        }
        if isAllowed { return origin }
        let changesState = request.method != .get && request.method != .head
        if changesState { throw .forbiddenOrigin(origin) }
        return nil
    }

    private func authorize(_ request: Request, needs needed: AccessRole, tokens: AuthTokens) throws(APIError) {
        guard let header = request.headers[.authorization] else {
            throw .unauthenticated("this node requires a bearer token: send Authorization: Bearer TOKEN")
        }
        let scheme = "bearer "
        guard header.utf8.count > scheme.utf8.count, header.prefix(scheme.count).lowercased() == scheme else {
            throw .unauthenticated("the Authorization header must be Bearer TOKEN")
        }
        let presented = header.dropFirst(scheme.count).drop(while: { $0 == " " })
        guard presented.utf8.count <= AuthTokens.tokenBytesMax, let role = tokens.role(of: presented.utf8) else {
            throw .unauthenticated("the bearer token is not known to this node")
        }
        guard role >= needed else { throw .forbidden(needed: needed, held: role) }
    }

    /// A JSON endpoint takes a body only as `application/json`: a page's form or `text/plain`
    /// POST (sent without a CORS preflight) is refused before it is read.
    private func checkJSONContentType(_ request: Request) throws(APIError) {
        guard let contentType = request.headers[.contentType] else {
            let declaresNoBody = request.headers[.transferEncoding] == nil && (request.headers[.contentLength] ?? "0") == "0"
            if declaresNoBody { return }
            throw .unsupportedMediaType(nil)
        }
        let mediaType = contentType.prefix(while: { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else { throw .unsupportedMediaType(contentType) }
    }
}
