import RaftCore
import Testing

/// The Ready pipeline: Readys taken before earlier ones are advanced, commits that do not wait
/// for the local write, the snapshot barrier, and which Readys may share one write.
@Suite struct PipelineTests {
    @Test func aLeaderHandsOutNewEntriesAndCommitsWhileItsOwnWritesAreInFlight() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        var leader = try #require(cluster.nodes[id(1)])
        try leader.propose(Array("a".utf8))
        let first = leader.ready()
        try leader.propose(Array("b".utf8))
        #expect(leader.hasReady, "a second Ready while the first is outstanding")
        let second = leader.ready()
        #expect(leader.outstandingReadyCount == 2)
        let firstIndex = try #require(first.entries.last?.index)
        #expect(second.entries.map(\.index) == [firstIndex.next], "each entry is handed out once")

        // Both followers acknowledge both entries; the leader's own writes are still in flight.
        cluster.queue = first.messages + second.messages
        cluster.deliver { $0.to != id(1) }
        cluster.process(id(2))
        cluster.process(id(3))
        for response in cluster.queue where response.to == id(1) { leader.step(response) }
        #expect(leader.status.commitIndex == firstIndex.next, "a quorum of followers commits without the leader's write")
        let third = leader.ready()
        #expect(third.committedEntries.map(\.data) == [Array("a".utf8), Array("b".utf8)])
        #expect(third.entries.isEmpty)

        leader.advance(first)
        leader.advance(second)
        leader.advance(third)
        #expect(leader.outstandingReadyCount == 0)
        #expect(leader.status.progress[id(1)]?.matchIndex == firstIndex.next, "the leader counts itself once durable")
    }

    @Test func aReadyThatOverwritesHandedOutEntriesIsMarkedAndWrittenApart() throws {
        // Node 3 holds the founding entry (index 1, term 1).
        var follower = try RaftNode(config: Config(id: id(3)), state: persistentState(voters: [1, 2, 3], terms: []))
        let fromOldLeader = AppendRequest(
            previousIndex: LogIndex(1), previousTerm: Term(1),
            entries: [entry(2, term: 2), entry(3, term: 2)], commit: LogIndex(1))
        follower.step(Message(from: id(1), to: id(3), term: Term(2), payload: .append(fromOldLeader)))
        let first = follower.ready()
        #expect(first.entries.map(\.index) == [LogIndex(2), LogIndex(3)])
        #expect(first.messages.compactMap(\.payload.appendResponse).map(\.index) == [LogIndex(3)])
        #expect(!first.overwritesHandedOutEntries)

        // A newer leader replaces index 3 before the first write is durable.
        let fromNewLeader = AppendRequest(
            previousIndex: LogIndex(2), previousTerm: Term(2), entries: [entry(3, term: 3)], commit: LogIndex(1))
        follower.step(Message(from: id(2), to: id(3), term: Term(3), payload: .append(fromNewLeader)))
        let second = follower.ready()
        #expect(second.overwritesHandedOutEntries)
        #expect(second.entries.map(\.index) == [LogIndex(3)])

        // The first Ready's acknowledgement of the old index 3 must go out before the overwrite
        // is durable: the two never share a write.
        var batch = PersistBatch(first)
        let isMerged = batch.merge(second)
        #expect(!isMerged)
        #expect(batch.readys.count == 1)
        follower.advance(first)
        follower.advance(second)
        #expect(follower.status.lastLogIndex == LogIndex(3))
    }

    @Test func consecutiveReadysShareOneWriteWithTheNewestHardState() throws {
        var cluster = try LockStep(voters: [1])
        cluster.elect(id(1))
        var node = try #require(cluster.nodes[id(1)])
        try node.propose(Array("x".utf8))
        let first = node.ready()
        try node.propose(Array("y".utf8))
        let second = node.ready()
        var batch = PersistBatch(first)
        let isMerged = batch.merge(second)
        #expect(isMerged)
        #expect(batch.entries.map(\.index) == first.entries.map(\.index) + second.entries.map(\.index))
        #expect(batch.hardState == (second.hardState ?? first.hardState))
        #expect(batch.snapshot == nil)
    }

    @Test func aReadyCarryingASnapshotIsABarrierAndIsWrittenAlone() throws {
        var follower = try RaftNode(config: Config(id: id(3)), state: persistentState(voters: [1, 2, 3], terms: []))
        let snapshot = SnapshotMetadata(
            index: LogIndex(50), term: Term(2), membership: Membership(voters: ids(1, 2, 3)), membershipContext: [])
        follower.step(Message(from: id(1), to: id(3), term: Term(2), payload: .installSnapshot(snapshot)))
        let withSnapshot = follower.ready()
        #expect(withSnapshot.snapshot == snapshot)
        // More entries arrive while the snapshot is being written: nothing is handed out.
        let next = AppendRequest(
            previousIndex: LogIndex(50), previousTerm: Term(2), entries: [entry(51, term: 2)], commit: LogIndex(51))
        follower.step(Message(from: id(1), to: id(3), term: Term(2), payload: .append(next)))
        #expect(!follower.hasReady, "nothing is handed out past an outstanding snapshot")
        var batch = PersistBatch(withSnapshot)
        follower.advance(withSnapshot)
        #expect(follower.hasReady)
        let after = follower.ready()
        let isMerged = batch.merge(after)
        #expect(!isMerged, "a snapshot is written alone")
        #expect(after.entries.map(\.index) == [LogIndex(51)])
        #expect(after.committedEntries.map(\.index) == [LogIndex(51)])
        follower.advance(after)
    }

    private func entry(_ index: UInt64, term: UInt64) -> Entry {
        Entry(term: Term(term), index: LogIndex(index), data: Array("e\(index)".utf8))
    }
}
