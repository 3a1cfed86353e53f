import Hummingbird
import Logging
import Metrics
import WRaftAPI
import WRaftSupport

/// Answers every request of API.md from a `NodeService`. It never throws: every failure
/// becomes a JSON error response through `errorResponse(for:)`.
struct APIResponder<Service: NodeService>: HTTPResponder {
    typealias Context = BasicRequestContext

    let service: Service
    let options: HTTPOptions
    let hostPolicy: HostPolicy
    let tokens: AuthTokens?
    /// The port the server listens on, for the `Host` check.
    let boundPort: BoundPort
    let metricsText: @Sendable () -> String
    let dashboardPage: ByteBuffer
    let logger: Logger
    let metrics: HTTPMetrics

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let endpoint = Endpoint(path: request.uri.path)
        var response: Response
        // An allowed page sees every answer, errors included (a dashboard shows why it failed).
        var allowedOrigin: String?
        do {
            allowedOrigin = try await admit(request, endpoint)
            response = request.method == .options
                ? try preflightResponse(endpoint, allowedOrigin: allowedOrigin) : try await handle(endpoint, request)
        } catch {
            response = errorResponse(for: error)
            record(error, endpoint: endpoint, method: request.method)
        }
        if endpoint.carriesRevision, response.headers[HTTPHeader.revision] == nil {
            response.headers[HTTPHeader.revision] = String(await service.currentRevision())
        }
        // The answer depends on the request's Origin: shared caches must not mix them up.
        response.headers[.vary] = "Origin"
        if let allowedOrigin {
            response.headers[.accessControlAllowOrigin] = allowedOrigin
            response.headers[.accessControlExposeHeaders] = "X-Raft-Index, X-Raft-Term, X-WRaft-Revision, Retry-After"
        }
        if request.method == .head {
            // The GET answer's status and headers (its Content-Length included), without a body.
            response = response.createHeadResponse()
        }
        metrics.recordDuration(of: endpoint, since: started)
        return response
    }

    private nonisolated(nonsending) func handle(_ endpoint: Endpoint, _ request: Request) async throws(APIError) -> Response {
        let methods = endpoint.methods
        if !methods.isEmpty, !methods.contains(request.method) { throw .methodNotAllowed(allowed: methods) }
        switch endpoint {
        case .key(let rawKey): return try await handleKey(rawKey, request)
        case .list:
            return try await listValues(QueryParameters(request.uri.query))
        case .set:
            return try await setValue(request)
        case .state:
            return await stateResponse()
        case .health:
            return await healthResponse()
        case .metrics:
            return textResponse(.ok, metricsText(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        case .dashboard:
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: dashboardPage))
        case .connect:
            return try await connect(request)
        case .start:
            return try await start()
        case .removeMember:
            return try await removeMember(request)
        case .promoteMember:
            return try await promoteMember(request)
        case .log:
            return try await logResponse(QueryParameters(request.uri.query))
        case .events:
            return try eventsResponse(QueryParameters(request.uri.query))
        case .fault(let name):
            return try await injectFault(named: name, request)
        case .txn:
            return try await transaction(request)
        case .compact:
            return try await compact(request)
        case .leaseGrant:
            return try await grantLease(request)
        case .leases:
            return try await listLeases(QueryParameters(request.uri.query))
        case .lease(let rest):
            return try await handleLease(rest, request)
        case .watch:
            return try await watch(request)
        case .unknown:
            throw .node(.notFound(message: "no endpoint \(request.uri.path.prefix(200)); see API.md"))
        }
    }

    private nonisolated(nonsending) func handleKey(_ rawKey: Substring, _ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        switch request.method {
        case .get, .head: return try await getValue(rawKey: rawKey, query)
        case .put: return try await putValue(rawKey: rawKey, query, request)
        case .delete: return try await deleteValue(rawKey: rawKey, query)
        default: preconditionFailure("APIResponder: handle(_:_:) lets through only Endpoint.methods")
        }
    }

    /// `OPTIONS`: the methods the path answers, and for an allowed origin the CORS preflight
    /// answer (a dashboard served by one member drives the others with JSON and a token).
    private func preflightResponse(_ endpoint: Endpoint, allowedOrigin: String?) throws(APIError) -> Response {
        guard !endpoint.methods.isEmpty else {
            throw .node(.notFound(message: "no such endpoint; see API.md"))
        }
        let methods = (endpoint.methods + [.options]).map(\.rawValue).joined(separator: ", ")
        var headers: HTTPFields = [.allow: methods]
        if allowedOrigin != nil {
            headers[.accessControlAllowMethods] = methods
            headers[.accessControlAllowHeaders] = "Content-Type, Authorization"
            headers[.accessControlMaxAge] = "600"
        }
        return Response(status: .noContent, headers: headers)
    }

    /// Runs one call into the node, wrapping its error for `errorResponse(for:)`.
    nonisolated(nonsending) func call<Value>(_ body: () async throws(NodeError) -> Value) async throws(APIError) -> Value {
        do {
            return try await body()
        } catch {
            throw .node(error)
        }
    }

    private func record(_ error: APIError, endpoint: Endpoint, method: HTTPRequest.Method) {
        let code = error.code.wireString
        if case .node(.internalError(let message)) = error {
            // A storage failure or similar: rare, and the operator wants to see it.
            logger.info("request failed", metadata: ["http.endpoint": "\(endpoint.metricName)", "error": "\(message)"])
        }
        metrics.countError(code: code)
        logger.debug(
            "request refused",
            metadata: ["http.method": "\(method)", "http.endpoint": "\(endpoint.metricName)", "error": "\(code)"])
    }
}

/// The HTTP layer's metrics: a latency histogram per endpoint (made once, so recording costs no
/// lookup) and a counter of error responses by code.
struct HTTPMetrics: Sendable {
    static let requestDuration = MetricDescription(
        "wraft_http_request_duration_seconds", .histogram,
        help: "Seconds from an HTTP request's head to its answer, by endpoint (a write's includes its commit and apply).")
    static let errors = MetricDescription(
        "wraft_http_errors_total", .counter, help: "HTTP error answers, by error code (API.md).")
    /// The families above, for the backend's HELP text and Docs/METRICS.md.
    static let descriptions = [requestDuration, errors]

    private let timers: [String: Metrics.Timer]

    init() {
        var timers: [String: Metrics.Timer] = [:]
        for endpoint in Endpoint.allKinds {
            let name = endpoint.metricName
            timers[name] = Metrics.Timer(label: Self.requestDuration.name, dimensions: [("endpoint", name)])
        }
        self.timers = timers
    }

    func recordDuration(of endpoint: Endpoint, since started: ContinuousClock.Instant) {
        timers[endpoint.metricName]?.record(duration: ContinuousClock.now - started)
    }

    func countError(code: String) {
        Counter(label: Self.errors.name, dimensions: [("code", code)]).increment()
    }
}

/// A JSON response with the body `writer` produced.
func jsonResponse(_ status: HTTPResponse.Status, _ body: ByteBuffer) -> Response {
    Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}

func textResponse(_ status: HTTPResponse.Status, _ text: String, contentType: String) -> Response {
    Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
}
