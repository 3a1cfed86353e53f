import Foundation
import Logging
import NIOPosix
import RaftCore
import RaftStorage
import RaftTransport
import Testing
import WRaftTestSupport

@testable import WRaftServer

/// Runtimes over the real TCP transport on 127.0.0.1 (free ports), with in-memory storage.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeTransportTests {
    /// One runtime on a real `PeerTransport`.
    struct TCPNode {
        let runtime: NodeRuntime
        let transport: PeerTransportAdapter
        let raftAddress: String
    }

    static func makeNode(
        storage: MemoryStorage = MemoryStorage(), configure: (inout NodeOptions) -> Void = { _ in }
    ) async throws -> TCPNode {
        var logger = Logger(label: "test.tcp")
        logger.logLevel = ProcessInfo.processInfo.environment["WRAFT_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let identity = try await NodeRuntime.loadOrCreateIdentity(storage: storage, logger: logger)
        let peers = try PeerTransport(
            localID: identity.nodeID, options: TransportOptions(), group: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        let port = try await peers.start(host: "127.0.0.1", port: 0)
        var options = NodeOptions(
            host: "127.0.0.1", httpPort: 1, raftPort: port, dataDirectory: "/nonexistent", isFaultInjectionEnabled: true,
            tickMs: 5, heartbeatMs: 25, electionTimeoutMs: 100, electionTimeoutJitterMs: 50, requestTimeoutMs: 3_000,
            controlTimeoutMs: 5_000)
        configure(&options)
        let transport = PeerTransportAdapter(transport: peers, logger: logger)
        let runtime = try await NodeRuntime.open(
            identity: identity, options: options, storage: storage, transport: transport,
            selfAddress: MemberAddress(raftAddress: "127.0.0.1:\(port)", httpAddress: "127.0.0.1:1"), logger: logger,
            onFatalError: { reason in Issue.record("fatal: \(reason)") })
        return TCPNode(runtime: runtime, transport: transport, raftAddress: "127.0.0.1:\(port)")
    }

    static func stop(_ nodes: [TCPNode]) async {
        for node in nodes {
            await node.runtime.stop()
            await node.transport.shutdown()
        }
    }

    static func waitForLeader(_ nodes: [TCPNode]) async throws -> Int {
        var found: Int?
        try await TestCluster.waitUntil("a leader over TCP") {
            for (position, node) in nodes.enumerated() where await node.runtime.state().role == "leader" {
                found = position
                return true
            }
            return false
        }
        return try #require(found)
    }

    @Test func aClusterFormsWritesAndCatchesUpANewMemberOverTCP() async throws {
        var nodes: [TCPNode] = []
        for _ in 0..<3 { nodes.append(try await Self.makeNode { $0.snapshotEntries = 30; $0.snapshotRetainedEntries = 5 }) }
        try await withCleanup {
            _ = try await nodes[1].runtime.connect(peerRaftAddress: nodes[0].raftAddress)
            _ = try await nodes[2].runtime.connect(peerRaftAddress: nodes[1].raftAddress)
            try await nodes[2].runtime.start()
            let leader = try await Self.waitForLeader(nodes)
            let follower = nodes[(leader + 1) % 3].runtime
            for number in 0..<100 {
                _ = try await follower.write(
                    WriteRequest(key: "k\(number)", operation: .put(value: Array(repeating: UInt8(number), count: 100))),
                    deadline: deadline())
            }
            let read = try await nodes[leader].runtime.read(key: "k99", consistency: .linearizable, deadline: deadline())
            #expect(read?.value.first == 99)

            // A fourth node joins over TCP and receives the snapshot through the transport.
            let joiner = try await Self.makeNode()
            nodes.append(joiner)
            let outcome = try await joiner.runtime.connect(peerRaftAddress: nodes[leader].raftAddress)
            guard case .joined = outcome else {
                Issue.record("expected a join, got \(outcome)")
                return
            }
            try await TestCluster.waitUntil("the joiner caught up") {
                try await joiner.runtime.read(key: "k99", consistency: .local, deadline: deadline()) != nil
            }
            #expect(await joiner.runtime.state().snapshotIndex > 0)
            let members = await nodes[leader].runtime.state().members
            #expect(members.count == 4)
        } finally: {
            await Self.stop(nodes)
        }
    }

    @Test func connectingToAnAddressNobodyListensOnFails() async throws {
        let node = try await Self.makeNode()
        try await withCleanup {
            let error = await caughtNodeError {
                _ = try await node.runtime.connect(peerRaftAddress: "127.0.0.1:1")
            }
            guard case .peerUnreachable = error else {
                Issue.record("expected peerUnreachable, got \(String(describing: error))")
                return
            }
            let bad = await caughtNodeError { _ = try await node.runtime.connect(peerRaftAddress: "not an address") }
            guard case .badRequest = bad else {
                Issue.record("expected badRequest, got \(String(describing: bad))")
                return
            }
        } finally: {
            await Self.stop([node])
        }
    }
}
