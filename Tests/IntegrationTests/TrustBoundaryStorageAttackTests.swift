import Foundation
import Testing
import WRaftClient

#if canImport(Glibc)
    import Glibc
#endif

extension RealProcessTests {
    /// Issue 8, findings 5 and 6, against real node processes.
    @Suite struct TrustBoundaryStorageAttackTests {
        /// Finding 6 as the issue tells it: a client's value made of a segment's first 42 bytes
        /// and zeros, the nodes killed, `truncate -s -400000` on their segments. Before, every
        /// node refused to start ("record of ... bytes runs past the end of the file (valid
        /// records follow it)"); now each cuts the torn tail, and the cluster elects and takes
        /// writes. Every node is torn alike: the truncation removes a record that was durable and
        /// acknowledged, which a real torn write never does (a follower alone missing acknowledged
        /// entries is outside Raft's fault model and would wait for ever).
        /// Finding 5: the data dirs are 0700 and every file in them 0600.
        @Test func aClientValueTornByACrashDoesNotBrickTheNodes() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "forged-value") { cluster in
                let clients = await cluster.clients
                let leader = try await cluster.waitForLeader()
                let before = try await clients[leader].put("before", "ok")
                #expect(await cluster.waitForApplied(before.index))
                let directories = await cluster.nodes.map(\.dataDirectory)
                let first = try #require(try WALFiles.segments(in: directories[0]).first)
                let head = try [UInt8](Data(contentsOf: URL(fileURLWithPath: first)).prefix(42))
                let value = head + [UInt8](repeating: 0, count: 1_000_000 - head.count)
                let written = try await clients[leader].put("forged", value)
                #expect(await cluster.waitForApplied(written.index))
                for node in 0..<3 { try await cluster.kill(node, signal: SIGKILL) }

                for directory in directories {
                    #expect(try mode(of: directory) == 0o700, "the data dir is the owner's alone")
                    for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                        #expect(try mode(of: directory + "/" + name) == 0o600, "\(name) is the owner's alone")
                    }
                    let segment = try #require(try WALFiles.segments(in: directory).last)
                    let size = try #require(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int)
                    #expect(truncate(segment, off_t(size - 400_000)) == 0)
                }

                for node in 0..<3 { try await cluster.restart(node) }
                let newLeader = try await cluster.waitForLeader()
                for node in 0..<3 {
                    let state = try await clients[node].state()
                    #expect(state.status == "running", "node \(node) started")
                }
                #expect(try await clients[newLeader].get("before")?.text == "ok")
                let after = try await clients[newLeader].put("after", "ok")
                #expect(await cluster.waitForApplied(after.index))
                let logs = await cluster.logTail(0, bytesMax: 20_000)
                #expect(logs.contains("torn tail"), "the cut is logged")
            }
        }

        private func mode(of path: String) throws -> UInt32 {
            var status = stat()
            try #require(stat(path, &status) == 0, "stat \(path)")
            return UInt32(status.st_mode) & 0o7777
        }
    }
}
