import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import KVStore
import RaftCore
import ServiceLifecycle
import Testing
import WRaftAPI

@testable import WRaftServer

// Test support for the HTTP API tests: an in-memory fake `NodeService`, a tiny HTTP/1.1 client
// over a raw NIO socket, and a harness that runs the application on 127.0.0.1, port 0.

/// A fake node: a dictionary for a state machine, canned views, and a record of every call.
/// `failNext(with:)` makes the next throwing call fail with that error.
actor FakeNodeService: NodeService {
    enum Call: Equatable {
        case connect(String)
        case start
        case removeMember(NodeID)
        case promoteMember(NodeID)
        case write(WriteRequest)
        case read(String, ReadConsistency)
        case list(prefix: String, limit: Int, ReadConsistency)
        case listAfter(prefix: String, after: String, limit: Int)
        case log(from: LogIndex, limit: Int)
        case inject(FaultCommand)
    }

    private(set) var calls: [Call] = []
    /// How long each write waits before it is applied (the fast-path ordering tests).
    private var writeDelay: Duration?
    private(set) var lastDeadline: ContinuousClock.Instant?
    private var pendingFailure: NodeError?
    private var store: [String: (value: [UInt8], index: UInt64)] = [:]
    private var lastIndex: UInt64 = 10
    let term: UInt64 = 3

    var stateView = NodeStateView(
        id: "00000000000000aa", clusterID: "c1", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081",
        status: "running", role: "leader", term: 3, votedFor: nil, leader: nil, commitIndex: 10, appliedIndex: 10,
        lastLogIndex: 120, snapshotIndex: 90, keys: 0, faults: ["paused"],
        members: [
            MemberView(id: "00000000000000aa", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081", voter: true),
            MemberView(
                id: "00000000000000bb", raftAddress: "127.0.0.1:10002", httpAddress: "127.0.0.1:8082", voter: false,
                matchIndex: 9, nextIndex: 10, lastContactMs: 12),
        ])
    var healthView = HealthView(serving: true, status: "running", role: "leader")
    var connectOutcome = ConnectOutcome.merged(members: [
        MemberView(id: "00000000000000aa", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081", voter: true)
    ])

    func failNext(with error: NodeError) { pendingFailure = error }
    func setWriteDelay(_ delay: Duration?) { writeDelay = delay }
    func setState(_ view: NodeStateView) { stateView = view }
    func setHealth(_ view: HealthView) { healthView = view }
    func setConnectOutcome(_ outcome: ConnectOutcome) { connectOutcome = outcome }
    func seed(_ key: String, _ value: [UInt8]) {
        lastIndex += 1
        store[key] = (value, lastIndex)
    }

    private func record(_ call: Call, deadline: ContinuousClock.Instant? = nil) throws(NodeError) {
        calls.append(call)
        if let deadline { lastDeadline = deadline }
        if let failure = pendingFailure {
            pendingFailure = nil
            throw failure
        }
    }

    func connect(peerRaftAddress: String) async throws(NodeError) -> ConnectOutcome {
        try record(.connect(peerRaftAddress))
        return connectOutcome
    }

    func start() async throws(NodeError) { try record(.start) }

    func state() async -> NodeStateView { stateView }

    func health() async -> HealthView { healthView }

    func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {
        try record(.removeMember(id), deadline: deadline)
    }

    func promoteMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {
        try record(.promoteMember(id), deadline: deadline)
    }

    func write(_ request: WriteRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> WriteOutcome {
        try record(.write(request), deadline: deadline)
        if let writeDelay { try? await Task.sleep(for: writeDelay) }
        let current = store[request.key]
        switch request.condition {
        case .none: break
        case .valueEquals(let expected):
            guard current?.value == expected else { throw .compareFailed(message: "value differs") }
        case .indexEquals(let expected):
            guard (current?.index ?? 0) == expected.rawValue else { throw .compareFailed(message: "index differs") }
        }
        lastIndex += 1
        switch request.operation {
        case .put(let value):
            store[request.key] = (value, lastIndex)
            return WriteOutcome(key: request.key, index: lastIndex, term: term, deleted: nil)
        case .delete:
            let existed = store.removeValue(forKey: request.key) != nil
            return WriteOutcome(key: request.key, index: lastIndex, term: term, deleted: existed)
        }
    }

    func read(key: String, consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> ReadOutcome?
    {
        try record(.read(key, consistency), deadline: deadline)
        return store[key].map { ReadOutcome(value: $0.value, index: $0.index, term: term) }
    }

    func list(
        prefix: String, after: String?, limit: Int, consistency: ReadConsistency, deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> ListOutcome {
        if let after {
            try record(.listAfter(prefix: prefix, after: after, limit: limit), deadline: deadline)
        } else {
            try record(.list(prefix: prefix, limit: limit, consistency), deadline: deadline)
        }
        // Byte order, as the store orders keys.
        let keys = store.keys.filter { $0.hasPrefix(prefix) }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .filter { key in after.map { Array($0.utf8).lexicographicallyPrecedes(Array(key.utf8)) } ?? true }
        let items = keys.prefix(limit).compactMap { key in
            store[key].map { ListOutcome.Item(key: key, value: $0.value, index: $0.index) }
        }
        return ListOutcome(items: items, hasMore: keys.count > limit)
    }

    // Revisions, as the fake keeps them: a key's create and mod revision are its index.
    func readEntry(key: [UInt8], revision: UInt64?, consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError) -> EntryOutcome
    {
        let text = String(decoding: key, as: UTF8.self)
        guard let found = try await read(key: text, consistency: consistency, deadline: deadline) else {
            return EntryOutcome(entry: nil, revision: lastIndex)
        }
        return EntryOutcome(entry: Self.entry(key: key, value: found.value, index: found.index), revision: lastIndex)
    }

    func readRange(
        _ range: KVKeyRange, after: [UInt8]?, revision: UInt64?, limit: Int, consistency: ReadConsistency,
        deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> RangeOutcome {
        let prefix = String(decoding: range.start, as: UTF8.self)
        let listed = try await list(
            prefix: prefix, after: after.map { String(decoding: $0, as: UTF8.self) }, limit: limit, consistency: consistency,
            deadline: deadline)
        let entries = listed.items.map { Self.entry(key: Array($0.key.utf8), value: $0.value, index: $0.index) }
        return RangeOutcome(entries: entries, hasMore: listed.hasMore, revision: lastIndex)
    }

    func currentRevision() async -> UInt64 { lastIndex }

    private static func entry(key: [UInt8], value: [UInt8], index: UInt64) -> KVEntry {
        KVEntry(
            key: key, value: value, createRevision: index, modRevision: index, version: 1, lease: 0, index: LogIndex(index),
            term: Term(3))
    }

    func log(from: LogIndex, limit: Int) async -> LogView {
        calls.append(.log(from: from, limit: limit))
        let entries = (0..<UInt64(min(limit, 12))).map { offset in
            // Wrapping: the fake must not trap where a real node would (that is the HTTP layer's job).
            let index = from.rawValue &+ offset
            return index % 10 == 0
                ? LogView.Item(index: index, term: 2, type: "noop", summary: "leader's first entry")
                : LogView.Item(index: index, term: 2, type: "command", summary: "put k\(offset) (1 bytes)")
        }
        return LogView(snapshotIndex: 90, snapshotTerm: 2, entries: entries)
    }

    func inject(_ fault: FaultCommand) async throws(NodeError) {
        try record(.inject(fault))
    }
}

/// One HTTP response as read off the socket.
struct RawResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (nil when it is not one).
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// The `error` code of a JSON error body.
    var errorCode: String? { json?["error"] as? String }
}

enum TestClientError: Error {
    case timedOut
    case connectionClosedEarly
    case malformedResponse(String)
}

/// How long any single exchange with the server may take.
let exchangeTimeout: Duration = .seconds(20)

/// A minimal HTTP/1.1 client: one connection, raw request bytes out, responses parsed by
/// `Content-Length` (the server always sends one). Every wait is bounded by `exchangeTimeout`.
struct RawHTTPConnection {
    let port: Int
    /// HTTPS when set: the client side of TLS for every connection.
    var tls: NIOSSLContext? = nil
    /// Sent as `Authorization: Bearer` by `request(_:_:body:headers:)` unless it names its own.
    var bearerToken: String? = nil

    /// Sends `requests` one after another on one keep-alive connection; returns the responses.
    func exchange(_ requests: [[UInt8]]) async throws -> [RawResponse] {
        try await withTimeout(exchangeTimeout) {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { [tls] channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                        }
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                var responses: [RawResponse] = []
                var received = ByteBuffer()
                var iterator = inbound.makeAsyncIterator()
                for request in requests {
                    try await outbound.write(ByteBuffer(bytes: withPort(request)))
                    let isHead = request.starts(with: Array("HEAD ".utf8))
                    while true {
                        if let response = try parseResponse(&received, hasBody: !isHead) {
                            responses.append(response)
                            break
                        }
                        guard var chunk = try await iterator.next() else { throw TestClientError.connectionClosedEarly }
                        received.writeBuffer(&chunk)
                    }
                }
                return responses
            }
        }
    }

    /// `rawRequest` names the host `127.0.0.1` without a port: name this server's port, as a
    /// client does (the node refuses a `Host` that is not its own address and port).
    private func withPort(_ request: [UInt8]) -> [UInt8] {
        let plain = Array("\r\nHost: 127.0.0.1\r\n".utf8)
        guard let range = request.firstRange(of: plain) else { return request }
        var fixed = request
        fixed.replaceSubrange(range, with: Array("\r\nHost: 127.0.0.1:\(port)\r\n".utf8))
        return fixed
    }

    /// Sends `requests` all at once, pipelined on one connection, then reads one response per
    /// request (fewer when the server closes first); with `halfClose`, the client's side of the
    /// connection is shut down once the requests are written.
    func pipeline(_ requests: [[UInt8]], halfClose: Bool = false) async throws -> [RawResponse] {
        try await withTimeout(exchangeTimeout) {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(bytes: requests.flatMap { withPort($0) }))
                if halfClose { outbound.finish() }
                var responses: [RawResponse] = []
                var received = ByteBuffer()
                var iterator = inbound.makeAsyncIterator()
                for request in requests {
                    let isHead = request.starts(with: Array("HEAD ".utf8))
                    while true {
                        if let response = try parseResponse(&received, hasBody: !isHead) {
                            responses.append(response)
                            break
                        }
                        guard var chunk = try await iterator.next() else { return responses }
                        received.writeBuffer(&chunk)
                    }
                }
                return responses
            }
        }
    }

    func send(_ request: [UInt8]) async throws -> RawResponse {
        let responses = try await exchange([request])
        guard let response = responses.first else { throw TestClientError.connectionClosedEarly }
        return response
    }

    /// `method target` with an optional body and extra headers.
    func request(
        _ method: String, _ target: String, body: [UInt8]? = nil, headers: [(String, String)] = []
    ) async throws -> RawResponse {
        var headers = headers
        if let bearerToken, !headers.contains(where: { $0.0.lowercased() == "authorization" }) {
            headers.append(("Authorization", "Bearer " + bearerToken))
        }
        return try await send(rawRequest(method, target, body: body, headers: headers))
    }
}

/// One request's bytes. `Host: 127.0.0.1` (the connection adds its port) unless `headers` name a
/// host; `Content-Type: application/json` with a body, unless `headers` name a type.
func rawRequest(_ method: String, _ target: String, body: [UInt8]? = nil, headers: [(String, String)] = []) -> [UInt8] {
    var head = "\(method) \(target) HTTP/1.1\r\n"
    if !headers.contains(where: { $0.0.lowercased() == "host" }) { head += "Host: 127.0.0.1\r\n" }
    if body != nil, !headers.contains(where: { $0.0.lowercased() == "content-type" }) {
        head += "Content-Type: application/json\r\n"
    }
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    if let body, !headers.contains(where: { $0.0.lowercased() == "transfer-encoding" }) {
        head += "Content-Length: \(body.count)\r\n"
    }
    head += "\r\n"
    return Array(head.utf8) + (body ?? [])
}

/// Parses one complete response off the front of `buffer`, or nil when more bytes are needed.
/// A response to HEAD has no body whatever its `Content-Length` says; a 204 has none at all.
private func parseResponse(_ buffer: inout ByteBuffer, hasBody: Bool) throws -> RawResponse? {
    let bytes = Array(buffer.readableBytesView)
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    guard let headEnd = bytes.firstRange(of: separator) else { return nil }
    let headText = String(decoding: bytes[..<headEnd.lowerBound], as: UTF8.self)
    var lines = headText.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
        throw TestClientError.malformedResponse(headText)
    }
    let headers = lines.compactMap { line -> (name: String, value: String)? in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    let declaredLength: Int
    if status == 204 {
        // RFC 9110: a 204 has no body and carries no Content-Length.
        declaredLength = 0
    } else {
        guard let lengthText = headers.first(where: { $0.name.lowercased() == "content-length" })?.value,
            let length = Int(lengthText)
        else { throw TestClientError.malformedResponse("no Content-Length in \(headText)") }
        declaredLength = length
    }
    let length = hasBody ? declaredLength : 0
    let bodyStart = headEnd.upperBound
    guard bytes.count - bodyStart >= length else { return nil }
    buffer.moveReaderIndex(forwardBy: bodyStart + length)
    return RawResponse(status: status, headers: headers, body: Array(bytes[bodyStart..<(bodyStart + length)]))
}

/// Runs `operation`, failing with `TestClientError.timedOut` after `timeout`.
func withTimeout<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestClientError.timedOut
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TestClientError.timedOut }
        return first
    }
}

/// Runs the HTTP application for `service` on 127.0.0.1 (a free port) while `body` runs.
func withHTTPServer(
    _ service: FakeNodeService,
    options: HTTPOptions = HTTPOptions(),
    security: HTTPSecurity = HTTPSecurity(),
    metricsText: @escaping @Sendable () -> String = { "# TYPE wraft_up gauge\nwraft_up 1\n" },
    _ body: @escaping @Sendable (RawHTTPConnection) async throws -> Void
) async throws {
    var logger = Logger(label: "wraft.http.test")
    logger.logLevel = .warning
    let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
    let application = try makeHTTPApplication(
        service: service, host: "127.0.0.1", port: 0, options: options, security: security, metricsText: metricsText,
        logger: logger,
        onServerRunning: { port in portContinuation.yield(port) })
    // Stopped the way a node stops it: a graceful shutdown of its service group.
    let serviceGroup = ServiceGroup(services: [application], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await serviceGroup.run() }
        let outcome: Result<Void, any Error>
        do {
            let port = try await withTimeout(exchangeTimeout) {
                for await port in ports { return port }
                throw TestClientError.connectionClosedEarly
            }
            try await body(RawHTTPConnection(port: port))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await serviceGroup.triggerGracefulShutdown()
        // The shutdown is bounded too: whichever ends first, the server or the watchdog.
        group.addTask {
            try await Task.sleep(for: exchangeTimeout)
            throw TestClientError.timedOut
        }
        defer { group.cancelAll() }
        try await group.next()
        try outcome.get()
    }
}
