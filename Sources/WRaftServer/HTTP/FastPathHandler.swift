#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// One fast-path answer: the response's head and its whole body.
struct FastPathAnswer: Sendable {
    var head: HTTPResponse
    var body: ByteBuffer?
}

/// Answers the hot key-value requests (`FastPathRoute`) of one HTTP/1.1 connection on its event
/// loop, in place of Hummingbird's per-connection task: it reads the request's head and bounded
/// body itself, starts one task that runs `APIResponder.respond` (every check of
/// `makeHTTPApplication` runs there, once, as on Hummingbird's path) and calls the node, and
/// writes the answer from the event loop. Every other request passes through untouched to
/// Hummingbird's task, which sits behind it.
///
/// It sits after Hummingbird's `HTTPConnectionStateHandler` (idle timeout, graceful shutdown),
/// so that and the connection guard's request deadline, the parse-error answer and TLS see
/// fast-path requests and answers like any other. Order on the connection is kept by
/// `FastPathConnectionState`: while a request is being answered, later parts (and the
/// errors and events behind them, a half-close included) are held, and reading stops until they
/// are taken up, so at most one read's worth of parts is ever held.
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Answers one whole request (never fails: a failure is an error answer).
    typealias Answer = @Sendable (Request, any Channel) async -> FastPathAnswer

    /// What arrived while an earlier request was being answered, in order.
    private enum Held {
        case part(HTTPRequestPart)
        case error(any Error)
        case event(Any)
    }

    private let options: HTTPOptions
    private let answer: Answer
    private var state = FastPathConnectionState()
    private var held = CircularBuffer<Held>(initialCapacity: 4)
    /// A `read` asked for while parts were held, passed on once they are taken up.
    private var isReadPending = false
    private var isResuming = false
    /// Whether parts went on since the last `channelReadComplete` did: Hummingbird's task sees
    /// what it was handed only at a read-complete, so taking up held parts ends with one.
    private var hasForwardedSinceReadComplete = false
    /// The fast-path request being read: its head, the body bytes its `Content-Length`
    /// declared, and the body so far.
    private var fastHead: HTTPRequest?
    private var fastBodyBytes = 0
    private var fastBody: ByteBuffer?

    init(options: HTTPOptions, answer: @escaping Answer) {
        self.options = options
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard held.isEmpty, !state.isHolding else {
            held.append(.part(part))
            return
        }
        take(part, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard held.isEmpty, !state.isHolding else {
            held.append(.error(error))
            return
        }
        abandonIncompleteRequest()
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard held.isEmpty, !state.isHolding else {
            held.append(.event(event))
            return
        }
        abandonIncompleteRequest()
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        hasForwardedSinceReadComplete = false
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.channelClosed()
        held.removeAll()
        fastHead = nil
        fastBody = nil
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        guard held.isEmpty else {
            isReadPending = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        guard isEnd, state.passThroughResponseEnded() else { return }
        // Not from inside Hummingbird's write: the held parts go on in a turn of their own.
        context.eventLoop.assumeIsolated().execute { self.resumeHeld(context: context) }
    }

    // MARK: Requests

    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        let action: FastPathConnectionState.PartAction
        switch part {
        case .head(let head):
            let bodyBytes = FastPathRoute.bodyBytes(for: head, options: options)
            action = state.head(isFast: bodyBytes != nil, closesConnection: FastPathRoute.closesConnection(head))
            if action == .collect, let bodyBytes {
                fastHead = head
                fastBodyBytes = bodyBytes
                fastBody = nil
            }
        case .body(var buffer):
            action = state.bodyOrEnd(isEnd: false)
            if action == .collect {
                // NIO's decoder passes exactly the declared `Content-Length`; more is a broken
                // connection, never a bigger buffer.
                let total = (fastBody?.readableBytes ?? 0) + buffer.readableBytes
                guard total <= fastBodyBytes else {
                    context.close(promise: nil)
                    return
                }
                if fastBody == nil { fastBody = buffer } else { fastBody?.writeBuffer(&buffer) }
            }
        case .end:
            action = state.bodyOrEnd(isEnd: true)
        }
        switch action {
        case .forward:
            context.fireChannelRead(wrapInboundOut(part))
            hasForwardedSinceReadComplete = true
        case .collect, .drop:
            break
        case .answer:
            startAnswer(context: context)
        case .hold:
            held.append(.part(part))
        case .close:
            context.close(promise: nil)
        }
    }

    private func abandonIncompleteRequest() {
        if state.abandonIncompleteFastRequest() {
            fastHead = nil
            fastBody = nil
        }
    }

    /// Runs the request in one task, which starts on this event loop (the checks and the parse
    /// run here, before the first await) and hops once to the node; the answer is written back on
    /// the event loop.
    private func startAnswer(context: ChannelHandlerContext) {
        guard let head = fastHead else {
            preconditionFailure("FastPathHandler: a fast-path request's end follows its head")
        }
        let request = Request(head: head, body: RequestBody(buffer: fastBody ?? ByteBuffer()))
        fastHead = nil
        fastBody = nil
        let promise = context.eventLoop.makePromise(of: FastPathAnswer.self)
        let answer = self.answer
        let channel = context.channel
        if #available(macOS 26, *) {
            Task.immediate { promise.succeed(await answer(request, channel)) }
        } else {
            Task { promise.succeed(await answer(request, channel)) }
        }
        promise.futureResult.assumeIsolated().whenSuccess { answer in
            self.writeAnswer(answer, context: context)
        }
    }

    private func writeAnswer(_ answer: FastPathAnswer, context: ChannelHandlerContext) {
        guard case .fast(requestEnded: true, _) = state.state else { return }
        context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
        if let body = answer.body, body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(body)), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        switch state.fastAnswerWritten() {
        case .resume:
            resumeHeld(context: context)
        case .close:
            held.removeAll()
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .none:
            break
        }
    }

    /// Takes up the held parts, errors and events in order, until one starts a request that must
    /// be answered first; then passes on a `read` asked for meanwhile.
    private func resumeHeld(context: ChannelHandlerContext) {
        guard !isResuming else { return }
        isResuming = true
        defer { isResuming = false }
        while !state.isHolding, let next = held.popFirst() {
            switch next {
            case .part(let part):
                take(part, context: context)
            case .error(let error):
                abandonIncompleteRequest()
                context.fireErrorCaught(error)
            case .event(let event):
                abandonIncompleteRequest()
                context.fireUserInboundEventTriggered(event)
            }
        }
        if hasForwardedSinceReadComplete {
            hasForwardedSinceReadComplete = false
            context.fireChannelReadComplete()
        }
        if held.isEmpty, isReadPending {
            isReadPending = false
            context.read()
        }
    }
}

/// Hummingbird's HTTP/1.1 child channel with a `FastPathHandler` put in right before the
/// handlers of its per-connection task.
struct FastPathChildChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let options: HTTPOptions
    let answer: FastPathHandler.Answer

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let options = options
        let answer = answer
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let connectionState = try pipeline.handler(type: HTTPConnectionStateHandler.self)
            try pipeline.addHandler(FastPathHandler(options: options, answer: answer), position: .after(connectionState))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Collects a response body that is already whole (every fast-path answer's is a buffer).
private struct BodyCollector: ResponseBodyWriter {
    final class Box {
        var buffer: ByteBuffer?
        var bytes: Int { buffer?.readableBytes ?? 0 }
    }

    let box: Box

    mutating func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        if box.buffer == nil { box.buffer = buffer } else { box.buffer?.writeBuffer(&buffer) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}

extension APIResponder {
    /// The fast path's answer to `request`: `respond(to:context:)`, plus what Hummingbird's
    /// application adds to every response (`Date`; a bare `500` should `respond` ever throw).
    func fastPathAnswer(_ request: Request, channel: any Channel, logger: Logger, date: HTTPDateHeader) async -> FastPathAnswer {
        var response: Response
        do {
            response = try await respond(
                to: request, context: BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger)))
        } catch {
            response = Response(status: .internalServerError)
        }
        response.headers[.date] = date.current()
        let box = BodyCollector.Box()
        do {
            try await response.body.write(BodyCollector(box: box))
        } catch {
            return FastPathAnswer(head: Response(status: .internalServerError).head, body: nil)
        }
        return FastPathAnswer(head: response.head, body: box.buffer)
    }
}

/// The `Date` header (RFC 9110's IMF-fixdate) of fast-path answers, formatted at most once a
/// second (Hummingbird's own cache is internal to it).
final class HTTPDateHeader: Sendable {
    private let cache = Mutex<(second: Int, text: String)>((-1, ""))

    func current() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = Int(now.tv_sec)
        return cache.withLock { cache in
            if cache.second != second { cache = (second, Self.format(second)) }
            return cache.text
        }
    }

    static func format(_ second: Int) -> String {
        var time = time_t(second)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let weekday = days[Int(parts.tm_wday) % 7]
        let month = months[Int(parts.tm_mon) % 12]
        return "\(weekday), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
