import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

extension NodeClient {
    /// The most bytes of an error answer read when a stream is refused.
    static let refusedStreamBodyBytesMax = 64 << 10

    /// `path?name=value&...` with every name and value percent-encoded.
    public static func target(_ path: String, query: [(String, String)]) -> String {
        path + queryString(query)
    }

    /// Opens a Server-Sent Events stream (`GET target`, e.g. `/watch?prefix=app/`) on a
    /// connection of its own and hands each message to `body` until the node ends the stream,
    /// the connection closes (then `.connectionClosed`), or `body` returns false. A refusal
    /// (any status but 200) throws `.http` with the node's error code. `timeoutMs` bounds the
    /// connection and the answer's head only; the stream itself may stay open indefinitely.
    /// Reading is paced by `body` (the connection stops reading while the caller is busy), and
    /// each message is bounded by `ServerSentEventParser`. With `idleTimeoutMs`, a stream that
    /// sends no byte for that long (a node that is stopped, not closed: `SIGSTOP`, a partition
    /// that drops packets) is closed and throws `.timeout`; give it a few times the interval of
    /// the node's own keep-alives (`progressMs` of `/watch`).
    public func streamEvents(
        _ target: String, lastEventID: String? = nil, timeoutMs: Int? = nil, idleTimeoutMs: Int? = nil,
        _ body: (ServerSentEvent) async throws(WRaftClientError) -> Bool
    ) async throws(WRaftClientError) {
        if let idleTimeoutMs { precondition(idleTimeoutMs > 0, "streamEvents: idleTimeoutMs is positive") }
        let timeoutMs = timeoutMs ?? requestTimeoutMs
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeoutMs))
        let channel = try await pool.openConnection(deadline: deadline, timeoutMs: timeoutMs)
        let address = self.address
        let asyncChannel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            // The pool's connection carries its one-exchange handler: this one streams instead.
            let removed = channel.eventLoop.submit { () throws -> EventLoopFuture<Void> in
                let pipeline = channel.pipeline.syncOperations
                let exchange = try pipeline.context(handlerType: HTTPExchangeHandler.self)
                let promise = channel.eventLoop.makePromise(of: Void.self)
                pipeline.removeHandler(context: exchange, promise: promise)
                return promise.futureResult
            }.flatMap { $0 }
            asyncChannel = try await removed.flatMapThrowing {
                try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }.get()
        } catch {
            channel.close(promise: nil)
            throw .connectionClosed(address: address.description)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: address.description)
        headers.add(name: "Accept", value: "text/event-stream")
        if let bearerToken { headers.add(name: "Authorization", value: "Bearer " + bearerToken) }
        if let lastEventID { headers.add(name: "Last-Event-ID", value: lastEventID) }
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
        let headTimer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
        // The idle timer is re-armed by every part that arrives; when it fires it notes why it
        // closed the connection, so the closed stream reads as a timeout, not as the node's end.
        let idleClosed = NIOLockedValueBox(false)
        var idleTimer: Scheduled<Void>?
        func armIdleTimer() {
            guard let idleTimeoutMs else { return }
            idleTimer?.cancel()
            idleTimer = channel.eventLoop.scheduleTask(in: .milliseconds(Int64(idleTimeoutMs))) {
                idleClosed.withLockedValue { $0 = true }
                channel.close(promise: nil)
            }
        }
        defer { idleTimer?.cancel() }
        var failure: WRaftClientError?
        do {
            try await asyncChannel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                var status: Int?
                var refusal: [UInt8] = []
                var parser = ServerSentEventParser()
                for try await part in inbound {
                    armIdleTimer()
                    switch part {
                    case .head(let responseHead):
                        headTimer.cancel()
                        status = Int(responseHead.status.code)
                    case .body(let buffer):
                        guard status == 200 else {
                            refusal += buffer.readableBytesView.prefix(Self.refusedStreamBodyBytesMax - refusal.count)
                            continue
                        }
                        let messages: [ServerSentEvent]
                        do {
                            messages = try parser.feed(buffer.readableBytesView)
                        } catch {
                            failure = .badResponse("the event stream from \(address.description): \(error)")
                            return
                        }
                        for message in messages {
                            do {
                                guard try await body(message) else { return }
                            } catch {
                                failure = (error as? WRaftClientError) ?? .badResponse("\(error)")
                                return
                            }
                        }
                    case .end:
                        guard let status, status != 200 else { return }
                        failure = Self.error(from: HTTPResponse(status: status, headers: [:], body: refusal))
                        return
                    }
                }
                // The connection closed before the stream's end.
                failure = .connectionClosed(address: address.description)
            }
        } catch {
            failure = failure ?? .connectionClosed(address: address.description)
        }
        headTimer.cancel()
        if let idleTimeoutMs, idleClosed.withLockedValue({ $0 }) { throw .timeout(afterMs: idleTimeoutMs) }
        if let failure { throw failure }
    }
}
