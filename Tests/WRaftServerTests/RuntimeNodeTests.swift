import Foundation
import Logging
import Testing
import WRaftClient

#if canImport(Glibc)
import Glibc
import WRaftTestSupport
#endif

@testable import WRaftServer

/// `runNode` end to end in this process: three nodes with real storage, TCP and HTTP on
/// 127.0.0.1, driven through the HTTP API with WRaftClient.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeNodeTests {
    /// Ports that were free a moment ago (bound to port 0 and released).
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            try #require(descriptor >= 0)
            sockets.append(descriptor)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let isBound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
                }
            }
            try #require(isBound)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    @Test func threeNodesServeTheAPIOverHTTP() async throws {
        let ports = try Self.freePorts(6)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("wraft-node-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let logger = Logger(label: "test.node")
        let options = (0..<3).map { index in
            NodeOptions(
                host: "127.0.0.1", httpPort: ports[index], raftPort: ports[3 + index],
                dataDirectory: "\(root)/node\(index)", isFaultInjectionEnabled: true, logLevel: .warning)
        }
        let nodes = options.map { options in
            Task { [logger] in
                do {
                    try await runNode(options: options, logger: logger, metricsText: { "" })
                } catch {
                    Issue.record("runNode failed: \(error)")
                }
            }
        }
        defer { for node in nodes { node.cancel() } }
        let clients = try options.map { try NodeClient($0.httpAddress, requestTimeoutMs: 5_000) }
        try await withCleanup {

            try await TestCluster.waitUntil("every node answers /state") {
                for client in clients where (try? await client.state()) == nil { return false }
                return true
            }
            _ = try await clients[1].connect(peer: options[0].raftAddress)
            _ = try await clients[2].connect(peer: options[1].raftAddress)
            try await clients[0].start()
            try await TestCluster.waitUntil("a leader") {
                let state = try await clients[2].state()
                return state.leader != nil
            }
            let written = try await clients[2].put("greeting", "hello")
            #expect(written.index > 1)
            let read = try await clients[0].get("greeting")
            #expect(read?.value == Array("hello".utf8))
            #expect(read?.index == written.index)
            let state = try await clients[1].state()
            #expect(state.members.count == 3)
            #expect(state.status == "running")
        } finally: {
            for client in clients { await client.shutDown() }
        }
    }
}
