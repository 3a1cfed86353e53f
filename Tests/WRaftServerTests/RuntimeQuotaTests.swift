import KVStore
import RaftCore
import Testing

@testable import WRaftServer

/// Issue 8: the store quota (`--quota-bytes`). Past it writes are refused with
/// `quotaExceeded` (HTTP 507), deletes still work, the node stays up, and freed room can be
/// written again. Issue 12: the quota counts the retained history too, so the room a delete
/// frees comes back once the history is compacted.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimeQuotaTests {
    static let quota = NodeOptions.quotaBytesRange.lowerBound  // 2 MiB, the smallest allowed
    /// Two of these (the value and its history) fit in the quota; four do not.
    static let megabyte = [UInt8](repeating: 0x5A, count: 900_000)

    @Test func writesPastTheQuotaAreRefusedAndDeletesFreeRoom() async throws {
        let cluster = TestCluster(size: 3) { $0.quotaBytes = Self.quota }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            try await cluster.formAndStart()
            let leaderPosition = try await cluster.waitForLeader()
            let leader = try cluster.nodes[leaderPosition].runtime
            let follower = try cluster.nodes[(leaderPosition + 1) % 3].runtime

            _ = try await leader.write(WriteRequest(key: "first", operation: .put(value: Self.megabyte)), deadline: deadline())
            // A second megabyte does not fit in 2 MiB with the keys and their overhead: refused on
            // the leader, and on a follower (which decides before forwarding) once it applied the first.
            let onLeader = await caughtNodeError {
                _ = try await leader.write(WriteRequest(key: "second", operation: .put(value: Self.megabyte)), deadline: deadline())
            }
            guard case .quotaExceeded(let bytes, let limit) = onLeader else {
                Issue.record("expected quotaExceeded on the leader, got \(String(describing: onLeader))")
                return
            }
            #expect(limit == Self.quota && bytes > Self.quota)
            try await TestCluster.waitUntil("the follower applied the first write") {
                try await follower.read(key: "first", consistency: .local, deadline: deadline()) != nil
            }
            let onFollower = await caughtNodeError {
                _ = try await follower.write(WriteRequest(key: "second", operation: .put(value: Self.megabyte)), deadline: deadline())
            }
            guard case .quotaExceeded = onFollower else {
                Issue.record("expected quotaExceeded on a follower, got \(String(describing: onFollower))")
                return
            }
            // Small writes that still fit go through.
            _ = try await follower.write(WriteRequest(key: "small", operation: .put(value: [1, 2, 3])), deadline: deadline())

            // Deletes always go through; the history still holds the deleted value, so the
            // second value fits only after a compaction.
            let deleted = try await follower.write(WriteRequest(key: "first", operation: .delete), deadline: deadline())
            #expect(deleted.deleted == true)
            let beforeCompaction = await caughtNodeError {
                _ = try await leader.write(WriteRequest(key: "second", operation: .put(value: Self.megabyte)), deadline: deadline())
            }
            guard case .quotaExceeded = beforeCompaction else {
                Issue.record("expected quotaExceeded before the compaction, got \(String(describing: beforeCompaction))")
                return
            }
            let revision = await leader.currentRevision()
            #expect(try await leader.execute(.compact(revision: revision), deadline: deadline()) == .compacted(revision: revision))
            try await TestCluster.waitUntil("the follower applied the delete and the compaction") {
                let compacted = await follower.store.compactRevision
                return try await follower.read(key: "first", consistency: .local, deadline: deadline()) == nil
                    && compacted == revision
            }
            let second = try await follower.write(
                WriteRequest(key: "second", operation: .put(value: Self.megabyte)), deadline: deadline())
            #expect(second.index > deleted.index)
            for node in cluster.nodes {
                #expect(try await node.runtime.state().status == "running")
            }
            let read = try await leader.read(key: "second", consistency: .linearizable, deadline: deadline())
            #expect(read?.value == Self.megabyte)
        }
    }
}
