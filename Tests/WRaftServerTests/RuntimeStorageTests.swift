import Foundation
import Logging
import NIOPosix
import RaftCore
import RaftStorage
import Testing

@testable import WRaftServer

/// Runtimes on RaftStorage's durable store in temporary data dirs: what was acknowledged survives
/// a restart of every node, and a data dir that does not fit is refused.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeStorageTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wraft-runtime-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func everythingAcknowledgedSurvivesARestartOfEveryNode() async throws {
        let directories = try (0..<3).map { _ in try Self.temporaryDirectory() }
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        let cluster = TestCluster(size: 3, directories: directories) {
            $0.snapshotEntries = 40
            $0.snapshotRetainedEntries = 10
        }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtime = try cluster.nodes[(leader + 1) % 3].runtime
            var acknowledged: [String: UInt8] = [:]
            for number in 0..<100 {
                let key = "k\(number % 70)"
                _ = try await runtime.write(WriteRequest(key: key, operation: .put(value: [UInt8(number)])), deadline: deadline())
                acknowledged[key] = UInt8(number)
            }
            _ = try await runtime.write(WriteRequest(key: "k0", operation: .delete), deadline: deadline())
            acknowledged["k0"] = nil
            let clusterID = await runtime.state().clusterID

            await cluster.stopAll()
            try await cluster.openAll()
            for node in cluster.nodes {
                let state = try await node.runtime.state()
                #expect(state.status == "running")
                #expect(state.clusterID == clusterID)
            }
            let newLeader = try await cluster.waitForLeader()
            let reopened = try cluster.nodes[newLeader].runtime
            let listed = try await reopened.list(prefix: "k", limit: 1_000, consistency: .linearizable, deadline: deadline())
            #expect(listed.items.count == acknowledged.count)
            for item in listed.items { #expect(acknowledged[item.key] == item.value.first) }
            #expect(await reopened.state().snapshotIndex > 0)
            // And it keeps serving writes.
            _ = try await reopened.write(WriteRequest(key: "after", operation: .put(value: [1])), deadline: deadline())
        }
    }

    /// Concurrent writers keep several Readys in flight on every node (the pipeline) while
    /// snapshots are taken every 25 entries and compact the log to nothing behind them: every
    /// acknowledged write must survive a restart of every node.
    @Test func pipelinedWritesAndFrequentSnapshotsSurviveARestartOfEveryNode() async throws {
        let directories = try (0..<3).map { _ in try Self.temporaryDirectory() }
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        let cluster = TestCluster(size: 3, directories: directories) {
            $0.snapshotEntries = 25
            $0.snapshotRetainedEntries = 0
        }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leader = try await cluster.waitForLeader()
            let runtimes = try cluster.nodes.map { try $0.runtime }
            let writersCount = 20
            let writesPerWriter = 12
            let acknowledged = try await withThrowingTaskGroup(of: [String].self) { group in
                for writer in 0..<writersCount {
                    // Through the leader and both followers (forwarded), all at once.
                    let runtime = runtimes[(leader + writer) % 3]
                    group.addTask {
                        var keys: [String] = []
                        for number in 0..<writesPerWriter {
                            let key = "w\(writer)-\(number)"
                            _ = try await runtime.write(
                                WriteRequest(key: key, operation: .put(value: [UInt8(number)])), deadline: deadline(.seconds(10)))
                            keys.append(key)
                        }
                        return keys
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(acknowledged.count == writersCount * writesPerWriter)

            await cluster.stopAll()
            try await cluster.openAll()
            let newLeader = try await cluster.waitForLeader()
            let reopened = try cluster.nodes[newLeader].runtime
            let listed = try await reopened.list(prefix: "w", limit: 1_000, consistency: .linearizable, deadline: deadline())
            #expect(Set(listed.items.map(\.key)) == Set(acknowledged))
            #expect(await reopened.state().snapshotIndex > 0)
        }
    }

    @Test func anInitialNodeKeepsItsIdentityAcrossRestarts() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = TestCluster(size: 1, directories: [directory])
        try await cluster.openAll()
        let id = try await cluster.nodes[0].runtime.state().id
        await cluster.stopAll()
        try await cluster.openAll()
        try await cluster.stoppingAll {
            let state = try await cluster.nodes[0].runtime.state()
            #expect(state.id == id)
            #expect(state.status == "initial")
        }
    }

    @Test func aLogWithoutAClusterIsRefused() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try durableStorage(at: directory)()
        _ = try await storage.recover()
        try await storage.saveIdentity(NodeIdentity(nodeID: NodeID(7), clusterID: nil))
        let bootstrap = RaftNode.bootstrapState(membership: Membership(voters: [NodeID(7)]), context: [])
        try await storage.persist(hardState: bootstrap.hardState, entries: bootstrap.entries, snapshot: nil)
        let cluster = TestCluster(size: 1, directories: [directory])
        do {
            try await cluster.openAll()
            Issue.record("a data dir with a log but no cluster id must be refused")
            await cluster.stopAll()
        } catch let error as NodeStartupError {
            #expect(error.description.contains("no cluster id"))
        }
    }
}
