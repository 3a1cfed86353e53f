import Logging
import NIOCore
import NIOSSL
import RaftCore
import Synchronization
import WRaftCertificates

/// What the transport delivers to its consumer.
public enum Incoming: Sendable, Equatable {
    /// A Raft message from a peer.
    case message(Message)
    /// A complete snapshot: the `installSnapshot` message and the snapshot's bytes.
    case snapshot(Message, data: [UInt8])
}

extension Incoming {
    /// The bytes this item counts against `incomingBytesMax`.
    var accountedBytes: Int {
        switch self {
        case .message(let message): return MessageCoding.estimatedBytes(message)
        case .snapshot(let message, let data): return MessageCoding.estimatedBytes(message) + data.count
        }
    }
}

/// The messages and snapshots received from peers, in arrival order per connection.
/// One consumer; it ends when the transport shuts down.
public struct IncomingStream: AsyncSequence, Sendable {
    public typealias Element = Incoming
    public typealias Failure = Never

    let base: AsyncStream<Incoming>
    let core: TransportCore

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), core: core)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<Incoming>.AsyncIterator
        let core: TransportCore

        public mutating func next() async -> Incoming? {
            guard let item = await base.next() else { return nil }
            core.releaseIncoming(item)
            return item
        }

        /// Runs on the caller's actor (no hop), as `AsyncStream`'s own iterator does.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> Incoming? {
            guard let item = await base.next(isolation: actor) else { return nil }
            core.releaseIncoming(item)
            return item
        }
    }
}

/// Who sent a control request, as far as the connection proves it.
public struct ControlRequester: Sendable, Equatable {
    /// The fingerprint of the public key the requester's TLS certificate holds (its chain was
    /// verified against the cluster CA); nil on a plaintext transport.
    public var fingerprint: PublicKeyFingerprint?

    public init(fingerprint: PublicKeyFingerprint?) {
        self.fingerprint = fingerprint
    }
}

/// Answers a control request (the server's cluster-formation RPCs): request bytes and who sent
/// them in, response bytes out.
public typealias ControlHandler = @Sendable ([UInt8], ControlRequester) async -> [UInt8]

/// The state the transport's pieces share (listener, connection handlers, peer links): identity,
/// options, logging, metrics, the cluster id, the `incoming` stream and the bookkeeping of
/// inbound work. Each field is either immutable, atomic, or behind its own mutex.
final class TransportCore: Sendable {
    let localID: NodeID
    let options: TransportOptions
    let logger: Logger
    let metrics = TransportMetrics()
    private let stream: AsyncStream<Incoming>
    private let continuation: AsyncStream<Incoming>.Continuation
    /// The accounted bytes of the items in `stream` not yet taken by the consumer.
    private let incomingBytes = Atomic<Int>(0)
    private let clusterIDValue = Atomic<UInt64>(0)
    private let isShutDownValue = Atomic<Bool>(false)
    private let controlHandlerValue = Mutex<ControlHandler?>(nil)
    private let controlRequestsInFlight = Atomic<Int>(0)
    /// The snapshot transfer being received from each sender, by transfer id. A new transfer
    /// from the same sender replaces the old one (which must be dead: senders send one at a time).
    private let snapshotReceives = Mutex<[NodeID: UInt64]>([:])
    /// Open inbound connections, closed at shutdown so peers notice at once, and how many come
    /// from each source address.
    private let inboundChannels = Mutex(InboundRegistry())
    /// The peers whose Raft messages are accepted, with the key each must prove (see `setSender`).
    private let senders = Mutex<[NodeID: PublicKeyFingerprint?]>([:])
    /// Bumped at every change of `senders`, so a connection can keep its verdict on its sender
    /// until the table changes (one atomic load per frame instead of a lock).
    private let sendersGenerationValue = Atomic<UInt64>(1)
    /// The TLS contexts of the listener and of outbound connections; nil when plaintext.
    let tlsContexts: (server: NIOSSLContext, client: NIOSSLContext)?

    private struct InboundRegistry {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var countBySource: [String: Int] = [:]
    }

    init(
        localID: NodeID, options: TransportOptions, logger: Logger,
        tlsContexts: (server: NIOSSLContext, client: NIOSSLContext)? = nil
    ) {
        self.localID = localID
        self.options = options
        self.logger = logger
        self.tlsContexts = tlsContexts
        (stream, continuation) = AsyncStream.makeStream(
            of: Incoming.self, bufferingPolicy: .bufferingOldest(options.incomingMessagesMax))
    }

    var clusterID: UInt64 {
        get { clusterIDValue.load(ordering: .relaxed) }
    }

    func setClusterID(_ id: UInt64) {
        clusterIDValue.store(id, ordering: .relaxed)
    }

    /// Whether a frame of `kind` stamped with `frameClusterID` may be accepted. Raft traffic
    /// (messages, snapshot chunks) must carry our cluster id once we know it: 0 is accepted only
    /// while we do not (an `initial` node), so a forged frame cannot skip the check by claiming
    /// not to know. Control requests are cluster-agnostic by design (formation talks across
    /// clusters to find conflicts); they are authorized by the control handler.
    func accepts(frameClusterID: UInt64, kind: FrameKind) -> Bool {
        switch kind {
        case .controlRequest, .controlResponse:
            return true
        case .raftMessage, .snapshotChunk, .snapshotAck:
            let ours = clusterID
            return ours == 0 || frameClusterID == ours
        }
    }

    // MARK: Senders

    /// Admits Raft messages from `id` (a member, or a joiner being added) that, under TLS, come
    /// on a connection authenticated with `fingerprint`'s key. `removeSender` undoes it.
    func setSender(_ id: NodeID, fingerprint: PublicKeyFingerprint?) {
        let isChanged = senders.withLock { senders in
            guard senders[id] != .some(fingerprint) else { return false }
            senders[id] = .some(fingerprint)
            return true
        }
        if isChanged { sendersGenerationValue.add(1, ordering: .releasing) }
    }

    func removeSender(_ id: NodeID) {
        let isRemoved = senders.withLock { $0.removeValue(forKey: id) != nil }
        if isRemoved { sendersGenerationValue.add(1, ordering: .releasing) }
    }

    /// Changes whenever the admitted senders change.
    var sendersGeneration: UInt64 { sendersGenerationValue.load(ordering: .acquiring) }

    /// Whether a Raft message claiming to come from `sender` is accepted on a connection whose
    /// TLS peer proved `connectionFingerprint` (nil: plaintext). The sender must be admitted and,
    /// under TLS, known by exactly that key: a member without a recorded key cannot be verified,
    /// so it is refused too.
    func admits(sender: NodeID, connectionFingerprint: PublicKeyFingerprint?) -> Bool {
        guard sender != localID, let recorded = senders.withLock({ $0[sender] }) else { return false }
        guard tlsContexts != nil else { return true }
        guard let recorded, let connectionFingerprint else { return false }
        return recorded == connectionFingerprint
    }

    var isShutDown: Bool { isShutDownValue.load(ordering: .relaxed) }

    /// Marks the transport shut down; returns false when it already was.
    func markShutDown() -> Bool {
        let (exchanged, _) = isShutDownValue.compareExchange(expected: false, desired: true, ordering: .relaxed)
        return exchanged
    }

    // MARK: Delivery

    var incoming: IncomingStream { IncomingStream(base: stream, core: self) }

    /// Hands `item` to the consumer; returns false when it was dropped (`incomingMessagesMax`
    /// or `incomingBytesMax` reached, or the stream finished).
    func deliver(_ item: Incoming) -> Bool {
        let bytes = item.accountedBytes
        guard reserveIncoming(bytes: bytes) else { return false }
        switch continuation.yield(item) {
        case .enqueued:
            return true
        case .dropped, .terminated:
            incomingBytes.subtract(bytes, ordering: .relaxed)
            return false
        @unknown default:
            incomingBytes.subtract(bytes, ordering: .relaxed)
            return false
        }
    }

    /// Counts `bytes` as waiting, unless that passes `incomingBytesMax` while something else waits.
    private func reserveIncoming(bytes: Int) -> Bool {
        var current = incomingBytes.load(ordering: .relaxed)
        while current == 0 || current + bytes <= options.incomingBytesMax {
            let (exchanged, original) = incomingBytes.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// The consumer took `item` from the stream.
    func releaseIncoming(_ item: Incoming) {
        let previous = incomingBytes.subtract(item.accountedBytes, ordering: .relaxed).oldValue
        precondition(previous >= item.accountedBytes, "TransportCore: released incoming bytes were reserved")
    }

    func finishIncoming() {
        continuation.finish()
    }

    // MARK: Control requests

    var controlHandler: ControlHandler? {
        get { controlHandlerValue.withLock { $0 } }
    }

    func setControlHandler(_ handler: ControlHandler?) {
        controlHandlerValue.withLock { $0 = handler }
    }

    /// Reserves one of the `controlRequestsInFlightMax` slots; false when all are taken.
    func reserveControlSlot() -> Bool {
        let max = options.controlRequestsInFlightMax
        var current = controlRequestsInFlight.load(ordering: .relaxed)
        while current < max {
            let (exchanged, original) = controlRequestsInFlight.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func releaseControlSlot() {
        let previous = controlRequestsInFlight.subtract(1, ordering: .relaxed).oldValue
        precondition(previous >= 1, "TransportCore: a released control slot was reserved")
    }

    // MARK: Snapshot receives

    /// Registers transfer `transferID` from `sender` as that sender's current one. False when
    /// `snapshotReceivesMax` other senders are already sending.
    func beginSnapshotReceive(from sender: NodeID, transferID: UInt64) -> Bool {
        snapshotReceives.withLock { receives in
            guard receives[sender] != nil || receives.count < options.snapshotReceivesMax else { return false }
            receives[sender] = transferID
            return true
        }
    }

    /// Whether `transferID` is still `sender`'s current transfer (not replaced by a newer one).
    func isCurrentSnapshotReceive(from sender: NodeID, transferID: UInt64) -> Bool {
        snapshotReceives.withLock { $0[sender] == transferID }
    }

    func endSnapshotReceive(from sender: NodeID, transferID: UInt64) {
        snapshotReceives.withLock { receives in
            if receives[sender] == transferID { receives[sender] = nil }
        }
    }

    // MARK: Inbound connections

    /// Why an inbound connection was not taken.
    enum InboundRefusal: Equatable {
        case tooManyConnections
        case tooManyFromSource(String)
    }

    /// Tracks an accepted connection until it closes; nil when taken, else why not (nothing is
    /// tracked then): `inboundConnectionsMax` are already open, or
    /// `inboundConnectionsPerSourceMax` from the same source address.
    func registerInbound(_ channel: any Channel) -> InboundRefusal? {
        let key = ObjectIdentifier(channel)
        // A connection without an IP address (a Unix socket in tests) counts under one key.
        let source = channel.remoteAddress?.ipAddress ?? "unknown"
        let refusal: InboundRefusal? = inboundChannels.withLock { registry in
            guard registry.channels.count < options.inboundConnectionsMax else { return .tooManyConnections }
            let fromSource = registry.countBySource[source, default: 0]
            guard fromSource < options.inboundConnectionsPerSourceMax else { return .tooManyFromSource(source) }
            registry.channels[key] = channel
            registry.countBySource[source] = fromSource + 1
            return nil
        }
        guard refusal == nil else { return refusal }
        channel.closeFuture.whenComplete { [self] _ in
            inboundChannels.withLock { registry in
                guard registry.channels.removeValue(forKey: key) != nil else { return }
                let remaining = registry.countBySource[source, default: 1] - 1
                precondition(remaining >= 0, "TransportCore: a source's connection count never goes negative")
                // Dropping zero counts keeps the map bounded by the open connections.
                registry.countBySource[source] = remaining == 0 ? nil : remaining
            }
        }
        return nil
    }

    func closeInboundChannels() {
        let channels = inboundChannels.withLock { $0.channels.values }
        for channel in channels { channel.close(promise: nil) }
    }
}
