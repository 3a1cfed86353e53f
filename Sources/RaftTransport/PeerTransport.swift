import Logging
import NIOCore
import NIOPosix
import NIOSSL
import RaftCore
import Synchronization
import WRaftCertificates
import WRaftSupport

/// Carries Raft traffic between the raft ports of a cluster's nodes over TCP.
///
/// - Raft messages go out on one long-lived connection per peer, made on the first message and
///   remade with exponential backoff when lost. Each peer has a bounded outbox; when it is full,
///   new messages are dropped (Raft retries) and counted; `send` never waits.
/// - Snapshots stream in chunks on a connection of their own, so heartbeats never queue behind
///   them; the receiver delivers message and bytes together once complete.
/// - Control requests (the server's cluster-formation RPCs) are opaque bytes answered by the
///   handler installed with `setControlHandler(_:)`, which learns who asked (`ControlRequester`).
/// - Only admitted senders are heard: a Raft message or snapshot claiming `from = X` is delivered
///   only when X was given with `setPeer` and, with `options.tls`, only on a connection whose
///   certificate holds X's key (mutual TLS, chains checked against the cluster CA).
///
/// Received messages and snapshots arrive, in order per connection, on `incoming`, which has one
/// consumer (the node's runtime).
public final class PeerTransport: Sendable {
    /// This node's id: inbound messages addressed to anyone else are dropped.
    public let localID: NodeID
    /// The options this transport was made with (validated).
    public let options: TransportOptions
    private let group: any EventLoopGroup
    private let core: TransportCore
    private let registry = Mutex(Registry())
    private let nextCorrelationID = Atomic<UInt64>(1)
    private let hasStarted = Atomic<Bool>(false)
    private let allocator = ByteBufferAllocator()

    private struct Registry {
        var links: [NodeID: PeerLink] = [:]
        var server: (any Channel)?
        /// Peers a snapshot is being sent to (one transfer per peer at a time).
        var snapshotTargets: Set<NodeID> = []
    }

    /// Makes a transport; nothing listens or connects until `start` and `send`.
    /// Throws `TransportError.invalidOptions` when `options.validate()` does.
    public init(localID: NodeID, options: TransportOptions, group: any EventLoopGroup, logger: Logger) throws(TransportError) {
        try options.validate()
        var logger = logger
        logger[metadataKey: "raft.node_id"] = "\(localID)"
        self.localID = localID
        self.options = options
        self.group = group
        self.core = TransportCore(
            localID: localID, options: options, logger: logger, tlsContexts: try options.tls?.makeContexts())
    }

    /// Messages and snapshots received from peers. One consumer; finishes at `shutdown()`.
    /// Buffers at most `options.incomingMessagesMax` items and `options.incomingBytesMax` bytes;
    /// past that new ones are dropped (Raft retries; a dropped snapshot is refused to its sender).
    public var incoming: IncomingStream { core.incoming }

    /// Totals since the transport was made.
    public var statistics: TransportStatistics { core.metrics.statistics }

    // MARK: Lifecycle

    /// Listens for peers on `host:port` (port 0 picks a free one); returns the bound port.
    /// Call it once.
    public func start(host: String, port: Int) async throws -> Int {
        let (isFirstStart, _) = hasStarted.compareExchange(expected: false, desired: true, ordering: .relaxed)
        precondition(isFirstStart, "PeerTransport.start: called once")
        guard !core.isShutDown else { throw TransportError.shutDown }
        let core = self.core
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard !core.isShutDown else { return channel.close() }
                if let refusal = core.registerInbound(channel) {
                    core.metrics.recordConnectionRejected()
                    core.logger.debug("refused an inbound connection", metadata: ["reason": "\(refusal)"])
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls = core.tlsContexts {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server))
                    }
                    // Read-idle events let the handler drop a snapshot transfer that stalled.
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(readTimeout: TimeAmount(core.options.snapshotStallTimeout)))
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(frameBytesMax: core.options.frameBytesMax)))
                    try channel.pipeline.syncOperations.addHandler(
                        InboundConnectionHandler(core: core, remoteAddress: channel.remoteAddress))
                }
            }
            .bind(host: host, port: port).get()
        registry.withLock { $0.server = channel }
        // A shutdown that ran while binding did not see the listener: close it here.
        guard !core.isShutDown, let boundPort = channel.localAddress?.port else {
            try? await channel.close()
            throw TransportError.shutDown
        }
        core.logger.info("raft transport listening", metadata: ["raft.address": "\(host):\(boundPort)"])
        return boundPort
    }

    /// Closes every connection and the listener, and finishes `incoming`. Later sends are
    /// dropped and calls fail with `TransportError.shutDown`. Idempotent.
    public func shutdown() async {
        guard core.markShutDown() else { return }
        let (server, links) = registry.withLock { registry in
            defer {
                registry.server = nil
                registry.links = [:]
            }
            return (registry.server, Array(registry.links.values))
        }
        for link in links { link.shutDown() }
        try? await server?.close()
        core.closeInboundChannels()
        core.finishIncoming()
    }

    // MARK: Peers

    /// Sets the cluster id stamped on outgoing frames and required of incoming Raft traffic
    /// (0 while it is not known yet, which accepts any; once set, frames stamped 0 are refused).
    public func setClusterID(_ id: UInt64) {
        core.setClusterID(id)
    }

    /// Sets (or, with nil, removes) the raft address `host:port` of peer `id`, a plaintext
    /// peer: `setPeer(_:address:fingerprint:)` without a key.
    public func setPeerAddress(_ id: NodeID, address: String?) throws(TransportError) {
        try setPeer(id, address: address, fingerprint: nil)
    }

    /// Sets (or, with a nil address, removes) peer `id`: where its raft port is, and the key it
    /// proves itself with under TLS. A peer set here is admitted: its messages are accepted
    /// (under TLS only on connections authenticated with `fingerprint`'s key; a peer without a
    /// fingerprint is then never heard). A changed address drops the old connection and its
    /// outbox. Setting our own id does nothing.
    public func setPeer(_ id: NodeID, address: String?, fingerprint: PublicKeyFingerprint?) throws(TransportError) {
        var parsed: HostPort?
        if let address { parsed = try HostPort(raftAddress: address) }
        guard id != localID else { return }
        if parsed == nil {
            core.removeSender(id)
        } else {
            core.setSender(id, fingerprint: fingerprint)
        }
        let replaced: PeerLink? = registry.withLock { registry in
            let existing = registry.links[id]
            guard existing?.address != parsed || existing?.fingerprint != fingerprint else { return nil }
            registry.links[id] = nil
            if let parsed, !core.isShutDown {
                registry.links[id] = PeerLink(
                    id: id, address: parsed, fingerprint: fingerprint, eventLoop: group.next(), core: core)
            }
            return existing
        }
        replaced?.shutDown()
    }

    /// The state of the connection to every known peer.
    public func peerStatus() -> [NodeID: PeerConnectionState] {
        registry.withLock { $0.links }.mapValues(\.connectionState)
    }

    // MARK: Sending

    /// Queues `messages` for their peers and returns at once. A message is dropped (and counted)
    /// when its peer's outbox is full, its peer has no address, it exceeds `frameBytesMax`, or
    /// the transport is shut down. `installSnapshot` messages must go through `sendSnapshot`.
    public func send(_ messages: [Message]) {
        guard !messages.isEmpty else { return }
        guard !core.isShutDown else {
            for message in messages { core.metrics.recordDropped(.shutDown, message.payload) }
            return
        }
        let links = registry.withLock { $0.links }
        let clusterID = core.clusterID
        var batches: [NodeID: [QueuedFrame]] = [:]
        for message in messages {
            if case .installSnapshot = message.payload {
                preconditionFailure("PeerTransport.send: installSnapshot travels with its bytes, through sendSnapshot")
            }
            guard links[message.to] != nil else {
                core.metrics.recordDropped(.noAddress, message.payload, to: message.to)
                continue
            }
            let frame = MessageCoding.frame(message, clusterID: clusterID, allocator: allocator)
            guard frame.readableBytes - Frame.lengthPrefixBytes <= options.frameBytesMax else {
                core.metrics.recordDropped(.tooLarge, message.payload, to: message.to)
                core.logger.info(
                    "dropped a message larger than frameBytesMax",
                    metadata: ["raft.to": "\(message.to)", "bytes": "\(frame.readableBytes)"])
                continue
            }
            batches[message.to, default: []].append(QueuedFrame(bytes: frame, kindName: message.payload.kindName))
        }
        for (id, frames) in batches {
            links[id]?.enqueue(frames)
        }
    }

    /// Streams a snapshot to `message.to` on a connection of its own, in chunks of
    /// `snapshotChunkBytes`, and waits for the receiver to acknowledge it. Returns true when the
    /// peer delivered it to its consumer; false on any failure (no address, another transfer to
    /// the same peer in progress, too large, connection lost, no progress for
    /// `snapshotStallTimeout`, refused). The caller reports the outcome to the core.
    public func sendSnapshot(_ message: Message, data: [UInt8]) async -> Bool {
        guard case .installSnapshot = message.payload else {
            preconditionFailure("PeerTransport.sendSnapshot: the message is an installSnapshot")
        }
        var logger = core.logger
        logger[metadataKey: "raft.peer_id"] = "\(message.to)"
        guard !core.isShutDown, data.count <= options.snapshotBytesMax else {
            logger.info("snapshot not sent", metadata: ["bytes": "\(data.count)", "reason": "too large or shut down"])
            return false
        }
        let target: (address: HostPort, fingerprint: PublicKeyFingerprint?)? = registry.withLock { registry in
            guard let link = registry.links[message.to], registry.snapshotTargets.insert(message.to).inserted else {
                return nil
            }
            return (link.address, link.fingerprint)
        }
        guard let (address, fingerprint) = target else {
            logger.info("snapshot not sent", metadata: ["reason": "no address, or a transfer is in progress"])
            return false
        }
        defer { _ = registry.withLock { $0.snapshotTargets.remove(message.to) } }
        do {
            let isAccepted = try await transferSnapshot(message, data: data, to: address, fingerprint: fingerprint)
            if isAccepted { core.metrics.recordSnapshotSent() }
            logger.info("snapshot sent", metadata: ["bytes": "\(data.count)", "accepted": "\(isAccepted)"])
            return isAccepted
        } catch {
            logger.info("snapshot transfer failed", metadata: ["bytes": "\(data.count)", "error": "\(error)"])
            return false
        }
    }

    private func transferSnapshot(
        _ message: Message, data: [UInt8], to address: HostPort, fingerprint: PublicKeyFingerprint?
    ) async throws -> Bool {
        let messageBytes = MessageCoding.encode(message, allocator: allocator)
        guard messageBytes.readableBytes <= TransportOptions.snapshotMessageBytesAllowance else {
            throw TransportError.tooLarge(
                bytes: messageBytes.readableBytes, max: TransportOptions.snapshotMessageBytesAllowance)
        }
        let reply = group.next().makePromise(of: Frame.self)
        let channel = try await core.openReplyConnection(
            to: address, expecting: .snapshotAck, reply: reply, connectTimeout: options.connectTimeout,
            listenerKey: fingerprint
        ).get()
        defer { channel.close(promise: nil) }
        let transferID = UInt64.random(in: 1...UInt64.max)
        var offset = 0
        repeat {
            let end = min(offset + options.snapshotChunkBytes, data.count)
            var frame = channel.allocator.buffer(
                capacity: Frame.lengthPrefixBytes + Frame.headerBytes + SnapshotChunk.headerBytes
                    + (offset == 0 ? messageBytes.readableBytes : 0) + end - offset)
            frame.writeFrame(kind: .snapshotChunk, clusterID: core.clusterID) { payload in
                SnapshotChunk.write(
                    sender: message.from, transferID: transferID, totalBytes: UInt64(data.count),
                    offset: UInt64(offset), message: offset == 0 ? messageBytes : ByteBuffer(),
                    data: data[offset..<end], to: &payload)
            }
            core.metrics.recordBytesSent(frame.readableBytes)
            try await awaitOrClose(channel.writeAndFlush(frame), channel: channel, timeout: options.snapshotStallTimeout)
            offset = end
        } while offset < data.count
        var ackPayload = try await awaitOrClose(
            reply.futureResult, channel: channel, timeout: options.snapshotStallTimeout
        ).payload
        let ack = try SnapshotAck(reading: &ackPayload)
        guard ack.transferID == transferID else {
            throw TransportError.connectionFailed(address: "\(address)", reason: "acknowledgement of another transfer")
        }
        return ack.isAccepted
    }

    // MARK: Control

    /// Installs the handler answering control requests from other nodes (nil: none; requests
    /// are then answered `noControlHandler`).
    public func setControlHandler(_ handler: ControlHandler?) {
        core.setControlHandler(handler)
    }

    /// Sends a control request to the raft port at `address` (any node, a peer or not) and
    /// returns its handler's response. Each call uses a connection of its own.
    ///
    /// Throws `TransportError`: `.invalidAddress`, `.tooLarge`, `.connectionFailed`, `.timedOut`
    /// (no answer within `timeout`, connecting included), `.noControlHandler`, `.remoteOverloaded`,
    /// `.shutDown`.
    public func call(address: String, request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        guard !core.isShutDown else { throw TransportError.shutDown }
        let peer = try HostPort(raftAddress: address)
        guard request.count <= options.controlBytesMax else {
            throw TransportError.tooLarge(bytes: request.count, max: options.controlBytesMax)
        }
        let correlationID = nextCorrelationID.add(1, ordering: .relaxed).oldValue
        let reply = group.next().makePromise(of: Frame.self)
        let channelFuture = core.openReplyConnection(
            to: peer, expecting: .controlResponse, reply: reply, connectTimeout: min(options.connectTimeout, timeout))
        let timer = reply.futureResult.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            reply.fail(TransportError.timedOut)
        }
        channelFuture.whenSuccess { channel in
            var frame = channel.allocator.buffer(capacity: Frame.headerBytes + ControlFrame.headerBytes + request.count + 4)
            frame.writeFrame(kind: .controlRequest, clusterID: 0) { payload in
                ControlFrame(correlationID: correlationID, status: .ok, body: request).write(to: &payload)
            }
            channel.writeAndFlush(frame, promise: nil)
        }
        defer {
            timer.cancel()
            channelFuture.whenSuccess { $0.close(promise: nil) }
        }
        var payload = try await reply.futureResult.get().payload
        let response = try ControlFrame(reading: &payload, kind: .controlResponse)
        guard response.correlationID == correlationID else {
            throw TransportError.connectionFailed(address: address, reason: "response to another request")
        }
        switch response.status {
        case .ok: return response.body
        case .noHandler: throw TransportError.noControlHandler
        case .overloaded: throw TransportError.remoteOverloaded
        case .tooLarge: throw TransportError.tooLarge(bytes: request.count, max: options.controlBytesMax)
        }
    }
}
