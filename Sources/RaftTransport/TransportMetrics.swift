import Metrics
import RaftCore
import Synchronization
import WRaftSupport

/// Totals since the transport started, for `/state`, logs and tests (the same numbers also go
/// to swift-metrics).
public struct TransportStatistics: Sendable, Equatable {
    public var messagesSent = 0
    public var messagesReceived = 0
    /// Messages dropped for any reason (full outbox, unknown peer, full `incoming`, too large).
    public var messagesDropped = 0
    /// Of `messagesDropped`, those refused because a peer's outbox was full.
    public var messagesDroppedOutboxFull = 0
    /// Of `messagesDropped`, messages and snapshots refused on arrival because their claimed
    /// sender is not an admitted member, or (under TLS) the connection did not prove its key.
    public var messagesDroppedUnauthorized = 0
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Connection attempts made after a failure or a lost connection.
    public var reconnects = 0
    /// Inbound connections closed because of a malformed, oversized or foreign frame.
    public var connectionsRejected = 0
    public var snapshotsSent = 0
    public var snapshotsReceived = 0

    public init() {}
}

/// Why a message was dropped (the `reason` dimension of the dropped-messages metric).
enum DropReason: String, CaseIterable {
    case outboxFull = "outbox_full"
    case noAddress = "no_address"
    case tooLarge = "too_large"
    case incomingFull = "incoming_full"
    case shutDown = "shut_down"
    case wrongRecipient = "wrong_recipient"
    /// The claimed sender is not a member (or admitted joiner), or not the connection's key.
    case unauthorizedSender = "unauthorized_sender"
    /// Queued for a peer whose connection attempt then failed (stale by the time it is back).
    case unreachable

    /// Whether a message dropped for this reason counts as a failed send to its peer (the
    /// per-peer `wraft_peer_send_failures_total`): it was meant for the peer and never reached
    /// its connection. Drops on arrival, and at shutdown, are not the link's failures.
    var isSendFailure: Bool {
        switch self {
        case .outboxFull, .noAddress, .tooLarge, .unreachable: return true
        case .incomingFull, .shutDown, .wrongRecipient, .unauthorizedSender: return false
        }
    }
}

extension Payload {
    /// A stable short name of the payload's case, for metric dimensions and logs.
    var kindName: String {
        switch self {
        case .voteRequest: return "vote_request"
        case .voteResponse: return "vote_response"
        case .append: return "append"
        case .appendResponse: return "append_response"
        case .heartbeat: return "heartbeat"
        case .heartbeatResponse: return "heartbeat_response"
        case .installSnapshot: return "install_snapshot"
        case .timeoutNow: return "timeout_now"
        case .propose: return "propose"
        case .readIndexRequest: return "read_index_request"
        case .readIndexResponse: return "read_index_response"
        }
    }

    static let kindNames = [
        "vote_request", "vote_response", "append", "append_response", "heartbeat", "heartbeat_response",
        "install_snapshot", "timeout_now", "propose", "read_index_request", "read_index_response",
    ]
}

/// The transport's counters: swift-metrics counters made once (looking a counter up per event
/// would cost a factory call each time) plus atomic totals readable as `TransportStatistics`.
public final class TransportMetrics: Sendable {
    static let messagesSentFamily = MetricDescription(
        "wraft_transport_messages_sent_total", .counter, help: "Raft messages written to peer connections, by kind.")
    static let messagesReceivedFamily = MetricDescription(
        "wraft_transport_messages_received_total", .counter,
        help: "Raft messages received from peers and handed to the node, by kind.")
    static let messagesDroppedFamily = MetricDescription(
        "wraft_transport_messages_dropped_total", .counter,
        help: "Raft messages dropped by the transport, by kind and reason (Raft resends what matters).")
    static let bytesSentFamily = MetricDescription(
        "wraft_transport_bytes_sent_total", .counter, help: "Bytes written to peer connections (frames and snapshot chunks).")
    static let bytesReceivedFamily = MetricDescription(
        "wraft_transport_bytes_received_total", .counter, help: "Bytes of frames received from peers.")
    static let reconnectsFamily = MetricDescription(
        "wraft_transport_reconnects_total", .counter, help: "Connection attempts to peers made after a failure or a lost connection.")
    static let connectionsRejectedFamily = MetricDescription(
        "wraft_transport_connections_rejected_total", .counter,
        help: "Inbound peer connections closed for a malformed, oversized or foreign frame, or an unproven key.")
    static let snapshotsSentFamily = MetricDescription(
        "wraft_transport_snapshots_sent_total", .counter, help: "Snapshots streamed to a follower and accepted by it.")
    static let snapshotsReceivedFamily = MetricDescription(
        "wraft_transport_snapshots_received_total", .counter, help: "Snapshots received whole from a leader.")
    static let peerSendFailuresFamily = MetricDescription(
        "wraft_peer_send_failures_total", .counter,
        help: "Messages for a peer that never reached its connection (outbox full, peer unreachable, no address, too large), by peer.")

    /// The families above, for the metrics backend's HELP text and Docs/METRICS.md.
    public static let descriptions = [
        messagesSentFamily, messagesReceivedFamily, messagesDroppedFamily, bytesSentFamily, bytesReceivedFamily,
        reconnectsFamily, connectionsRejectedFamily, snapshotsSentFamily, snapshotsReceivedFamily, peerSendFailuresFamily,
    ]

    /// At most this many peers get a `wraft_peer_send_failures_total` series of their own (the
    /// map of them grows with the membership, which joins grow); failures to further peers
    /// still count in `wraft_transport_messages_dropped_total`.
    static let peerSeriesMax = 256

    private let sentByKind: [String: Counter]
    private let receivedByKind: [String: Counter]
    /// Keyed by `droppedKey(reason, kindName)`.
    private let droppedByReasonAndKind: [String: Counter]
    private let bytesSent = CountedTotal(label: TransportMetrics.bytesSentFamily.name)
    private let bytesReceived = CountedTotal(label: TransportMetrics.bytesReceivedFamily.name)
    private let reconnects = CountedTotal(label: TransportMetrics.reconnectsFamily.name)
    private let connectionsRejected = CountedTotal(label: TransportMetrics.connectionsRejectedFamily.name)
    private let snapshotsSent = CountedTotal(label: TransportMetrics.snapshotsSentFamily.name)
    private let snapshotsReceived = CountedTotal(label: TransportMetrics.snapshotsReceivedFamily.name)
    /// Invariant: at most `peerSeriesMax` entries.
    private let sendFailuresByPeer = Mutex<[NodeID: Counter]>([:])

    // The message totals: their swift-metrics counters are per kind (and reason), above.
    private let messagesSent = Atomic<Int>(0)
    private let messagesReceived = Atomic<Int>(0)
    private let messagesDropped = Atomic<Int>(0)
    private let messagesDroppedOutboxFull = Atomic<Int>(0)
    private let messagesDroppedUnauthorized = Atomic<Int>(0)

    init() {
        func counters(_ label: String) -> [String: Counter] {
            Dictionary(uniqueKeysWithValues: Payload.kindNames.map { ($0, Counter(label: label, dimensions: [("kind", $0)])) })
        }
        sentByKind = counters(Self.messagesSentFamily.name)
        receivedByKind = counters(Self.messagesReceivedFamily.name)
        var dropped: [String: Counter] = [:]
        for reason in DropReason.allCases {
            for kind in Payload.kindNames {
                dropped[Self.droppedKey(reason, kind)] = Counter(
                    label: Self.messagesDroppedFamily.name, dimensions: [("kind", kind), ("reason", reason.rawValue)])
            }
        }
        droppedByReasonAndKind = dropped
    }

    var statistics: TransportStatistics {
        var result = TransportStatistics()
        result.messagesSent = messagesSent.load(ordering: .relaxed)
        result.messagesReceived = messagesReceived.load(ordering: .relaxed)
        result.messagesDropped = messagesDropped.load(ordering: .relaxed)
        result.messagesDroppedOutboxFull = messagesDroppedOutboxFull.load(ordering: .relaxed)
        result.messagesDroppedUnauthorized = messagesDroppedUnauthorized.load(ordering: .relaxed)
        result.bytesSent = bytesSent.total
        result.bytesReceived = bytesReceived.total
        result.reconnects = reconnects.total
        result.connectionsRejected = connectionsRejected.total
        result.snapshotsSent = snapshotsSent.total
        result.snapshotsReceived = snapshotsReceived.total
        return result
    }

    func recordSent(kindName: String, bytes: Int) {
        sentByKind[kindName]?.increment()
        messagesSent.add(1, ordering: .relaxed)
        recordBytesSent(bytes)
    }

    func recordBytesSent(_ bytes: Int) { bytesSent.add(bytes) }

    func recordReceived(_ payload: Payload) {
        receivedByKind[payload.kindName]?.increment()
        messagesReceived.add(1, ordering: .relaxed)
    }

    func recordBytesReceived(_ bytes: Int) { bytesReceived.add(bytes) }

    /// Counts one dropped message; `peer` is the peer it was meant for, when it was outgoing.
    func recordDropped(_ reason: DropReason, kindName: String, to peer: NodeID? = nil) {
        droppedByReasonAndKind[Self.droppedKey(reason, kindName)]?.increment()
        messagesDropped.add(1, ordering: .relaxed)
        if reason == .outboxFull { messagesDroppedOutboxFull.add(1, ordering: .relaxed) }
        if reason == .unauthorizedSender { messagesDroppedUnauthorized.add(1, ordering: .relaxed) }
        if let peer, reason.isSendFailure { sendFailureCounter(peer)?.increment() }
    }

    func recordDropped(_ reason: DropReason, _ payload: Payload, to peer: NodeID? = nil) {
        recordDropped(reason, kindName: payload.kindName, to: peer)
    }

    func recordDropped(_ reason: DropReason, frames: some Sequence<QueuedFrame>, to peer: NodeID? = nil) {
        for frame in frames { recordDropped(reason, kindName: frame.kindName, to: peer) }
    }

    /// The peer's send-failure counter, made on first use; nil past `peerSeriesMax` peers.
    private func sendFailureCounter(_ peer: NodeID) -> Counter? {
        sendFailuresByPeer.withLock { counters in
            if let counter = counters[peer] { return counter }
            guard counters.count < Self.peerSeriesMax else { return nil }
            let counter = Counter(label: Self.peerSendFailuresFamily.name, dimensions: [("peer", peer.description)])
            counters[peer] = counter
            return counter
        }
    }

    private static func droppedKey(_ reason: DropReason, _ kindName: String) -> String {
        "\(reason.rawValue)/\(kindName)"
    }

    func recordReconnect() { reconnects.add(1) }
    func recordConnectionRejected() { connectionsRejected.add(1) }
    func recordSnapshotSent() { snapshotsSent.add(1) }
    func recordSnapshotReceived() { snapshotsReceived.add(1) }
}

/// One total counted twice, as a swift-metrics counter (made once) and as an atomic total that
/// `TransportStatistics` reads back.
private final class CountedTotal: Sendable {
    private let counter: Counter
    private let atomic = Atomic<Int>(0)

    init(label: String) { counter = Counter(label: label) }

    /// Precondition: `count` is not negative (a total only grows).
    func add(_ count: Int) {
        precondition(count >= 0, "CountedTotal.add: a total only grows")
        counter.increment(by: count)
        atomic.add(count, ordering: .relaxed)
    }

    var total: Int { atomic.load(ordering: .relaxed) }
}
