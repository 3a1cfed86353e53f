import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Counts the open HTTP connections of one server by source address, and decides whether a new
/// one may stay: every source shares `connectionsMax - connectionsReservedForLoopback` slots and
/// may hold `connectionsPerSourceMax` of them; loopback clients (the operator's own tools) may
/// use the reserved rest. The total itself is enforced by the server, which stops accepting at
/// `connectionsMax`.
final class ConnectionLimiter: Sendable {
    private struct State {
        var open = 0
        /// Open connections per non-loopback source address. Invariant: no zero counts, so it
        /// holds at most `connectionsMax` entries.
        var bySource: [String: Int] = [:]
    }

    private let state = Mutex(State())
    private let sharedSlots: Int
    private let perSourceMax: Int

    init(options: HTTPOptions) {
        sharedSlots = options.connectionsMax - options.connectionsReservedForLoopback
        perSourceMax = options.connectionsPerSourceMax
    }

    /// What `admit` decided; a refused connection is closed, an admitted one released once.
    enum Admission: Equatable {
        case admitted(source: String?)
        case refused(reason: String)
    }

    func admit(_ address: SocketAddress?) -> Admission {
        let source = address?.ipAddress
        let isLoopback = source.map(Self.isLoopback) ?? false
        return state.withLock { state in
            if !isLoopback, let source {
                guard state.open < sharedSlots else { return .refused(reason: "the connections not kept for loopback are in use") }
                let fromSource = state.bySource[source, default: 0]
                guard fromSource < perSourceMax else {
                    return .refused(reason: "\(perSourceMax) connections from \(source) are open")
                }
                state.bySource[source] = fromSource + 1
                state.open += 1
                return .admitted(source: source)
            }
            state.open += 1
            return .admitted(source: nil)
        }
    }

    func release(_ admission: Admission) {
        guard case .admitted(let source) = admission else { return }
        state.withLock { state in
            precondition(state.open > 0, "ConnectionLimiter: a release matches an admission")
            state.open -= 1
            if let source {
                let remaining = (state.bySource[source] ?? 1) - 1
                state.bySource[source] = remaining > 0 ? remaining : nil
            }
        }
    }

    var openCount: Int { state.withLock { $0.open } }

    static func isLoopback(_ ip: String) -> Bool {
        ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

/// The deadline of one request's arrival, as a state machine the handler acts on: armed by the
/// first byte of a request (TLS handshake bytes included), cancelled once the request's end is
/// read. While a complete request waits for its response, bytes of the next one only mark that
/// the deadline must start when that response ends: a pipelined request trickled in behind a
/// slow answer is bounded too.
struct RequestDeadlineState {
    enum Action: Equatable {
        case none
        case arm
        case cancel
    }

    private var isArmed = false
    private var requestsEnded = 0
    private var responsesEnded = 0
    private var bytesWhileAnswering = false

    private var isAnswering: Bool { requestsEnded > responsesEnded }

    mutating func bytesReceived() -> Action {
        if isAnswering {
            bytesWhileAnswering = true
            return .none
        }
        guard !isArmed else { return .none }
        isArmed = true
        return .arm
    }

    mutating func requestEnded() -> Action {
        requestsEnded += 1
        guard isArmed else { return .none }
        isArmed = false
        return .cancel
    }

    mutating func responseEnded() -> Action {
        responsesEnded += 1
        guard !isAnswering, bytesWhileAnswering, !isArmed else { return .none }
        bytesWhileAnswering = false
        isArmed = true
        return .arm
    }
}

/// The first handler of every HTTP connection (before TLS): admits the connection through the
/// `ConnectionLimiter`, and closes it when a request does not arrive whole within
/// `requestReceiveMs` of its first byte (`RequestDeadlineState`).
final class ConnectionGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limiter: ConnectionLimiter
    private let receiveTimeout: TimeAmount
    private let logger: Logger
    private var admission: ConnectionLimiter.Admission?
    private var deadline = RequestDeadlineState()
    /// When the request now arriving must be complete; nil while none is.
    private var requestDeadline: NIODeadline?
    /// One timer at a time: arming and cancelling (twice per request) only move
    /// `requestDeadline`; the timer, when it fires, closes the connection or waits on.
    private var isTimerScheduled = false

    init(limiter: ConnectionLimiter, receiveTimeout: TimeAmount, logger: Logger) {
        self.limiter = limiter
        self.receiveTimeout = receiveTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestDeadline = nil
        if let admission { limiter.release(admission) }
        admission = .refused(reason: "closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        act(deadline.bytesReceived(), context: context)
        context.fireChannelRead(data)
    }

    /// The HTTP layer read the end of a request.
    func requestEnded(context: ChannelHandlerContext) { act(deadline.requestEnded(), context: context) }

    /// The HTTP layer wrote the end of a response.
    func responseEnded(context: ChannelHandlerContext) { act(deadline.responseEnded(), context: context) }

    private func admit(context: ChannelHandlerContext) {
        guard admission == nil else { return }
        let decision = limiter.admit(context.channel.remoteAddress)
        admission = decision
        if case .refused(let reason) = decision {
            logger.debug("HTTP connection refused", metadata: ["reason": "\(reason)"])
            context.close(promise: nil)
        }
    }

    private func act(_ action: RequestDeadlineState.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .cancel:
            requestDeadline = nil
        case .arm:
            let due = NIODeadline.now() + receiveTimeout
            requestDeadline = due
            if !isTimerScheduled { scheduleTimer(at: due, context: context) }
        }
    }

    private func scheduleTimer(at due: NIODeadline, context: ChannelHandlerContext) {
        isTimerScheduled = true
        context.eventLoop.assumeIsolated().scheduleTask(deadline: due) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        isTimerScheduled = false
        guard let due = requestDeadline, context.channel.isActive else { return }
        if due <= NIODeadline.now() {
            logger.debug("HTTP request not received before its deadline; closing the connection")
            context.close(promise: nil)
        } else {
            scheduleTimer(at: due, context: context)
        }
    }
}

/// Sits after the HTTP codec and tells the connection's `ConnectionGuardHandler` when a
/// request's end is read and a response's end written.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var guardContext: ChannelHandlerContext?
    private var guardHandler: ConnectionGuardHandler?

    func handlerAdded(context: ChannelHandlerContext) {
        guardContext = try? context.pipeline.syncOperations.context(handlerType: ConnectionGuardHandler.self)
        guardHandler = try? context.pipeline.syncOperations.handler(type: ConnectionGuardHandler.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guardContext = nil
        guardHandler = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data), let guardContext { guardHandler?.requestEnded(context: guardContext) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let guardContext { guardHandler?.responseEnded(context: guardContext) }
        context.write(data, promise: promise)
    }
}

/// A child channel that puts a `ConnectionGuardHandler` first in the pipeline, then sets up
/// `base` (TLS, HTTP/1.1) behind it.
struct GuardedChildChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let limiter: ConnectionLimiter
    let receiveTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                ConnectionGuardHandler(limiter: limiter, receiveTimeout: receiveTimeout, logger: logger), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
