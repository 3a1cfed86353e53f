import RaftCore
import RaftSimulation
import Testing

/// `RaftNode.logInMemory`: what the log holds, kept beside every append, overwrite and
/// compaction (the `wraft_log_*_in_memory` gauges read it).
@Suite struct LogMemoryTests {
    /// The bytes of every entry the node still holds, summed the slow way.
    static func summed(_ node: RaftNode) -> (entries: Int, bytes: Int) {
        let held = node.entries(from: LogIndex(1), limit: 100_000)
        return (held.count, held.reduce(0) { $0 + $1.byteCount })
    }

    @Test func appendsAndAnOverwrittenSuffixAreCounted() throws {
        // Node 3 holds an uncommitted suffix of term 2 that the leader of term 4 replaces.
        var cluster = try LockStep(states: [
            NodeID(1): persistentState(voters: [1, 2, 3], terms: [1, 3]),
            NodeID(2): persistentState(voters: [1, 2, 3], terms: [1, 3]),
            NodeID(3): persistentState(voters: [1, 2, 3], terms: [1, 2, 2, 2]),
        ]) { $0.isPreVoteEnabled = false }
        let before = try #require(cluster.nodes[NodeID(3)])
        #expect(before.logInMemory.entries == 5)
        #expect(before.logInMemory.bytes == Self.summed(before).bytes)

        cluster.elect(NodeID(1))
        #expect(cluster.status(NodeID(1))?.role == .leader)
        for number in 0..<20 { try cluster.propose(NodeID(1), String(repeating: "v", count: 100 + number)) }
        _ = cluster.stabilize()
        for id in [1, 2, 3].map({ NodeID($0) }) {
            let node = try #require(cluster.nodes[id])
            let summed = Self.summed(node)
            #expect(node.logInMemory.entries == summed.entries, "node \(id)")
            #expect(node.logInMemory.bytes == summed.bytes, "node \(id)")
            #expect(node.logInMemory.bytes > 20 * 100, "node \(id) holds the 20 proposals")
        }
        // The overwritten suffix is gone from node 3's count: it holds what the leader holds.
        #expect(cluster.nodes[NodeID(3)]?.logInMemory.bytes == cluster.nodes[NodeID(1)]?.logInMemory.bytes)
    }
}
