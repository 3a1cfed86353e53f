import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import WRaftEtcd
import WRaftClient

/// etcd's gRPC API from the tests' side: the generated client stubs (Sources/WRaftEtcd) over a
/// plaintext HTTP/2 connection to one node's `--etcd-port`, and a Watch stream the test drives
/// one request at a time (what etcdctl cannot: several watches on one stream, cancels,
/// progress requests, explicit watch ids).
enum EtcdGRPC {
    typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    /// Runs `body` with a client of `address`; the client shuts down when it returns.
    static func withClient<Result: Sendable>(
        _ address: NodeAddress, _ body: (Client) async throws -> Result
    ) async throws -> Result {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: address.host, port: address.port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    /// A put through `client`; its response (the header carries the new revision).
    @discardableResult
    static func put(_ client: Client, _ key: String, _ value: String) async throws -> Etcdserverpb_PutResponse {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value.utf8)
        return try await Etcdserverpb_KV.Client(wrapping: client).put(request: ClientRequest(message: request))
    }

    /// A delete of one key through `client`.
    @discardableResult
    static func delete(_ client: Client, _ key: String) async throws -> Etcdserverpb_DeleteRangeResponse {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        return try await Etcdserverpb_KV.Client(wrapping: client).deleteRange(request: ClientRequest(message: request))
    }

    /// Compacts the history through `revision`.
    static func compact(_ client: Client, through revision: Int64) async throws {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        _ = try await Etcdserverpb_KV.Client(wrapping: client).compact(request: ClientRequest(message: request))
    }

    /// Runs `body` with one open Watch stream on `client`; the stream is closed (the call
    /// cancelled) when `body` returns or throws.
    static func withWatchStream<Result: Sendable>(
        _ client: Client, _ body: (WatchStreamDriver) async throws -> Result
    ) async throws -> Result {
        let (requests, requestWriter) = AsyncStream.makeStream(of: Etcdserverpb_WatchRequest.self)
        let driver = WatchStreamDriver(requests: requestWriter)
        let watch = Etcdserverpb_Watch.Client(wrapping: client)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await watch.watch(
                        request: StreamingClientRequest { writer in
                            for await request in requests { try await writer.write(request) }
                        }
                    ) { response in
                        for try await message in response.messages { driver.received(message) }
                    }
                    driver.ended(nil)
                } catch {
                    driver.ended(error)
                }
            }
            do {
                let result = try await body(driver)
                requestWriter.finish()
                group.cancelAll()
                return result
            } catch {
                requestWriter.finish()
                group.cancelAll()
                throw error
            }
        }
    }
}

/// One Watch stream as the test sees it: requests sent in order, responses taken in the order
/// they arrived, each wait bounded in time.
final class WatchStreamDriver: Sendable {
    private struct State {
        var responses: [Etcdserverpb_WatchResponse] = []
        var isEnded = false
        var endError: String?
    }

    private let requests: AsyncStream<Etcdserverpb_WatchRequest>.Continuation
    private let state = Mutex(State())

    init(requests: AsyncStream<Etcdserverpb_WatchRequest>.Continuation) {
        self.requests = requests
    }

    func received(_ response: Etcdserverpb_WatchResponse) {
        state.withLock { $0.responses.append(response) }
    }

    func ended(_ error: (any Error)?) {
        state.withLock {
            $0.isEnded = true
            $0.endError = error.map { "\($0)" }
        }
    }

    /// Sends a create request built by `configure` (key and range end as text).
    func create(
        key: String, rangeEnd: String = "", _ configure: (inout Etcdserverpb_WatchCreateRequest) -> Void = { _ in }
    ) {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(key.utf8)
        create.rangeEnd = Data(rangeEnd.utf8)
        configure(&create)
        var request = Etcdserverpb_WatchRequest()
        request.createRequest = create
        requests.yield(request)
    }

    func cancel(_ watchID: Int64) {
        var cancel = Etcdserverpb_WatchCancelRequest()
        cancel.watchID = watchID
        var request = Etcdserverpb_WatchRequest()
        request.cancelRequest = cancel
        requests.yield(request)
    }

    func requestProgress() {
        var request = Etcdserverpb_WatchRequest()
        request.progressRequest = Etcdserverpb_WatchProgressRequest()
        requests.yield(request)
    }

    /// The next response, or a failure after `timeoutMs` (or if the stream ended).
    func next(timeoutMs: Int = 10_000) async throws -> Etcdserverpb_WatchResponse {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        while true {
            let taken: Result<Etcdserverpb_WatchResponse, FixtureError>? = state.withLock { state in
                if !state.responses.isEmpty { return .success(state.responses.removeFirst()) }
                if state.isEnded { return .failure(FixtureError("the watch stream ended: \(state.endError ?? "no error")")) }
                return nil
            }
            if let taken { return try taken.get() }
            guard ContinuousClock.now < deadline else { throw FixtureError("no watch response within \(timeoutMs) ms") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Responses until `done` says the collection is complete (it sees every response so far),
    /// failing after `timeoutMs`.
    func collect(
        timeoutMs: Int = 10_000, until done: ([Etcdserverpb_WatchResponse]) -> Bool
    ) async throws -> [Etcdserverpb_WatchResponse] {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMs)
        var collected: [Etcdserverpb_WatchResponse] = []
        while !done(collected) {
            let left = Int((deadline - ContinuousClock.now) / .milliseconds(1))
            do {
                guard left > 0 else { throw FixtureError("out of time") }
                collected.append(try await next(timeoutMs: left))
            } catch {
                throw FixtureError("the watch responses were not complete within \(timeoutMs) ms (\(error)): \(collected.map(\.summary))")
            }
        }
        return collected
    }

    /// The responses that arrive within `ms` (for checking that nothing arrives).
    func drain(forMs ms: Int) async throws -> [Etcdserverpb_WatchResponse] {
        try await Task.sleep(for: .milliseconds(ms))
        return state.withLock { state in
            defer { state.responses.removeAll() }
            return state.responses
        }
    }
}

extension Etcdserverpb_WatchResponse {
    /// "id:kind@revision:key" per event, for messages and comparisons.
    var eventSummaries: [String] {
        events.map { event in
            "\(watchID):\(event.type == .put ? "PUT" : "DELETE")@\(event.kv.modRevision):\(String(decoding: event.kv.key, as: UTF8.self))"
        }
    }

    /// A one-line description for failure messages.
    var summary: String {
        var parts = ["id \(watchID)", "rev \(header.revision)"]
        if created { parts.append("created") }
        if canceled { parts.append("canceled(\(cancelReason))") }
        if compactRevision != 0 { parts.append("compact \(compactRevision)") }
        parts += eventSummaries
        return parts.joined(separator: " ")
    }
}
