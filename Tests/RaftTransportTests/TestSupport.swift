import Logging
import NIOCore
import NIOPosix
import RaftCodec
import RaftCore
@testable import RaftTransport
import Synchronization
import Testing

/// Every wait in these tests is bounded by this.
let waitBound: Duration = .seconds(10)

/// A log handler that keeps every message, so tests can count log lines.
struct RecordingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append(level: event.level, message: "\(event.message)")
    }
}

final class LogLines: Sendable {
    private let storage = Mutex<[(Logger.Level, String)]>([])

    func append(level: Logger.Level, message: String) {
        storage.withLock { $0.append((level, message)) }
    }

    /// How many lines at info or above say exactly `message`.
    func count(of message: String) -> Int {
        storage.withLock { lines in lines.filter { $0.0 >= .info && $0.1 == message }.count }
    }
}

/// Collects what a transport delivers, so tests can wait (bounded) for it.
final class Inbox: Sendable {
    private final class Storage: Sendable {
        let items = Mutex<[Incoming]>([])
        let isFinished = Mutex(false)
    }

    private let storage = Storage()
    private let consumer: Task<Void, Never>

    init(_ transport: PeerTransport) {
        let stream = transport.incoming
        let storage = self.storage
        consumer = Task {
            for await item in stream { storage.items.withLock { $0.append(item) } }
            storage.isFinished.withLock { $0 = true }
        }
    }

    deinit { consumer.cancel() }

    /// Whether the transport finished its `incoming` stream.
    var isFinished: Bool { storage.isFinished.withLock { $0 } }

    var received: [Incoming] { storage.items.withLock { $0 } }

    var messages: [Message] {
        received.compactMap { item in
            if case .message(let message) = item { return message }
            return nil
        }
    }

    /// Waits until `condition` holds for the received items, or `waitBound` passes.
    @discardableResult
    func waitUntil(_ condition: ([Incoming]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + waitBound
        while ContinuousClock.now < deadline {
            if storage.items.withLock({ condition($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return storage.items.withLock { condition($0) }
    }

    func waitForMessages(_ count: Int) async -> Bool {
        await waitUntil { items in
            items.filter { if case .message = $0 { return true } else { return false } }.count >= count
        }
    }
}

/// Waits (bounded) until `condition` holds.
@discardableResult
func eventually(_ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + waitBound
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A transport listening on 127.0.0.1 with a free port.
struct Node: Sendable {
    let id: NodeID
    let transport: PeerTransport
    let port: Int
    let inbox: Inbox
    let logLines: LogLines

    var address: String { "127.0.0.1:\(port)" }

    static func start(
        _ id: NodeID, options: TransportOptions = TransportOptions(), port: Int = 0
    ) async throws -> Node {
        let lines = LogLines()
        let logger = Logger(label: "raft.transport.test") { _ in RecordingLogHandler(lines: lines) }
        let transport = try PeerTransport(
            localID: id, options: options, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let boundPort = try await transport.start(host: "127.0.0.1", port: port)
        return Node(id: id, transport: transport, port: boundPort, inbox: Inbox(transport), logLines: lines)
    }

    /// Makes every other node of `nodes` a peer of this one.
    func know(_ nodes: [Node]) throws {
        for node in nodes where node.id != id {
            try transport.setPeerAddress(node.id, address: node.address)
        }
    }
}

func heartbeat(from: NodeID, to: NodeID, term: UInt64 = 1, commit: UInt64 = 0) -> Message {
    Message(from: from, to: to, term: Term(term), payload: .heartbeat(HeartbeatRequest(commit: LogIndex(commit))))
}

func append(from: NodeID, to: NodeID, valueBytes: Int, index: UInt64 = 1) -> Message {
    let entry = Entry(term: 1, index: LogIndex(index), kind: .command, data: [UInt8](repeating: 0x5A, count: valueBytes))
    return Message(
        from: from, to: to, term: 1,
        payload: .append(AppendRequest(previousIndex: LogIndex(index - 1), previousTerm: 1, entries: [entry], commit: 0)))
}

/// A raw TCP client, for sending the transport bytes no peer would.
struct RawClient {
    let channel: any Channel

    static func connect(port: Int) async throws -> RawClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        return RawClient(channel: channel)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Whether the server closed the connection within `waitBound`.
    func isClosedByServer() async -> Bool {
        await eventually { !channel.isActive }
    }

    /// Waits until the server has closed `refusedCount` of `clients`, then returns the ones it
    /// kept. Which ones it refuses is not the order they connected in: the server admits each
    /// connection on the event loop it was given, and its loops run side by side.
    static func admitted(_ clients: [RawClient], expectingRefused refusedCount: Int) async -> [RawClient] {
        _ = await eventually { clients.count(where: { !$0.channel.isActive }) >= refusedCount }
        return clients.filter { $0.channel.isActive }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// A server that accepts connections and never reads from them: a peer that froze.
struct SilentServer {
    let channel: any Channel
    let acceptedCount: AcceptCounter

    final class AcceptCounter: Sendable {
        private let value = Mutex(0)
        func increment() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    var port: Int { channel.localAddress?.port ?? 0 }

    static func start() async throws -> SilentServer {
        let counter = AcceptCounter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.so_rcvbuf), value: 4096)
            .childChannelInitializer { channel in
                counter.increment()
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return SilentServer(channel: channel, acceptedCount: counter)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// The bytes of one `raftMessage` frame carrying `message`, as a forger would send them.
func frameBytes(_ message: Message, clusterID: UInt64) -> [UInt8] {
    var payload = ByteBuffer()
    payload.writeRaftMessage(message)
    var frame = ByteBuffer()
    frame.writeFrame(kind: .raftMessage, clusterID: clusterID, payload: payload)
    return Array(frame.readableBytesView)
}
