import Logging
import NIOCore
import RaftCore
import Synchronization

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

/// Answers a control request (the server's cluster-formation RPCs): request bytes in, response
/// bytes out.
public typealias ControlHandler = @Sendable ([UInt8]) async -> [UInt8]

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
    /// Open inbound connections, closed at shutdown so peers notice at once.
    private let inboundChannels = Mutex<[ObjectIdentifier: any Channel]>([:])

    init(localID: NodeID, options: TransportOptions, logger: Logger) {
        self.localID = localID
        self.options = options
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(
            of: Incoming.self, bufferingPolicy: .bufferingOldest(options.incomingMessagesMax))
    }

    var clusterID: UInt64 {
        get { clusterIDValue.load(ordering: .relaxed) }
    }

    func setClusterID(_ id: UInt64) {
        clusterIDValue.store(id, ordering: .relaxed)
    }

    /// Whether a frame stamped with `frameClusterID` may be accepted: either side not knowing
    /// its cluster yet (0) is fine; two different known ids are not.
    func accepts(frameClusterID: UInt64) -> Bool {
        let ours = clusterID
        return frameClusterID == 0 || ours == 0 || frameClusterID == ours
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

    /// Tracks an accepted connection until it closes; false (and nothing tracked) when
    /// `inboundConnectionsMax` are already open.
    func registerInbound(_ channel: any Channel) -> Bool {
        let key = ObjectIdentifier(channel)
        let isRegistered = inboundChannels.withLock { channels in
            guard channels.count < options.inboundConnectionsMax else { return false }
            channels[key] = channel
            return true
        }
        guard isRegistered else { return false }
        channel.closeFuture.whenComplete { [self] _ in
            _ = inboundChannels.withLock { $0.removeValue(forKey: key) }
        }
        return true
    }

    func closeInboundChannels() {
        let channels = inboundChannels.withLock { $0.values }
        for channel in channels { channel.close(promise: nil) }
    }
}
