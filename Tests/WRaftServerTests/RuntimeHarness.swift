import Foundation
import Logging
import NIOPosix
import RaftStorage
import RaftCore
import RaftTransport
import Synchronization
import Testing
import WRaftCertificates
import WRaftTestSupport

@testable import WRaftServer

// An in-process harness for NodeRuntime: an in-memory durable store (that survives a simulated
// restart) and an in-memory network keyed by raft address. Whole clusters run in one test
// process, fast, with real timers.

/// A durable store in memory. What `persist` accepted survives a "restart" (a new runtime on the
/// same store object).
actor MemoryStorage: NodeStorage {
    private var hardState = HardState.initial
    private var entries: [Entry] = []
    private var snapshotMarker = SnapshotMetadata.empty
    private var snapshots: [(SnapshotMetadata, [UInt8])] = []
    private var identity: NodeIdentity?
    private(set) var persistCount = 0

    func recover() throws(NodeStorageError) -> PersistentState {
        PersistentState(
            hardState: hardState, snapshot: snapshotMarker,
            entries: entries.filter { $0.index > snapshotMarker.index })
    }

    /// Simulated fsync time of every persist (0: none).
    var persistDelay: Duration = .zero

    func setPersistDelay(_ delay: Duration) {
        persistDelay = delay
    }

    func persist(hardState: HardState?, entries newEntries: [Entry], snapshot: SnapshotMetadata?) async throws(NodeStorageError) {
        persistCount += 1
        if persistDelay > .zero { try? await Task.sleep(for: persistDelay) }
        if let snapshot {
            // An installed snapshot replaces the whole log.
            snapshotMarker = snapshot
            entries = []
        }
        if let first = newEntries.first {
            entries.removeAll { $0.index >= first.index }
            let expected = entries.last.map { $0.index.next } ?? snapshotMarker.index.next
            guard first.index == expected else {
                throw NodeStorageError(description: "gap: expected \(expected), appending \(first.index)")
            }
            entries.append(contentsOf: newEntries)
        }
        if let hardState { self.hardState = hardState }
    }

    func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) throws(NodeStorageError) {
        snapshots.append((metadata, data))
        if snapshots.count > 2 { snapshots.removeFirst() }
        if metadata.index > snapshotMarker.index { snapshotMarker = metadata }
    }

    func latestSnapshot() throws(NodeStorageError) -> (SnapshotMetadata, [UInt8])? {
        snapshots.last
    }

    func loadIdentity() throws(NodeStorageError) -> NodeIdentity? { identity }

    func saveIdentity(_ identity: NodeIdentity) throws(NodeStorageError) {
        self.identity = identity
    }

    var storedEntryCount: Int { entries.count }
}

/// Routes messages and control calls between in-memory transports by raft address.
final class MemoryNetwork: Sendable {
    private let endpoints = Mutex<[String: MemoryTransport]>([:])

    func register(_ transport: MemoryTransport) {
        endpoints.withLock { $0[transport.address] = transport }
    }

    func unregister(_ address: String) {
        endpoints.withLock { $0[address] = nil }
    }

    func endpoint(_ address: String) -> MemoryTransport? {
        endpoints.withLock { $0[address] }
    }
}

/// One node's end of the in-memory network.
final class MemoryTransport: NodeTransport, Sendable {
    struct State {
        var peers: [NodeID: String] = [:]
        /// The key each peer is known by (as `setPeer` gave it): with `fingerprint` set, the
        /// network behaves as mutual TLS does and hears a sender only on its recorded key.
        var keys: [NodeID: PublicKeyFingerprint?] = [:]
        var clusterID: UInt64 = 0
        var controlHandler: (@Sendable ([UInt8], PublicKeyFingerprint?) async -> [UInt8])?
        var isShutDown = false
    }

    let address: String
    /// The key this node "proves" on its calls, as mutual TLS would (nil: plaintext).
    let fingerprint: PublicKeyFingerprint?
    let network: MemoryNetwork
    /// The node's clock: a control call times out on it, so that on a manual clock a slow
    /// machine never makes a call time out, only the test's advancing does.
    let clock: any RuntimeClock
    let incoming: AsyncStream<Incoming>
    private let continuation: AsyncStream<Incoming>.Continuation
    private let state = Mutex(State())

    init(
        address: String, network: MemoryNetwork, fingerprint: PublicKeyFingerprint? = nil,
        clock: any RuntimeClock = SystemClock()
    ) {
        self.address = address
        self.clock = clock
        self.network = network
        self.fingerprint = fingerprint
        (incoming, continuation) = AsyncStream.makeStream(of: Incoming.self, bufferingPolicy: .bufferingNewest(100_000))
        network.register(self)
    }

    func setClusterID(_ clusterID: UInt64) {
        state.withLock { $0.clusterID = clusterID }
    }

    func setPeer(_ id: NodeID, _ member: MemberAddress?) {
        state.withLock {
            $0.peers[id] = member?.raftAddress
            $0.keys[id] = member.map { .some($0.fingerprint) } ?? nil
        }
    }

    func send(_ messages: [Message]) {
        for message in messages {
            guard let address = state.withLock({ $0.isShutDown ? nil : $0.peers[message.to] }),
                let peer = network.endpoint(address)
            else { continue }
            peer.deliver(.message(message), senderKey: fingerprint)
        }
    }

    func sendSnapshot(_ message: Message, data: [UInt8]) async -> Bool {
        guard let address = state.withLock({ $0.peers[message.to] }), let peer = network.endpoint(address) else {
            return false
        }
        return peer.deliver(.snapshot(message, data: data), senderKey: fingerprint)
    }

    func forEachIncoming(_ body: @escaping @Sendable (Incoming) async -> Void) async {
        for await item in incoming { await body(item) }
    }

    /// Hands `item` to the node unless it is shut down or, in a keyed network, the sender is
    /// not known by `senderKey` (what the real transport does under TLS); returns whether it did.
    @discardableResult
    func deliver(_ item: Incoming, senderKey: PublicKeyFingerprint?) -> Bool {
        let sender: NodeID
        switch item {
        case .message(let message): sender = message.from
        case .snapshot(let message, _): sender = message.from
        }
        let isHeard = state.withLock { state in
            guard !state.isShutDown else { return false }
            guard fingerprint != nil else { return true }
            guard let senderKey, let recorded = state.keys[sender] else { return false }
            return recorded == senderKey
        }
        if isHeard { continuation.yield(item) }
        return isHeard
    }

    func setControlHandler(_ handler: @escaping @Sendable ([UInt8], PublicKeyFingerprint?) async -> [UInt8]) {
        state.withLock { $0.controlHandler = handler }
    }

    func call(address: String, request: [UInt8], timeout: Duration) async throws(ControlCallError) -> [UInt8] {
        guard let peer = network.endpoint(address), let handler = peer.state.withLock({ $0.controlHandler }) else {
            throw ControlCallError(description: "connection refused")
        }
        let answer = await withTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { [fingerprint] in await handler(request, fingerprint) }
            group.addTask { [clock] in
                try? await clock.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let answer else { throw ControlCallError(description: "timed out") }
        return answer
    }

    func shutdown() async {
        state.withLock { $0.isShutDown = true }
        network.unregister(address)
        continuation.finish()
    }
}

/// A node of a test cluster: its store outlives restarts.
final class TestNode: Sendable {
    let index: Int
    /// The in-memory store (used unless `makeStorage` gives another per opening).
    let storage: MemoryStorage
    let makeStorage: (@Sendable () throws -> any NodeStorage)?
    let options: NodeOptions
    let network: MemoryNetwork
    /// The key this node runs with (a TLS cluster, simulated); nil: plaintext.
    let fingerprint: PublicKeyFingerprint?
    /// The time the node runs on (the cluster's manual clock, or the real one).
    let clock: any RuntimeClock
    private let current = Mutex<(runtime: NodeRuntime, transport: MemoryTransport)?>(nil)

    init(
        index: Int, network: MemoryNetwork, options: NodeOptions,
        makeStorage: (@Sendable () throws -> any NodeStorage)? = nil, fingerprint: PublicKeyFingerprint? = nil,
        clock: any RuntimeClock = SystemClock()
    ) {
        self.fingerprint = fingerprint
        self.clock = clock
        self.index = index
        self.storage = MemoryStorage()
        self.makeStorage = makeStorage
        self.options = options
        self.network = network
    }

    var runtime: NodeRuntime {
        get throws {
            try #require(current.withLock { $0?.runtime })
        }
    }

    /// Opens (or reopens) the runtime on this node's store.
    func open() async throws {
        let transport = MemoryTransport(
            address: options.raftAddress, network: network, fingerprint: fingerprint, clock: clock)
        var logger = Logger(label: "test.node\(index)")
        // WRAFT_TEST_LOG=info (or debug, trace) shows the nodes' logs.
        logger.logLevel = ProcessInfo.processInfo.environment["WRAFT_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let store: any NodeStorage = try makeStorage?() ?? storage
        let identity = try await NodeRuntime.loadOrCreateIdentity(storage: store, logger: logger)
        let runtime = try await NodeRuntime.open(
            identity: identity, options: options, storage: store, transport: transport,
            selfAddress: MemberAddress(
                raftAddress: options.raftAddress, httpAddress: options.httpAddress, fingerprint: fingerprint),
            clock: clock, logger: logger, onFatalError: { reason in Issue.record("fatal storage error: \(reason)") })
        current.withLock { $0 = (runtime, transport) }
    }

    /// Stops the runtime and drops its transport (a crash: nothing else is flushed).
    func stop() async {
        guard let (runtime, transport) = current.withLock({ $0 }) else { return }
        await runtime.stop()
        await transport.shutdown()
        current.withLock { $0 = nil }
    }
}

/// A cluster of runtimes on one in-memory network.
struct TestCluster {
    let nodes: [TestNode]
    /// The manual clock every node runs on, when the cluster was made with one.
    let clock: ManualClock?

    /// `directories`: one data dir per node for RaftStorage's durable store (nil: in memory).
    /// `storages`: the store of each node by position, used on every opening (a store the test
    /// controls); nil: `directories`, or in memory.
    /// `keys`: every node proves a key of its own on its calls, as under mutual TLS.
    /// `clock`: the nodes' time (nil: the real clock).
    init(
        size: Int, faults: Bool = true, directories: [String]? = nil,
        storages: [any NodeStorage]? = nil, keys: Bool = false, clock: ManualClock? = nil,
        configure: (inout NodeOptions) -> Void = { _ in }
    ) {
        self.clock = clock
        let network = MemoryNetwork()
        nodes = (0..<size).map { index in
            var options = NodeOptions(
                host: "mem", httpPort: 8_081 + index, raftPort: 10_002 + index, dataDirectory: "/nonexistent/\(index)",
                isFaultInjectionEnabled: faults, tickMs: 5, heartbeatMs: 25, electionTimeoutMs: 100,
                electionTimeoutJitterMs: 50, requestTimeoutMs: 3_000, controlTimeoutMs: 5_000)
            configure(&options)
            let makeStorage: (@Sendable () throws -> any NodeStorage)? =
                storages.map { storages in { storages[index] } } ?? directories.map { durableStorage(at: $0[index]) }
            return TestNode(
                index: index, network: network, options: options, makeStorage: makeStorage,
                fingerprint: keys ? testFingerprint(index) : nil, clock: clock ?? SystemClock())
        }
    }

    func openAll() async throws {
        for node in nodes { try await node.open() }
    }

    func stopAll() async {
        for node in nodes { await node.stop() }
    }

    /// Runs `body`, then stops every node, whether it threw or not. Structured, unlike a
    /// `defer { Task { await stopAll() } }`: the caller's own cleanup (removing the data dirs)
    /// runs only after the nodes stopped, so no node writes into a removed directory.
    @discardableResult
    func stoppingAll<T>(after body: () async throws -> T) async throws -> T {
        try await withCleanup(body, finally: stopAll)
    }

    /// Connects every node to node 0 and starts the cluster from the last node.
    func formAndStart() async throws {
        for node in nodes.dropFirst() {
            _ = try await node.runtime.connect(peerRaftAddress: nodes[0].options.raftAddress)
        }
        try await nodes[nodes.count - 1].runtime.start()
    }

    /// Waits (bounded) until the running nodes agree on one leader; returns its position. The
    /// bounds here (30 s) only limit how long a failing test takes: in a parallel run on a loaded
    /// two-core machine, tasks were seen waiting over 10 s of real time to be scheduled at all.
    func waitForLeader(among candidates: [Int]? = nil, timeout: Duration = .seconds(30)) async throws -> Int {
        let positions = candidates ?? Array(nodes.indices)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var leaders: [Int] = []
            var views: [String: Int] = [:]
            for position in positions {
                let state = try await nodes[position].runtime.state()
                if state.role == "leader" { leaders.append(position) }
                if let leader = state.leader?.id { views[leader, default: 0] += 1 }
            }
            if leaders.count == 1, let leader = leaders.first {
                let id = try await nodes[leader].runtime.state().id
                if views[id] == positions.count { return leader }
            }
            if let clock {
                // Time passes only here: one tick per poll, and a moment of real time for the
                // messages of that tick to arrive.
                await clock.advance(by: .milliseconds(nodes[0].options.tickMs))
                try await Task.sleep(for: .milliseconds(2))
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        throw HarnessError.timedOut("no single leader among \(positions) within \(timeout)")
    }

    /// Lets `duration` pass on the cluster's manual clock while `leader` leads, one heartbeat
    /// interval at a time. After each interval it waits (bounded, real time) until every other
    /// running node heard from the leader during it, so that slow message delivery on a loaded
    /// machine never looks like a silent leader: what happens in that time is decided by the
    /// clock alone.
    func advanceWhileLeading(_ duration: Duration, leader: Int) async throws {
        let clock = try #require(clock, "advanceWhileLeading needs a cluster on a manual clock")
        let heartbeat = Duration.milliseconds(nodes[0].options.heartbeatMs)
        let leaderID = try #require(NodeID(hex: try await nodes[leader].runtime.state().id))
        let followers = try nodes.indices.filter { $0 != leader }.map { try nodes[$0].runtime }
        var passed = Duration.zero
        while passed < duration {
            let intervalStart = clock.now
            await clock.advance(by: heartbeat)
            passed += heartbeat
            try await Self.waitUntil("every follower heard leader \(leaderID) within one heartbeat interval") {
                for follower in followers {
                    guard let contact = await follower.lastContact[leaderID], contact > intervalStart else { return false }
                }
                return true
            }
        }
    }

    /// Waits (bounded) until `condition` holds.
    static func waitUntil(
        _ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.timedOut(what)
    }
}

extension NodeOptions {
    /// `count` times the longest election timeout a node may draw (timeout plus jitter).
    func longestElectionTimeouts(_ count: Int) -> Duration {
        .milliseconds(count * (electionTimeoutMs + electionTimeoutJitterMs))
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case timedOut(String)
    var description: String {
        switch self {
        case .timedOut(let what): return "timed out waiting for: \(what)"
        }
    }
}

func deadline(_ duration: Duration = .seconds(3)) -> ContinuousClock.Instant {
    .now + duration
}

/// The `NodeError` that `body` throws; nil when it throws nothing (another error is recorded).
func caughtNodeError(_ body: () async throws -> Void) async -> NodeError? {
    do {
        try await body()
        return nil
    } catch let error as NodeError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// One thread for every durable store of the tests (as a node has one for its own).
let testStorageThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)

/// Opens RaftStorage's durable store on `directory` (a new instance each call, as after a restart).
func durableStorage(at directory: String) -> @Sendable () throws -> any NodeStorage {
    {
        DurableStorageAdapter(
            storage: try DurableStorage(
                directory: directory, eventLoop: testStorageThread.next(), logger: Logger(label: "test.storage")))
    }
}

/// A made-up key fingerprint for test node `index` (64 hex digits).
func testFingerprint(_ index: Int) -> PublicKeyFingerprint {
    PublicKeyFingerprint(subjectPublicKeyInfoDER: Array("test key \(index)".utf8))
}
