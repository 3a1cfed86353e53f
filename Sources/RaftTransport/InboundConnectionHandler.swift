import Logging
import NIOCore
import RaftCore
import WRaftCertificates

/// Serves one accepted connection: Raft messages, snapshot transfers and control requests.
/// Anything malformed, oversized or from another cluster closes this connection (one log line);
/// the transport carries on. A message whose claimed sender is not admitted (see
/// `TransportCore.admits`) is dropped and counted, never delivered.
final class InboundConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private let core: TransportCore
    private let logger: Logger
    /// The snapshot being reassembled on this connection, if any.
    private var snapshot: SnapshotReassembly?
    private var isRejected = false
    /// Messages decoded from the current read, handed over together at `channelReadComplete`:
    /// the consumer then wakes once per read rather than once per message.
    private var pending: [Message] = []
    /// Closes the connection unless a first valid frame arrives in time; cancelled by that frame.
    private var firstFrameDeadline: Scheduled<Void>?
    /// The key the TLS peer proved (nil: plaintext, or not looked up yet).
    private var connectionFingerprint: PublicKeyFingerprint?
    private var hasLookedUpFingerprint = false
    /// The last sender admitted on this connection, and the sender table's generation then: a
    /// connection carries one peer's messages, so the table is consulted once per change.
    private var admittedSender: (id: NodeID, generation: UInt64)?
    private var hasLoggedUnauthorized = false

    /// A snapshot transfer in progress: the message from its first chunk and the bytes so far.
    private struct SnapshotReassembly {
        var sender: NodeID
        var transferID: UInt64
        var totalBytes: UInt64
        var message: Message
        var data: [UInt8]
    }

    /// Why a connection is closed, beyond frame and payload errors.
    private enum Rejection: Error, CustomStringConvertible {
        case foreignCluster(UInt64)
        case unexpectedFrame(FrameKind)
        case snapshot(String)
        case noFirstFrame(Duration)

        var description: String {
            switch self {
            case .foreignCluster(let id): return "frame from cluster \(id), not ours"
            case .noFirstFrame(let timeout): return "no complete frame within \(timeout) of connecting"
            case .unexpectedFrame(let kind): return "unexpected \(kind) frame"
            case .snapshot(let why): return "snapshot transfer refused: \(why)"
            }
        }
    }

    init(core: TransportCore, remoteAddress: SocketAddress?) {
        self.core = core
        var logger = core.logger
        logger[metadataKey: "raft.remote_address"] = "\(remoteAddress.map { "\($0)" } ?? "unknown")"
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Covers the TLS handshake too: no frame can arrive before it completes.
        let timeout = core.options.firstFrameTimeout
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        firstFrameDeadline = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            let (handler, context) = loopBound.value
            handler.reject(context: context, error: Rejection.noFirstFrame(timeout))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        firstFrameDeadline?.cancel()
        firstFrameDeadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isRejected else { return }
        let frame = unwrapInboundIn(data)
        core.metrics.recordBytesReceived(Frame.lengthPrefixBytes + Frame.headerBytes + frame.payload.readableBytes)
        if core.tlsContexts != nil, !hasLookedUpFingerprint {
            hasLookedUpFingerprint = true
            connectionFingerprint = context.channel.peerPublicKeyFingerprint()
        }
        do {
            guard core.accepts(frameClusterID: frame.clusterID, kind: frame.kind) else {
                throw Rejection.foreignCluster(frame.clusterID)
            }
            try handle(frame, context: context)
            firstFrameDeadline?.cancel()
            firstFrameDeadline = nil
        } catch {
            reject(context: context, error: error)
        }
    }

    /// Whether `sender`'s messages are accepted on this connection (see `TransportCore.admits`).
    private func isAdmitted(_ sender: NodeID) -> Bool {
        let generation = core.sendersGeneration
        if let admitted = admittedSender, admitted.id == sender, admitted.generation == generation { return true }
        guard core.admits(sender: sender, connectionFingerprint: connectionFingerprint) else { return false }
        admittedSender = (sender, generation)
        return true
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reject(context: context, error: error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Nothing read for `snapshotStallTimeout`: an idle peer connection is fine, but a
        // half-received snapshot must not hold its memory and its receive slot forever.
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read, snapshot != nil {
            reject(context: context, error: Rejection.snapshot("stalled for \(core.options.snapshotStallTimeout)"))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliverPending()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliverPending()
        abandonSnapshot()
        context.fireChannelInactive()
    }

    // MARK: Frames

    private func handle(_ frame: Frame, context: ChannelHandlerContext) throws {
        switch frame.kind {
        case .raftMessage:
            try receiveMessage(frame.payload)
        case .snapshotChunk:
            var payload = frame.payload
            try receiveChunk(try SnapshotChunk(reading: &payload), context: context)
        case .controlRequest:
            var payload = frame.payload
            serveControl(try ControlFrame(reading: &payload, kind: .controlRequest), channel: context.channel)
        case .controlResponse, .snapshotAck:
            throw Rejection.unexpectedFrame(frame.kind)
        }
    }

    private func receiveMessage(_ payload: ByteBuffer) throws {
        let message = try MessageCoding.decode(payload, kind: .raftMessage)
        if case .installSnapshot = message.payload {
            // Without its bytes the message would make the core believe in a snapshot it never got.
            throw Rejection.unexpectedFrame(.raftMessage)
        }
        guard message.to == core.localID else {
            core.metrics.recordDropped(.wrongRecipient, message.payload)
            logger.debug("dropped a message for another node", metadata: ["raft.to": "\(message.to)"])
            return
        }
        guard isAdmitted(message.from) else {
            core.metrics.recordDropped(.unauthorizedSender, message.payload)
            // One line per connection (a misconfigured member's key shows up at once; a flood
            // does not flood the log).
            if !hasLoggedUnauthorized {
                hasLoggedUnauthorized = true
                logger.info(
                    "dropping messages from a sender that is not a member, or not the key of this connection",
                    metadata: [
                        "raft.from": "\(message.from)",
                        "peer_key": "\(connectionFingerprint.map { "\($0)" } ?? "none")",
                    ])
            }
            return
        }
        core.metrics.recordReceived(message.payload)
        pending.append(message)
    }

    // MARK: Snapshots

    private func receiveChunk(_ chunk: SnapshotChunk, context: ChannelHandlerContext) throws {
        if chunk.isFirst {
            try beginSnapshot(chunk)
        } else {
            guard let current = snapshot, current.transferID == chunk.transferID, current.sender == chunk.sender,
                UInt64(current.data.count) == chunk.offset
            else { throw Rejection.snapshot("chunk at \(chunk.offset) does not continue a transfer") }
            guard core.isCurrentSnapshotReceive(from: chunk.sender, transferID: chunk.transferID) else {
                throw Rejection.snapshot("replaced by a newer transfer from \(chunk.sender)")
            }
        }
        snapshot?.data.append(contentsOf: chunk.data.readableBytesView)
        if chunk.isLast { completeSnapshot(context: context) }
    }

    private func beginSnapshot(_ chunk: SnapshotChunk) throws {
        abandonSnapshot()
        guard chunk.totalBytes <= UInt64(core.options.snapshotBytesMax) else {
            throw Rejection.snapshot("\(chunk.totalBytes) bytes exceed snapshotBytesMax \(core.options.snapshotBytesMax)")
        }
        let message = try MessageCoding.decode(chunk.message, kind: .snapshotChunk)
        guard case .installSnapshot = message.payload, message.from == chunk.sender, message.to == core.localID else {
            throw Rejection.snapshot("first chunk must carry an installSnapshot message from its sender to us")
        }
        guard isAdmitted(chunk.sender) else {
            core.metrics.recordDropped(.unauthorizedSender, message.payload)
            throw Rejection.snapshot("\(chunk.sender) is not an admitted sender on this connection")
        }
        guard core.beginSnapshotReceive(from: chunk.sender, transferID: chunk.transferID) else {
            throw Rejection.snapshot("snapshotReceivesMax \(core.options.snapshotReceivesMax) transfers in progress")
        }
        snapshot = SnapshotReassembly(
            sender: chunk.sender, transferID: chunk.transferID, totalBytes: chunk.totalBytes, message: message, data: [])
    }

    private func completeSnapshot(context: ChannelHandlerContext) {
        guard let finished = snapshot else { return }
        snapshot = nil
        core.endSnapshotReceive(from: finished.sender, transferID: finished.transferID)
        precondition(UInt64(finished.data.count) == finished.totalBytes, "Snapshot: reassembled every byte")
        deliverPending()  // what arrived before the snapshot goes first
        let isAccepted = core.deliver(.snapshot(finished.message, data: finished.data))
        if isAccepted {
            core.metrics.recordReceived(finished.message.payload)
            core.metrics.recordSnapshotReceived()
        } else {
            core.metrics.recordDropped(.incomingFull, finished.message.payload)
        }
        logger.info(
            "snapshot received",
            metadata: ["raft.from": "\(finished.sender)", "bytes": "\(finished.totalBytes)", "accepted": "\(isAccepted)"])
        var buffer = context.channel.allocator.buffer(capacity: Frame.lengthPrefixBytes + Frame.headerBytes + 9)
        buffer.writeFrame(kind: .snapshotAck, clusterID: core.clusterID) { payload in
            SnapshotAck(transferID: finished.transferID, isAccepted: isAccepted).write(to: &payload)
        }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private func deliverPending() {
        guard !pending.isEmpty else { return }
        for message in pending where !core.deliver(.message(message)) {
            core.metrics.recordDropped(.incomingFull, message.payload)
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func abandonSnapshot() {
        guard let abandoned = snapshot else { return }
        snapshot = nil
        core.endSnapshotReceive(from: abandoned.sender, transferID: abandoned.transferID)
    }

    // MARK: Control

    private func serveControl(_ request: ControlFrame, channel: any Channel) {
        let core = self.core
        let correlationID = request.correlationID
        guard let handler = core.controlHandler else {
            Self.respond(ControlFrame(correlationID: correlationID, status: .noHandler, body: []), on: channel)
            return
        }
        guard request.body.count <= core.options.controlBytesMax else {
            Self.respond(ControlFrame(correlationID: correlationID, status: .tooLarge, body: []), on: channel)
            return
        }
        guard core.reserveControlSlot() else {
            Self.respond(ControlFrame(correlationID: correlationID, status: .overloaded, body: []), on: channel)
            return
        }
        let requester = ControlRequester(fingerprint: connectionFingerprint)
        Task { [body = request.body] in
            await answerControlRequest(
                body, requester: requester, correlationID: correlationID, handler: handler, core: core, channel: channel)
        }
    }

    fileprivate static func respond(_ response: ControlFrame, on channel: any Channel) {
        var buffer = channel.allocator.buffer(capacity: Frame.headerBytes + ControlFrame.headerBytes + response.body.count + 4)
        // Control traffic is cluster-agnostic (id 0): cluster formation talks across clusters
        // by design, to find out whether they conflict.
        buffer.writeFrame(kind: .controlResponse, clusterID: 0) { payload in response.write(to: &payload) }
        channel.writeAndFlush(buffer, promise: nil)
    }

    // MARK: Rejection

    private func reject(context: ChannelHandlerContext, error: any Error) {
        guard !isRejected else { return }
        isRejected = true
        firstFrameDeadline?.cancel()
        firstFrameDeadline = nil
        abandonSnapshot()
        if Self.isProtocolViolation(error) {
            core.metrics.recordConnectionRejected()
            logger.info("closing inbound connection", metadata: ["reason": "\(error)"])
        } else {
            // A peer that died or reset the connection: ordinary, not worth a line at info.
            logger.debug("inbound connection failed", metadata: ["error": "\(error)"])
        }
        context.close(promise: nil)
    }

    /// Whether `error` says the remote broke the protocol, rather than the network failing.
    private static func isProtocolViolation(_ error: any Error) -> Bool {
        switch error {
        case FrameError.truncated: return false
        case is FrameError, is PayloadError, is Rejection: return true
        case is IOError, is ChannelError: return false
        // Anything else came from decoding a payload (RaftCodec's errors).
        default: return true
        }
    }
}

/// Runs the control handler off the event loop and writes its answer.
private func answerControlRequest(
    _ body: [UInt8], requester: ControlRequester, correlationID: UInt64, handler: ControlHandler, core: TransportCore,
    channel: any Channel
) async {
    let response = await handler(body, requester)
    core.releaseControlSlot()
    let isTooLarge = response.count > core.options.controlBytesMax
    InboundConnectionHandler.respond(
        ControlFrame(correlationID: correlationID, status: isTooLarge ? .tooLarge : .ok, body: isTooLarge ? [] : response),
        on: channel)
}
