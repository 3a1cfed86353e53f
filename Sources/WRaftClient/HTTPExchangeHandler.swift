import NIOCore
import NIOHTTP1

/// A request handed to a connection's pipeline, with the deadline of its answer. `package`:
/// the load generator (WRaftLoad) writes these on connections of its own.
package struct PendingExchange: Sendable {
    let request: HTTPRequest
    let hostHeader: String
    let deadline: NIODeadline
    let timeoutMs: Int
    let promise: EventLoopPromise<ExchangeResult>

    package init(
        request: HTTPRequest, hostHeader: String, deadline: NIODeadline, timeoutMs: Int,
        promise: EventLoopPromise<ExchangeResult>
    ) {
        self.request = request
        self.hostHeader = hostHeader
        self.deadline = deadline
        self.timeoutMs = timeoutMs
        self.promise = promise
    }
}

/// A response and whether its connection may carry another request.
package struct ExchangeResult: Sendable {
    package let response: HTTPResponse
    package let isReusable: Bool
}

/// Runs one request/response exchange at a time on a keep-alive HTTP/1.1 connection: writes
/// the request, gathers the response (bounded by `responseBytesMax`), and fails the exchange when
/// its deadline passes or the connection breaks. On any failure the connection is closed, so
/// a late answer can never be taken for the next request's.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingExchange
    typealias OutboundOut = HTTPClientRequestPart

    private struct Exchange {
        let promise: EventLoopPromise<ExchangeResult>
        let timeout: NIOScheduledCallback?
        let timeoutMs: Int
        var head: HTTPResponseHead?
        var body: ByteBuffer?
    }

    private enum State {
        case idle
        case active(Exchange)
        case closed
    }

    private var state: State = .idle
    private let responseBytesMax: Int
    private let peerDescription: String

    init(responseBytesMax: Int, peerDescription: String) {
        self.responseBytesMax = responseBytesMax
        self.peerDescription = peerDescription
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let pending = unwrapOutboundIn(data)
        promise?.succeed()
        guard case .idle = state else {
            let reason = "connection to \(peerDescription) is busy or closed"
            pending.promise.fail(WRaftClientError.connectFailed(address: peerDescription, reason: reason))
            return
        }
        let timeout = try? context.eventLoop.assumeIsolated().scheduleCallback(
            at: pending.deadline, handler: TimeoutCallback(handler: self, context: context))
        state = .active(Exchange(promise: pending.promise, timeout: timeout, timeoutMs: pending.timeoutMs))
        writeRequest(pending, context: context)
    }

    private func writeRequest(_ pending: PendingExchange, context: ChannelHandlerContext) {
        let request = pending.request
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: pending.hostHeader)
        headers.add(name: "Content-Length", value: String(request.body.count))
        for header in request.headers {
            headers.add(name: header.name, value: header.value)
        }
        let head = HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: request.target, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !request.body.isEmpty {
            let buffer = context.channel.allocator.buffer(bytes: request.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.assumeIsolated().whenFailure { [self] _ in
            fail(with: .connectionClosed(address: peerDescription), context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .active(var exchange) = state else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            exchange.head = head
            state = .active(exchange)
        case .body(var part):
            let receivedBytes = (exchange.body?.readableBytes ?? 0) + part.readableBytes
            guard receivedBytes <= responseBytesMax else {
                fail(with: .responseTooLarge(bytesMax: responseBytesMax), context: context)
                return
            }
            if exchange.body == nil {
                exchange.body = part
            } else {
                exchange.body?.writeBuffer(&part)
            }
            state = .active(exchange)
        case .end:
            finish(exchange, context: context)
        }
    }

    private func finish(_ exchange: Exchange, context: ChannelHandlerContext) {
        exchange.timeout?.cancel()
        guard let head = exchange.head else {
            fail(with: .badResponse("response without a head"), context: context)
            return
        }
        var headers: [String: String] = [:]
        for (name, value) in head.headers {
            let key = name.lowercased()
            headers[key] = headers[key].map { "\($0), \(value)" } ?? value
        }
        let body = exchange.body.map { Array($0.readableBytesView) } ?? []
        let response = HTTPResponse(status: Int(head.status.code), headers: headers, body: body)
        let isReusable = head.isKeepAlive
        if isReusable {
            state = .idle
        } else {
            state = .closed
            context.close(promise: nil)
        }
        exchange.promise.succeed(ExchangeResult(response: response, isReusable: isReusable))
    }

    fileprivate func timedOut(context: ChannelHandlerContext) {
        guard case .active(let exchange) = state else { return }
        fail(with: .timeout(afterMs: exchange.timeoutMs), context: context)
    }

    private func fail(with error: WRaftClientError, context: ChannelHandlerContext) {
        let previous = state
        state = .closed
        if case .active(let exchange) = previous {
            exchange.timeout?.cancel()
            exchange.promise.fail(error)
        }
        if case .closed = previous { return }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(with: .connectionClosed(address: peerDescription), context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Malformed HTTP from the peer, a reset connection: the exchange cannot complete.
        if error is HTTPParserError {
            fail(with: .badResponse("malformed HTTP from \(peerDescription): \(error)"), context: context)
        } else {
            fail(with: .connectionClosed(address: peerDescription), context: context)
        }
    }
}

/// A stream (`NodeClient.streamEvents`) takes the connection over, replacing this handler.
extension HTTPExchangeHandler: RemovableChannelHandler {}

/// Fires an exchange's deadline on the connection's event loop (scheduled through
/// `assumeIsolated()`, so it may hold the loop-bound handler and context directly).
private struct TimeoutCallback: NIOScheduledCallbackHandler {
    let handler: HTTPExchangeHandler
    let context: ChannelHandlerContext

    func handleScheduledCallback(eventLoop: some EventLoop) {
        handler.timedOut(context: context)
    }
}
