/// The tunables of a `PeerTransport`. Every bound is named here and checked once, by `validate()`.
public struct TransportOptions: Sendable, Equatable {
    /// The largest frame accepted or sent, counting everything after the 4-byte length prefix.
    /// It must exceed the largest append: `Config.messageBytesMax` (1 MiB) plus one 1 MiB value.
    public var frameBytesMax: Int = 8 << 20
    /// The most messages waiting to be written to one peer; past it new messages are dropped.
    public var outboxMessagesMax: Int = 4096
    /// The most encoded bytes waiting to be written to one peer; past it new messages are dropped.
    public var outboxBytesMax: Int = 32 << 20
    /// The most received messages and snapshots waiting in `incoming` for the consumer; past it
    /// new ones are dropped.
    public var incomingMessagesMax: Int = 16384
    /// The most bytes (messages' entries plus snapshot data) waiting in `incoming`; past it new
    /// items are dropped, except that an item is always taken when nothing waits (so one
    /// snapshot larger than this still gets through).
    public var incomingBytesMax: Int = 256 << 20
    /// How long establishing one TCP connection may take.
    public var connectTimeout: Duration = .seconds(2)
    /// A peer connection with a full write buffer that completes no write for this long is
    /// considered dead (the peer stopped reading) and is closed and remade.
    public var writeStallTimeout: Duration = .seconds(5)
    /// The delay before the first reconnect attempt; it doubles with every failure.
    public var reconnectBackoffInitial: Duration = .milliseconds(50)
    /// The longest delay between reconnect attempts.
    public var reconnectBackoffMax: Duration = .seconds(2)
    /// The bytes of snapshot data carried by one snapshot-chunk frame.
    public var snapshotChunkBytes: Int = 1 << 20
    /// The largest snapshot sent or accepted.
    public var snapshotBytesMax: Int = 1 << 30
    /// The most snapshots being received at once (from different senders).
    public var snapshotReceivesMax: Int = 4
    /// A snapshot transfer fails when no progress (a chunk written or received, the receipt
    /// acknowledged) happens for this long, on either side.
    public var snapshotStallTimeout: Duration = .seconds(10)
    /// The most inbound connections open at once; further ones are closed on arrival.
    public var inboundConnectionsMax: Int = 1024
    /// The most inbound connections open at once from one source IP address; further ones from
    /// that address are closed on arrival, so one host cannot take every slot. A member opens
    /// one long-lived connection plus short ones for snapshots and control calls.
    public var inboundConnectionsPerSourceMax: Int = 64
    /// An inbound connection must finish its TLS handshake and deliver its first complete frame
    /// within this long of being accepted, or it is closed: a connection that sends nothing
    /// useful does not hold a slot.
    public var firstFrameTimeout: Duration = .seconds(5)
    /// Mutual TLS on every connection (listener and outbound); nil: plaintext.
    public var tls: TransportTLS?
    /// The most control requests served at once; past it a request is answered `overloaded`.
    public var controlRequestsInFlightMax: Int = 64
    /// The largest control request or response body.
    public var controlBytesMax: Int = 1 << 20

    public init() {}

    /// Checks every bound; `PeerTransport.init` refuses options that fail.
    public func validate() throws(TransportError) {
        func require(_ condition: Bool, _ why: @autoclosure () -> String) throws(TransportError) {
            if !condition { throw .invalidOptions(why()) }
        }
        try require(frameBytesMax >= Self.frameBytesMin, "frameBytesMax must be >= \(Self.frameBytesMin)")
        try require(frameBytesMax <= Int(UInt32.max), "frameBytesMax must fit the 32-bit length prefix")
        try require(outboxMessagesMax >= 1, "outboxMessagesMax must be >= 1")
        try require(outboxBytesMax >= frameBytesMax, "outboxBytesMax must be >= frameBytesMax (one largest frame fits)")
        try require(incomingMessagesMax >= 1, "incomingMessagesMax must be >= 1")
        try require(incomingBytesMax >= frameBytesMax, "incomingBytesMax must be >= frameBytesMax")
        try require(connectTimeout > .zero, "connectTimeout must be positive")
        try require(writeStallTimeout > .zero, "writeStallTimeout must be positive")
        try require(reconnectBackoffInitial > .zero, "reconnectBackoffInitial must be positive")
        try require(reconnectBackoffMax >= reconnectBackoffInitial, "reconnectBackoffMax must be >= reconnectBackoffInitial")
        try require(snapshotChunkBytes >= 1, "snapshotChunkBytes must be >= 1")
        // A chunk frame also carries its header and, in the first chunk, the encoded message.
        try require(
            snapshotChunkBytes + SnapshotChunk.headerBytes + Self.snapshotMessageBytesAllowance <= frameBytesMax,
            "snapshotChunkBytes plus headers must fit in frameBytesMax")
        try require(snapshotBytesMax >= 0, "snapshotBytesMax must be >= 0")
        try require(snapshotReceivesMax >= 1, "snapshotReceivesMax must be >= 1")
        try require(snapshotStallTimeout > .zero, "snapshotStallTimeout must be positive")
        try require(inboundConnectionsMax >= 1, "inboundConnectionsMax must be >= 1")
        // Above `inboundConnectionsMax` it simply never binds.
        try require(inboundConnectionsPerSourceMax >= 1, "inboundConnectionsPerSourceMax must be >= 1")
        try require(firstFrameTimeout > .zero, "firstFrameTimeout must be positive")
        try require(firstFrameTimeout <= .seconds(60), "firstFrameTimeout must be <= 60 s")
        try tls?.validate()
        try require(controlRequestsInFlightMax >= 1, "controlRequestsInFlightMax must be >= 1")
        try require(controlBytesMax >= 1, "controlBytesMax must be >= 1")
        try require(
            controlBytesMax + ControlFrame.headerBytes <= frameBytesMax,
            "controlBytesMax plus its header must fit in frameBytesMax")
    }

    /// The smallest sensible `frameBytesMax`: room for a frame header and small messages.
    public static let frameBytesMin = 4096
    /// Room kept in the first snapshot chunk for the encoded `installSnapshot` message
    /// (metadata plus the membership context, which holds member addresses).
    static let snapshotMessageBytesAllowance = 64 << 10
}

/// Why the transport refused a request. None of these is a bug.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `TransportOptions.validate()` refused the options.
    case invalidOptions(String)
    /// An address is not of the form `host:port` (IPv6 hosts in brackets).
    case invalidAddress(String)
    /// The transport was shut down.
    case shutDown
    /// Could not connect to, or lost the connection to, `address`.
    case connectionFailed(address: String, reason: String)
    /// No answer arrived within the call's timeout.
    case timedOut
    /// The remote node has no control handler installed.
    case noControlHandler
    /// The remote node is serving too many control requests; retry later.
    case remoteOverloaded
    /// A request or response body is larger than `controlBytesMax`.
    case tooLarge(bytes: Int, max: Int)

    public var description: String {
        switch self {
        case .invalidOptions(let why): return "invalid transport options: \(why)"
        case .invalidAddress(let address): return "invalid raft address '\(address)' (expected host:port)"
        case .shutDown: return "the transport is shut down"
        case .connectionFailed(let address, let reason): return "connection to \(address) failed: \(reason)"
        case .timedOut: return "timed out"
        case .noControlHandler: return "the remote node does not serve control requests"
        case .remoteOverloaded: return "the remote node is overloaded"
        case .tooLarge(let bytes, let max): return "body of \(bytes) bytes exceeds the limit of \(max)"
        }
    }
}
