import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import WRaftAPI

/// A client of one WRaft node's HTTP API (shared/API.md): keep-alive HTTP/1.1 over SwiftNIO,
/// a deadline on every request, typed errors.
///
/// Safe to share between tasks: concurrent requests use up to `connectionsMax` connections and
/// wait in line beyond that. Call `shutDown()` when done (dropping the client also closes its
/// idle connections).
public final class NodeClient: Sendable {
    /// Default bound on one answer's body.
    public static let defaultResponseBytesMax = 16 * 1024 * 1024
    /// Added to a request's server-side `timeoutMs` to give the node time to answer 503/504
    /// itself before the client gives up.
    public static let serverDeadlineMarginMs = 1_000

    public let address: NodeAddress
    /// The deadline of a request that does not name its own.
    public let requestTimeoutMs: Int
    /// Sent as `Authorization: Bearer TOKEN` with every request; nil: none.
    let bearerToken: String?
    let pool: ConnectionPool

    /// The longest bearer token sent.
    public static let tokenBytesMax = 4_096

    /// - Parameters:
    ///   - connectionsMax: bound on open connections to the node (concurrent requests beyond it wait).
    ///   - requestTimeoutMs: deadline of each request, connecting included, unless one is given.
    ///   - responseBytesMax: an answer with a larger body fails with `.responseTooLarge`.
    ///
    /// An `https://` address is verified against the system's trust roots; use
    /// `init(address:tls:bearerToken:...)` to trust a cluster's CA or send a token.
    public convenience init(
        address: NodeAddress, connectionsMax: Int = 4, requestTimeoutMs: Int = 10_000,
        responseBytesMax: Int = NodeClient.defaultResponseBytesMax,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        let tlsContext: Result<NIOSSLContext, WRaftClientError>? =
            address.isSecure
            ? Result(catching: { () throws(WRaftClientError) -> NIOSSLContext in try ClientTLS().makeContext() }) : nil
        self.init(
            address: address, connectionsMax: connectionsMax, requestTimeoutMs: requestTimeoutMs,
            responseBytesMax: responseBytesMax, eventLoopGroup: eventLoopGroup, tlsContext: tlsContext, bearerToken: nil)
    }

    /// A client that speaks HTTPS to an `https://` address with `tls` (the CA to trust, a client
    /// certificate) and sends `bearerToken` with every request. Throws `.invalidTLSConfiguration`
    /// when a file cannot be loaded and `.invalidToken` for a token a header cannot carry.
    public convenience init(
        address: NodeAddress, tls: ClientTLS?, bearerToken: String?, connectionsMax: Int = 4,
        requestTimeoutMs: Int = 10_000, responseBytesMax: Int = NodeClient.defaultResponseBytesMax,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws(WRaftClientError) {
        if let bearerToken { try Self.checkToken(bearerToken) }
        if tls != nil && !address.isSecure {
            throw .invalidTLSConfiguration("TLS files were given for \(address.url): use https://\(address.description)")
        }
        let tlsContext: Result<NIOSSLContext, WRaftClientError>? =
            address.isSecure ? .success(try (tls ?? ClientTLS()).makeContext()) : nil
        self.init(
            address: address, connectionsMax: connectionsMax, requestTimeoutMs: requestTimeoutMs,
            responseBytesMax: responseBytesMax, eventLoopGroup: eventLoopGroup, tlsContext: tlsContext,
            bearerToken: bearerToken)
    }

    private init(
        address: NodeAddress, connectionsMax: Int, requestTimeoutMs: Int, responseBytesMax: Int,
        eventLoopGroup: any EventLoopGroup, tlsContext: Result<NIOSSLContext, WRaftClientError>?, bearerToken: String?
    ) {
        precondition(requestTimeoutMs > 0, "NodeClient: requestTimeoutMs is positive")
        precondition(responseBytesMax > 0, "NodeClient: responseBytesMax is positive")
        self.address = address
        self.requestTimeoutMs = requestTimeoutMs
        self.bearerToken = bearerToken
        self.pool = ConnectionPool(
            address: address, connectionsMax: connectionsMax, responseBytesMax: responseBytesMax,
            eventLoopGroup: eventLoopGroup, tlsContext: tlsContext)
    }

    /// A client of the node at `HOST:PORT` (or `http(s)://HOST:PORT`).
    public convenience init(
        _ address: String, connectionsMax: Int = 4, requestTimeoutMs: Int = 10_000
    ) throws(WRaftClientError) {
        self.init(
            address: try NodeAddress(parsing: address), connectionsMax: connectionsMax,
            requestTimeoutMs: requestTimeoutMs)
    }

    /// Checks a token from untrusted text (a flag, the environment): 1...`tokenBytesMax` bytes of
    /// visible ASCII, so it can never split or inject a header.
    public static func checkToken(_ token: String) throws(WRaftClientError) {
        guard !token.isEmpty else { throw .invalidToken("empty") }
        guard token.utf8.count <= tokenBytesMax else { throw .invalidToken("longer than \(tokenBytesMax) bytes") }
        guard token.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
            throw .invalidToken("only visible ASCII characters, no spaces or line breaks")
        }
    }

    deinit {
        pool.closeIdleConnections()
    }

    /// Closes the connections and fails requests waiting for one.
    public func shutDown() async {
        await pool.shutDown()
    }

    // MARK: Raw exchange

    /// Sends one request and returns the node's answer whatever its status (for tests of the
    /// API's errors). Throws only when no complete answer arrived.
    public func send(_ request: HTTPRequest, timeoutMs: Int? = nil) async throws(WRaftClientError) -> HTTPResponse {
        let timeoutMs = timeoutMs ?? requestTimeoutMs
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeoutMs))
        let channel = try await pool.lease(deadline: deadline, timeoutMs: timeoutMs)
        let promise = channel.eventLoop.makePromise(of: ExchangeResult.self)
        var request = request
        if let bearerToken, !request.headers.contains(where: { $0.name.lowercased() == "authorization" }) {
            request.headers.append(("Authorization", "Bearer " + bearerToken))
        }
        let pending = PendingExchange(
            request: request, hostHeader: address.description, deadline: deadline, timeoutMs: timeoutMs,
            promise: promise)
        // A write that never reaches the handler (the channel closed meanwhile) fails here.
        channel.writeAndFlush(pending).whenFailure { [address] _ in
            promise.fail(WRaftClientError.connectionClosed(address: address.description))
        }
        do {
            let result = try await promise.futureResult.get()
            pool.release(channel, isReusable: result.isReusable)
            return result.response
        } catch {
            pool.release(channel, isReusable: false)
            throw (error as? WRaftClientError) ?? .connectionClosed(address: address.description)
        }
    }

    /// A connection of its own to the node, outside the pool, with the client's pipeline (TLS,
    /// the exchange handler): write `PendingExchange`s to it, one at a time; close it when done.
    /// For a load generator that keeps one connection busy from its event loop.
    package func openDedicatedConnection(timeoutMs: Int) async throws(WRaftClientError) -> any Channel {
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeoutMs))
        return try await pool.openConnection(deadline: deadline, timeoutMs: timeoutMs)
    }

    // MARK: Cluster formation

    /// `POST /connect`: merge with the `initial` node at that raft address, or join its cluster.
    @discardableResult
    public func connect(peer raftAddress: String, timeoutMs: Int? = nil) async throws(WRaftClientError) -> ConnectView {
        let body = try encodeJSON(ConnectBody(peer: raftAddress))
        let response = try await expectSuccess(
            HTTPRequest(method: "POST", target: "/connect", headers: Self.jsonHeaders, body: body), timeoutMs: timeoutMs)
        return try decodeJSON(ConnectView.self, from: response)
    }

    /// `POST /start`: start the whole connected cluster (idempotent).
    public func start(timeoutMs: Int? = nil) async throws(WRaftClientError) {
        let response = try await expectSuccess(HTTPRequest(method: "POST", target: "/start"), timeoutMs: timeoutMs)
        guard try decodeJSON(StartedView.self, from: response).started else {
            throw .badResponse("/start answered started: false")
        }
    }

    /// `GET /state`.
    public func state(timeoutMs: Int? = nil) async throws(WRaftClientError) -> NodeStateView {
        let response = try await expectSuccess(HTTPRequest(method: "GET", target: "/state"), timeoutMs: timeoutMs)
        return try decodeJSON(NodeStateView.self, from: response)
    }

    /// `GET /health`. A node that does not serve answers with an error status and the same body;
    /// both decode to `HealthView`.
    public func health(timeoutMs: Int? = nil) async throws(WRaftClientError) -> HealthView {
        let response = try await send(HTTPRequest(method: "GET", target: "/health"), timeoutMs: timeoutMs)
        if let health = try? Self.decoded(HealthView.self, from: response) {
            return health
        }
        throw Self.error(from: response)
    }

    /// `GET /health` with the HTTP status and, for a node that does not serve, the reason it
    /// gives (the `message` of its body).
    public func healthReport(timeoutMs: Int? = nil) async throws(WRaftClientError) -> HealthReport {
        let response = try await send(HTTPRequest(method: "GET", target: "/health"), timeoutMs: timeoutMs)
        guard let health = try? Self.decoded(HealthView.self, from: response) else { throw Self.error(from: response) }
        let reason = response.isSuccess ? nil : Self.errorBody(of: response)?.message
        return HealthReport(httpStatus: response.status, health: health, reason: reason)
    }

    /// `POST /members/remove`: answers the id of the member removed.
    @discardableResult
    public func removeMember(id: String, timeoutMs: Int? = nil) async throws(WRaftClientError) -> String {
        let body = try encodeJSON(MemberIDBody(id: id))
        let response = try await expectSuccess(
            HTTPRequest(method: "POST", target: "/members/remove", headers: Self.jsonHeaders, body: body),
            timeoutMs: timeoutMs)
        return try decodeJSON(RemovedView.self, from: response).removed
    }

    /// `POST /members/promote`: makes a caught-up learner a voter; answers its id once the
    /// change is applied. A learner that lags is refused with 409 `learner_not_ready`, a voter
    /// with 409 `not_learner`, an unknown id with 404.
    @discardableResult
    public func promoteMember(id: String, timeoutMs: Int? = nil) async throws(WRaftClientError) -> String {
        let body = try encodeJSON(MemberIDBody(id: id))
        let target = "/members/promote" + Self.queryString(timeoutMs.map { [("timeoutMs", String($0))] } ?? [])
        let response = try await expectSuccess(
            HTTPRequest(method: "POST", target: target, headers: Self.jsonHeaders, body: body),
            timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(PromotedView.self, from: response).promoted
    }

    // MARK: Key-value data

    /// `PUT /data/{key}`; `prevValue` or `prevIndex` make it a compare-and-set (412 on mismatch).
    /// `timeoutMs` is passed to the node as its deadline.
    /// `lease` attaches the key to a lease (`?lease=ID`; 404 `lease_not_found` when it does not exist).
    @discardableResult
    public func put(
        _ key: String, _ value: [UInt8], prevValue: String? = nil, prevIndex: UInt64? = nil, lease: Int64? = nil,
        timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> WriteOutcome {
        var query = Self.conditionQuery(prevValue, prevIndex, timeoutMs)
        if let lease { query.append(("lease", String(lease))) }
        let target = Self.dataTarget(key, query: query)
        let request = HTTPRequest(
            method: "PUT", target: target, headers: [("Content-Type", "application/octet-stream")], body: value)
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(WriteOutcome.self, from: response)
    }

    /// `PUT /data/{key}` of a UTF-8 text value.
    @discardableResult
    public func put(
        _ key: String, _ value: String, prevValue: String? = nil, prevIndex: UInt64? = nil, timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> WriteOutcome {
        try await put(key, Array(value.utf8), prevValue: prevValue, prevIndex: prevIndex, timeoutMs: timeoutMs)
    }

    /// `GET /data/{key}`: nil when the key does not exist (404 not_found).
    /// `revision` reads the key as it was at that revision (`410 compacted` below the compaction,
    /// `400 future_revision` above the current one).
    public func get(
        _ key: String, consistency: ReadConsistency = .linearizable, revision: UInt64? = nil, timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> ReadOutcome? {
        var query: [(String, String)] = []
        if consistency == .local { query.append(("consistency", "local")) }
        if let revision { query.append(("revision", String(revision))) }
        if let timeoutMs { query.append(("timeoutMs", String(timeoutMs))) }
        let request = HTTPRequest(method: "GET", target: Self.dataTarget(key, query: query))
        let response = try await send(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        if response.status == ErrorCode.notFound.httpStatus, Self.errorBody(of: response)?.code == .notFound { return nil }
        guard response.isSuccess else { throw Self.error(from: response) }
        guard let index = response.header(RaftHeader.index).flatMap(UInt64.init) else {
            throw .badResponse("GET /data without a numeric \(RaftHeader.index) header")
        }
        let term = response.header(RaftHeader.term).flatMap(UInt64.init) ?? 0
        return ReadOutcome(value: response.body, index: index, term: term)
    }

    /// `DELETE /data/{key}`, optionally conditional.
    @discardableResult
    public func delete(
        _ key: String, prevValue: String? = nil, prevIndex: UInt64? = nil, timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> WriteOutcome {
        let target = Self.dataTarget(key, query: Self.conditionQuery(prevValue, prevIndex, timeoutMs))
        let response = try await expectSuccess(
            HTTPRequest(method: "DELETE", target: target), timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(WriteOutcome.self, from: response)
    }

    /// `GET /data?prefix=&limit=&cursor=`: keys in order. When the answer has `more`, its `next`
    /// is the `cursor` of the following page.
    /// `revision` reads the keys as they were at that revision (to page through one revision,
    /// pass the first page's `revision`).
    public func list(
        prefix: String = "", limit: Int? = nil, cursor: String? = nil, consistency: ReadConsistency = .linearizable,
        revision: UInt64? = nil, timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> ListView {
        var query: [(String, String)] = [("prefix", prefix)]
        if let limit { query.append(("limit", String(limit))) }
        if let revision { query.append(("revision", String(revision))) }
        if let cursor { query.append(("cursor", cursor)) }
        if consistency == .local { query.append(("consistency", "local")) }
        if let timeoutMs { query.append(("timeoutMs", String(timeoutMs))) }
        let response = try await expectSuccess(
            HTTPRequest(method: "GET", target: "/data" + Self.queryString(query)),
            timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(ListView.self, from: response)
    }

    /// `POST /set {"key", "value"}`: the original WRaft's write endpoint (optionally
    /// compare-and-set, as `put`).
    @discardableResult
    public func set(
        key: String, value: String, prevValue: String? = nil, prevIndex: UInt64? = nil, timeoutMs: Int? = nil
    ) async throws(WRaftClientError) -> WriteOutcome {
        try await postSet(
            SetBody(key: key, value: value, prevValue: prevValue, prevIndex: prevIndex), timeoutMs: timeoutMs)
    }

    /// `POST /set {"key", "delete": true}`.
    @discardableResult
    public func set(deleting key: String, timeoutMs: Int? = nil) async throws(WRaftClientError) -> WriteOutcome {
        try await postSet(SetBody(key: key, delete: true), timeoutMs: timeoutMs)
    }

    // MARK: Inspection and operations

    /// `GET /log?from=&limit=`: `limit` entries from `index`; without `index`, the node's last
    /// `limit` entries.
    public func log(from index: UInt64? = nil, limit: Int = 100, timeoutMs: Int? = nil) async throws(WRaftClientError)
        -> LogView
    {
        var query = [("limit", String(limit))]
        if let index { query.insert(("from", String(index)), at: 0) }
        let target = "/log" + Self.queryString(query)
        let response = try await expectSuccess(HTTPRequest(method: "GET", target: target), timeoutMs: timeoutMs)
        return try decodeJSON(LogView.self, from: response)
    }

    /// `POST /op/...`: injects (or clears) a fault on this node. For `.crash` the node exits
    /// before or while answering, so a closed connection counts as success.
    public func inject(_ fault: Fault, timeoutMs: Int? = nil) async throws(WRaftClientError) {
        let request = HTTPRequest(
            method: "POST", target: "/op/" + fault.name.rawValue, headers: Self.jsonHeaders, body: try faultBody(fault))
        do {
            try checkInjected(fault, try await expectSuccess(request, timeoutMs: timeoutMs))
        } catch {
            if case .crash = fault, case .connectionClosed = error { return }
            throw error
        }
    }

    private func checkInjected(_ fault: Fault, _ response: HTTPResponse) throws(WRaftClientError) {
        let answer = try decodeJSON(FaultInjectedView.self, from: response)
        guard answer.ok, answer.op == fault.name else {
            throw .badResponse("/op/\(fault.name.rawValue) answered op \(answer.op.rawValue), ok \(answer.ok)")
        }
    }

    /// `GET /metrics`: the Prometheus text.
    public func metricsText(timeoutMs: Int? = nil) async throws(WRaftClientError) -> String {
        try await expectSuccess(HTTPRequest(method: "GET", target: "/metrics"), timeoutMs: timeoutMs).bodyText
    }

    // MARK: Helpers

    static let jsonHeaders: [(name: String, value: String)] = [("Content-Type", "application/json")]

    func expectSuccess(_ request: HTTPRequest, timeoutMs: Int?) async throws(WRaftClientError) -> HTTPResponse {
        let response = try await send(request, timeoutMs: timeoutMs)
        guard response.isSuccess else { throw Self.error(from: response) }
        return response
    }

    private func postSet(_ body: SetBody, timeoutMs: Int?) async throws(WRaftClientError) -> WriteOutcome {
        let target = "/set" + Self.queryString(timeoutMs.map { [("timeoutMs", String($0))] } ?? [])
        let request = HTTPRequest(method: "POST", target: target, headers: Self.jsonHeaders, body: try encodeJSON(body))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(WriteOutcome.self, from: response)
    }

    func clientTimeout(forServerTimeout serverTimeoutMs: Int?) -> Int? {
        serverTimeoutMs.map { $0 + Self.serverDeadlineMarginMs }
    }

    private func faultBody(_ fault: Fault) throws(WRaftClientError) -> [UInt8] {
        switch fault {
        case .isolate(let peers): return try encodeJSON(IsolateBody(peers: peers))
        case .delay(let ms, let jitterMs): return try encodeJSON(DelayBody(ms: Double(ms), jitterMs: Double(jitterMs)))
        case .drop(let rate): return try encodeJSON(DropBody(rate: rate))
        case .transfer(let target): return try encodeJSON(TransferBody(to: target))
        case .pause, .resume, .heal, .crash, .stepDown, .snapshot, .freeze, .release: return []
        }
    }

    static func dataTarget(_ key: String, query: [(String, String)]) -> String {
        "/data/" + PercentEncoding.encode(key) + queryString(query)
    }

    static func queryString(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        return "?" + items.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
    }

    private static func conditionQuery(_ prevValue: String?, _ prevIndex: UInt64?, _ timeoutMs: Int?) -> [(String, String)] {
        var query: [(String, String)] = []
        if let prevValue { query.append(("prevValue", prevValue)) }
        if let prevIndex { query.append(("prevIndex", String(prevIndex))) }
        if let timeoutMs { query.append(("timeoutMs", String(timeoutMs))) }
        return query
    }

    /// The typed error of a non-2xx answer, from its JSON body when it has one.
    package static func error(from response: HTTPResponse) -> WRaftClientError {
        let body = errorBody(of: response)
        let retryAfter = response.header("Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return .http(
            status: response.status, code: body?.code, message: body?.message ?? String(response.bodyText.prefix(200)),
            retryAfterSeconds: retryAfter)
    }

    private static func errorBody(of response: HTTPResponse) -> ErrorBody? {
        try? decoded(ErrorBody.self, from: response)
    }

    /// How this client reads every JSON body of the API (`WRaftAPI` types): one decoder, used
    /// by tests that check the server's bodies too.
    package static func decoded<Value: Decodable>(_ type: Value.Type, from response: HTTPResponse) throws -> Value {
        try JSONDecoder().decode(type, from: Data(response.body))
    }

    func encodeJSON(_ value: some Encodable) throws(WRaftClientError) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw .badResponse("could not encode the request body: \(error)")
        }
    }

    func decodeJSON<Value: Decodable>(_ type: Value.Type, from response: HTTPResponse) throws(WRaftClientError)
        -> Value
    {
        do {
            return try Self.decoded(type, from: response)
        } catch {
            throw .badResponse("\(Value.self) from \(address): \(error); body: \(response.bodyText.prefix(200))")
        }
    }
}
