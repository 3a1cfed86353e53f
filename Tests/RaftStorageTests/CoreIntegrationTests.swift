import RaftCore
import RaftStorage
import RaftStorageTesting
import Testing

/// The storage driven by the real core, as the runtime drives it: every `Ready` persisted
/// before `advance`, snapshots saved then compacted, and the recovered state accepted by
/// `RaftNode.init`.
@Suite struct CoreIntegrationTests {
    @Test func singleNodeLogSurvivesRestartsThroughTheCore() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 4096)
        var (storage, _) = try openRecovered(disk, options: options)
        let bootstrap = RaftNode.bootstrapState(membership: Membership(voters: [1]), context: [])
        try storage.persist(hardState: bootstrap.hardState, entries: bootstrap.entries, snapshot: nil)

        var node = try RaftNode(config: Config(id: 1), state: bootstrap)
        node.campaign()
        try drain(&node, into: storage)
        for batch in 0..<30 {
            try node.propose(commands: (0..<5).map { Array("command \(batch).\($0)".utf8) })
            try drain(&node, into: storage)
            if batch % 10 == 9 {
                let applied = node.status.appliedIndex
                let metadata = try #require(node.snapshotMetadata(at: applied))
                try storage.saveSnapshot(metadata, data: Array("state at \(applied)".utf8))
                node.compact(to: metadata, retainingEntries: 3)
            }
        }
        let before = node.status
        #expect(before.commitIndex >= 150)

        let recovered: PersistentState
        (storage, recovered) = try openRecovered(disk, options: options)
        var restarted = try RaftNode(config: Config(id: 1), state: recovered)
        #expect(restarted.status.lastLogIndex == before.lastLogIndex)
        #expect(restarted.status.term == before.term)
        #expect(recovered.hardState.commit == before.commitIndex)
        #expect(recovered.snapshot.index > .zero)
        #expect(try storage.latestSnapshot()?.1 == Array("state at \(recovered.snapshot.index)".utf8))

        // The restarted node carries on writing where it stopped.
        restarted.campaign()
        try drain(&restarted, into: storage)
        try restarted.propose(Array("after restart".utf8))
        try drain(&restarted, into: storage)
        let again = try openRecovered(disk, options: options).1
        #expect(again.entries.last?.data == Array("after restart".utf8))
        _ = try RaftNode(config: Config(id: 1), state: again)
    }

    /// Persists and advances every `Ready` until the core has nothing left to do.
    private func drain(_ node: inout RaftNode, into storage: StorageEngine) throws {
        var rounds = 0
        while node.hasReady {
            rounds += 1
            try #require(rounds < 100, "the core settles")
            let ready = node.ready()
            try storage.persist(hardState: ready.hardState, entries: ready.entries, snapshot: ready.snapshot)
            node.advance(ready)
        }
    }
}
