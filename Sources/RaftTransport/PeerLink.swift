import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import RaftCore
import Synchronization
import WRaftCertificates
import WRaftSupport

/// The state of the connection to one peer, for `/state` and logs.
public enum PeerConnectionState: String, Sendable, Equatable {
    /// No connection yet: nothing has been sent to the peer since it was added.
    case idle
    /// A connection attempt is under way.
    case connecting
    case connected
    /// The last attempt failed or the connection was lost; a retry is scheduled or will be
    /// made on the next message.
    case disconnected
}

/// One peer's outbound side: a lazily made, long-lived connection with a bounded outbox.
///
/// The reconnect decisions are `ReconnectStateMachine`'s; this class only performs its actions.
/// Its mutable state sits behind one mutex, held only for bookkeeping, never across a channel
/// operation (a channel callback may run synchronously and re-enter).
final class PeerLink: Sendable {
    let id: NodeID
    let address: HostPort
    /// The key the peer's listener must prove under TLS (nil: chain only, or plaintext).
    let fingerprint: PublicKeyFingerprint?
    private let eventLoop: any EventLoop
    private let core: TransportCore
    private let logger: Logger
    private let state: Mutex<State>

    private struct State {
        var machine: ReconnectStateMachine
        var outbox: Outbox
        var channel: (any Channel)?
        var isWriteScheduled = false
        var retryTask: Scheduled<Void>?
        /// When the current connection was established.
        var connectedAt: ContinuousClock.Instant?
        var generator = SystemRandomNumberGenerator()
    }

    /// The channel's write buffer marks: writes stop at `high` buffered bytes and resume below
    /// `low`, so a slow peer's backlog stays in the bounded outbox, not in the channel.
    /// A connection that lived this long counts as a success for the reconnect backoff.
    static let stableConnectionLifetime: Duration = .seconds(1)

    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 512 << 10, high: 1 << 20)

    init(id: NodeID, address: HostPort, fingerprint: PublicKeyFingerprint?, eventLoop: any EventLoop, core: TransportCore) {
        self.id = id
        self.address = address
        self.fingerprint = fingerprint
        self.eventLoop = eventLoop
        self.core = core
        var logger = core.logger
        logger[metadataKey: "raft.peer_id"] = "\(id)"
        logger[metadataKey: "raft.peer_address"] = "\(address)"
        self.logger = logger
        let backoff = Backoff(initial: core.options.reconnectBackoffInitial, max: core.options.reconnectBackoffMax)
        state = Mutex(
            State(
                machine: ReconnectStateMachine(backoff: backoff),
                outbox: Outbox(messagesMax: core.options.outboxMessagesMax, bytesMax: core.options.outboxBytesMax)))
    }

    var connectionState: PeerConnectionState {
        state.withLock { state in
            switch state.machine.state {
            case .idle: return .idle
            case .connecting: return .connecting
            case .connected: return .connected
            case .waitingToRetry, .shutDown: return .disconnected
            }
        }
    }

    /// Queues `frames`, dropping (and counting) those that do not fit; never waits.
    func enqueue(_ frames: [QueuedFrame]) {
        enum Next { case none, write, connect(ReconnectStateMachine.Action) }
        let (dropped, next): ([QueuedFrame], Next) = state.withLock { state in
            var dropped: [QueuedFrame] = []
            for frame in frames where !state.outbox.append(frame) { dropped.append(frame) }
            if state.channel != nil {
                guard !state.isWriteScheduled else { return (dropped, .none) }
                state.isWriteScheduled = true
                return (dropped, .write)
            }
            return (dropped, .connect(state.machine.messageQueued()))
        }
        core.metrics.recordDropped(.outboxFull, frames: dropped, to: id)
        switch next {
        case .none: break
        case .write: eventLoop.execute { self.writeOutbox() }
        case .connect(let action): perform(action)
        }
    }

    /// Stops for good: closes the connection, cancels a pending retry, drops the outbox.
    func shutDown() {
        let (action, channel, retryTask, dropped) = state.withLock { state in
            let action = state.machine.shutDown()
            defer {
                state.channel = nil
                state.retryTask = nil
            }
            return (action, state.channel, state.retryTask, state.outbox.removeAll())
        }
        core.metrics.recordDropped(.shutDown, frames: dropped)
        retryTask?.cancel()
        if action == .close { channel?.close(promise: nil) }
    }

    // MARK: Performing the state machine's actions

    private func perform(_ action: ReconnectStateMachine.Action) {
        switch action {
        case .none, .startWriting, .close:
            // `startWriting` and `close` come with a channel; their callers handle them.
            break
        case .connect(let epoch):
            connect(epoch: epoch)
        case .scheduleRetry(let delay, let epoch):
            let task = eventLoop.scheduleTask(in: TimeAmount(delay)) { self.retryTimerFired(epoch: epoch) }
            state.withLock { $0.retryTask = task }
        }
    }

    private func connect(epoch: UInt64) {
        let options = core.options
        ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: Self.writeBufferWaterMark)
            .channelInitializer { [core] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = core.tlsContexts {
                        // Host names are not checked (members are often known by IP): the chain
                        // is, and the listener binds each member to its key.
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls.client, serverHostname: nil))
                        try channel.pipeline.syncOperations.addHandler(
                            ListenerKeyCheck(expected: self.fingerprint, logger: self.logger))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(writeTimeout: TimeAmount(options.writeStallTimeout)))
                    try channel.pipeline.syncOperations.addHandler(OutboundPeerHandler(link: self))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.connectSucceeded(channel, epoch: epoch)
                case .failure(let error): self.connectFailed(error, epoch: epoch)
                }
            }
    }

    private func connectSucceeded(_ channel: any Channel, epoch: UInt64) {
        let (action, announcement) = state.withLock { state in
            let (action, announcement) = state.machine.connectSucceeded(epoch: epoch)
            if action == .startWriting {
                state.channel = channel
                state.isWriteScheduled = true
                state.connectedAt = .now
            }
            return (action, announcement)
        }
        guard action == .startWriting else {
            channel.close(promise: nil)
            return
        }
        if announcement == .up { logger.info("peer connection up") }
        // Registered after the state holds the channel, so a close that already happened is
        // still seen (callbacks on a completed future run at once).
        channel.closeFuture.whenComplete { _ in self.connectionClosed(epoch: epoch) }
        eventLoop.execute { self.writeOutbox() }
    }

    private func connectFailed(_ error: any Error, epoch: UInt64) {
        let (action, announcement, dropped) = state.withLock { state in
            let (action, announcement) = state.machine.connectFailed(epoch: epoch, using: &state.generator)
            // What was queued for an unreachable peer is stale by the time it is back; Raft
            // resends what still matters.
            let dropped = action == .none ? [] : state.outbox.removeAll()
            return (action, announcement, dropped)
        }
        core.metrics.recordDropped(.unreachable, frames: dropped, to: id)
        if announcement == .down { logger.info("peer unreachable", metadata: ["error": "\(error)"]) }
        perform(action)
    }

    private func connectionClosed(epoch: UInt64) {
        let (action, announcement) = state.withLock { state in
            let lifetime = state.connectedAt.map { ContinuousClock.now - $0 } ?? .zero
            state.channel = nil
            state.isWriteScheduled = false
            state.connectedAt = nil
            return state.machine.connectionClosed(
                epoch: epoch, wasStable: lifetime >= Self.stableConnectionLifetime,
                hasQueuedMessages: !state.outbox.isEmpty, using: &state.generator)
        }
        if announcement == .down { logger.info("peer connection down") }
        perform(action)
    }

    private func retryTimerFired(epoch: UInt64) {
        let action = state.withLock { $0.machine.retryTimerFired(epoch: epoch) }
        if case .connect = action { core.metrics.recordReconnect() }
        perform(action)
    }

    func reportStall() {
        logger.debug("peer connection stalled: the peer stopped reading")
    }

    // MARK: Writing

    /// Writes queued frames while the channel is writable, then flushes once: every message
    /// queued since the last flush goes out in one batch. Small frames are copied together into
    /// buffers of up to `coalescingBytesMax` (one pending write instead of hundreds; the copy is
    /// cheaper than the per-write bookkeeping); large ones are written as they are. Runs on the
    /// link's event loop.
    func writeOutbox() {
        eventLoop.preconditionInEventLoop()
        let channel: (any Channel)? = state.withLock { state in
            state.isWriteScheduled = false
            return state.channel
        }
        guard let channel else { return }
        var coalesced: ByteBuffer?
        var bytesWritten = 0
        while channel.isWritable, let frame = state.withLock({ $0.outbox.popFirst() }) {
            let frameBytes = frame.bytes.readableBytes
            bytesWritten += frameBytes
            core.metrics.recordSent(kindName: frame.kindName, bytes: frameBytes)
            if frameBytes >= Self.coalescingBytesMax {
                if let pending = coalesced.take() { channel.write(pending, promise: nil) }
                channel.write(frame.bytes, promise: nil)
                continue
            }
            var buffer = coalesced.take() ?? channel.allocator.buffer(capacity: 4096)
            buffer.writeImmutableBuffer(frame.bytes)
            if buffer.readableBytes >= Self.coalescingBytesMax {
                channel.write(buffer, promise: nil)
            } else {
                coalesced = buffer
            }
        }
        if let pending = coalesced { channel.write(pending, promise: nil) }
        if bytesWritten > 0 { channel.flush() }
    }

    /// Frames below this size are copied into shared write buffers of about this size.
    static let coalescingBytesMax = 64 << 10
}

/// The handler of an outbound peer connection: resumes writing when the channel drains, and
/// closes a connection whose peer stopped reading. Peers never send on a connection we opened,
/// so any inbound byte is a protocol error.
private final class OutboundPeerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let link: PeerLink

    init(link: PeerLink) {
        self.link = link
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // No write completed for `writeStallTimeout`. With nothing to write that is just a
        // quiet link; with the write buffer full the peer is not reading: start over.
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .write, !context.channel.isWritable {
            link.reportStall()
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { link.writeOutbox() }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Under TLS, closes an outbound connection whose listener proved a key other than the one the
/// peer is known by, before any of our frames reach it: the TLS handler fires the handshake
/// event before it releases the writes buffered during the handshake, and closing here fails
/// them. With no expected key only the chain (checked by TLS) is required.
final class ListenerKeyCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let expected: PublicKeyFingerprint?
    private let logger: Logger

    init(expected: PublicKeyFingerprint?, logger: Logger) {
        self.expected = expected
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, let expected {
            let proved = context.channel.peerPublicKeyFingerprint()
            guard proved == expected else {
                logger.warning(
                    "closing a peer connection: the listener proved another key",
                    metadata: ["expected": "\(expected)", "proved": "\(proved.map { "\($0)" } ?? "none")"])
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
