import NIOCore
import RaftCore
import RaftStorage
import RaftStorageTesting
import Testing

@Suite struct PersistRecoverTests {
    @Test func freshDirectoryRecoversEmpty() throws {
        let disk = SimulatedDisk()
        let (engine, state) = try openRecovered(disk)
        #expect(state.isSame(as: PersistentState()))
        #expect(try engine.latestSnapshot() == nil)
        #expect(try segmentNames(disk).isEmpty)
    }

    @Test func persistedEntriesAndHardStateComeBack() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, votedFor: 7, commit: 0), entries: makeEntries(1...3, term: 1), snapshot: nil)
        try engine.persist(hardState: HardState(term: 2, votedFor: 7, commit: 3), entries: makeEntries(4...5, term: 2), snapshot: nil)
        try engine.persist(hardState: nil, entries: makeEntries(6...6, term: 2), snapshot: nil)

        let (_, state) = try openRecovered(disk)
        #expect(state.hardState == HardState(term: 2, votedFor: 7, commit: 3))
        #expect(state.snapshot == .empty)
        #expect(state.entries == makeEntries(1...3, term: 1) + makeEntries(4...6, term: 2))
    }

    /// Group commit: whatever one `Ready` holds costs one write and one fsync.
    @Test func onePersistIsOneWriteAndOneFsync() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 0), entries: makeEntries(1...1, term: 1), snapshot: nil)
        let appends = disk.appendCount
        let fsyncs = disk.fileSynchronizationCount
        let directorySyncs = disk.directorySynchronizationCount
        try engine.persist(
            hardState: HardState(term: 1, commit: 1), entries: makeEntries(2...500, term: 1, dataBytes: 100), snapshot: nil)
        #expect(disk.appendCount == appends + 1)
        #expect(disk.fileSynchronizationCount == fsyncs + 1)
        #expect(disk.directorySynchronizationCount == directorySyncs)

        try engine.persist(hardState: nil, entries: [], snapshot: nil)
        #expect(disk.appendCount == appends + 1, "an empty persist does no I/O")
        #expect(disk.fileSynchronizationCount == fsyncs + 1)
    }

    @Test func laterEntriesReplaceTheStoredSuffix() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 2), entries: makeEntries(1...10, term: 1), snapshot: nil)
        // A new leader of term 2 overwrote 6...10 with 6...8.
        try engine.persist(hardState: HardState(term: 2, commit: 5), entries: makeEntries(6...8, term: 2), snapshot: nil)
        let expected = makeEntries(1...5, term: 1) + makeEntries(6...8, term: 2)
        let (reopened, state) = try openRecovered(disk)
        #expect(state.entries == expected)
        #expect(state.hardState.commit == 5)

        // And the replacement keeps working after a restart: append, overwrite again.
        try reopened.persist(hardState: nil, entries: makeEntries(9...9, term: 2), snapshot: nil)
        try reopened.persist(hardState: HardState(term: 3, commit: 5), entries: makeEntries(7...7, term: 3), snapshot: nil)
        let (_, again) = try openRecovered(disk)
        #expect(again.entries == makeEntries(1...5, term: 1) + makeEntries(6...6, term: 2) + makeEntries(7...7, term: 3))
    }

    /// A batch bigger than the record bound is split into several records and comes back whole.
    @Test func oversizedBatchIsSplitIntoRecords() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(recordBytesMax: 4096)
        let (engine, _) = try openRecovered(disk, options: options)
        let entries = makeEntries(1...200, term: 1, dataBytes: 300)
        try engine.persist(hardState: HardState(term: 1, commit: 0), entries: entries, snapshot: nil)
        let segment = try #require(try segmentNames(disk).first)
        let bytes = try #require(disk.contents(ofFile: testDirectory + "/" + segment))
        // 200 entries of ~321 bytes cannot fit in one 4 KiB record.
        #expect(bytes.count > 200 * 321)
        let (_, state) = try openRecovered(disk, options: options)
        #expect(state.entries == entries)
    }

    @Test func segmentsRotateAtTheSizeBound() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 4096)
        let (engine, _) = try openRecovered(disk, options: options)
        var expected: [Entry] = []
        for batch in 0..<40 {
            let entries = makeEntries(UInt64(batch * 5 + 1)...UInt64(batch * 5 + 5), term: 1, dataBytes: 50)
            try engine.persist(hardState: HardState(term: 1, commit: LogIndex(UInt64(batch * 5))), entries: entries, snapshot: nil)
            expected += entries
        }
        let names = try segmentNames(disk)
        #expect(names.count >= 3)
        for name in names.dropLast() {
            let size = try #require(disk.contents(ofFile: testDirectory + "/" + name)?.count)
            #expect(size <= 4096, "\(name) is \(size) bytes")
        }
        let (_, state) = try openRecovered(disk, options: options)
        #expect(state.entries == expected)
        #expect(state.hardState == HardState(term: 1, commit: 195))
    }

    @Test func snapshotCompactsTheLogAndDeletesCoveredSegments() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 4096)
        let (engine, _) = try openRecovered(disk, options: options)
        for batch in 0..<40 {
            let entries = makeEntries(UInt64(batch * 5 + 1)...UInt64(batch * 5 + 5), term: 2, dataBytes: 50)
            try engine.persist(hardState: HardState(term: 2, commit: LogIndex(UInt64(batch * 5 + 5))), entries: entries, snapshot: nil)
        }
        let segmentsBefore = try segmentNames(disk)
        let metadata = SnapshotMetadata(index: 150, term: 2, membership: Membership(voters: [1, 2, 3]), membershipContext: [42])
        try engine.saveSnapshot(metadata, data: Array("state machine at 150".utf8))
        let segmentsAfter = try segmentNames(disk)
        #expect(segmentsAfter.count < segmentsBefore.count)
        #expect(segmentsAfter.first != segmentsBefore.first)

        let (reopened, state) = try openRecovered(disk, options: options)
        #expect(state.snapshot == metadata)
        #expect(state.entries == makeEntries(151...200, term: 2, dataBytes: 50))
        #expect(state.hardState == HardState(term: 2, commit: 200))
        let (loaded, data) = try #require(try reopened.latestSnapshot())
        #expect(loaded == metadata)
        #expect(data == Array("state machine at 150".utf8))

        // Appending continues after the compacted log.
        try reopened.persist(hardState: nil, entries: makeEntries(201...201, term: 2), snapshot: nil)
        let (_, again) = try openRecovered(disk, options: options)
        #expect(again.entries.first?.index == 151)
        #expect(again.entries.last?.index == 201)
    }

    @Test func onlyTheNewestTwoSnapshotsAreKept() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 40), entries: makeEntries(1...40, term: 1), snapshot: nil)
        for index in stride(from: 10, through: 40, by: 10) {
            try engine.saveSnapshot(SnapshotMetadata(index: LogIndex(UInt64(index)), term: 1, membership: .empty), data: [UInt8(index)])
        }
        let snapshots = try disk.contentsOfDirectory(atPath: testDirectory).filter { $0.hasPrefix("snapshot-") }.sorted()
        #expect(snapshots == ["snapshot-000000000000001e.snap", "snapshot-0000000000000028.snap"])
        let (_, data) = try #require(try engine.latestSnapshot())
        #expect(data == [40])
    }

    /// A snapshot from the leader that the stored log does not match: the log restarts after it.
    @Test func installedSnapshotResetsTheLog() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 3), entries: makeEntries(1...8, term: 1), snapshot: nil)
        let metadata = SnapshotMetadata(index: 20, term: 4, membership: Membership(voters: [1, 2]))
        try engine.saveSnapshot(metadata, data: [1, 2, 3])
        try engine.persist(hardState: HardState(term: 4, commit: 20), entries: makeEntries(21...22, term: 4), snapshot: metadata)

        let (reopened, state) = try openRecovered(disk)
        #expect(state.snapshot == metadata)
        #expect(state.entries == makeEntries(21...22, term: 4))
        #expect(state.hardState == HardState(term: 4, commit: 20))
        #expect(try reopened.latestSnapshot()?.1 == [1, 2, 3])
    }

    /// A snapshot at an index whose stored term differs discards the stored log even without a
    /// reset (Figure 5.13's rule), and one whose term matches keeps what follows.
    @Test func compactionFollowsTheMatchingTermRule() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 3, commit: 4), entries: makeEntries(1...4, term: 1) + makeEntries(5...9, term: 3), snapshot: nil)
        try engine.saveSnapshot(SnapshotMetadata(index: 6, term: 3, membership: .empty), data: [])
        let (_, kept) = try openRecovered(disk)
        #expect(kept.entries == makeEntries(7...9, term: 3))

        // A leader's snapshot our log does not match: only its file, until its Ready is persisted.
        let leaders = SnapshotMetadata(index: 8, term: 5, membership: .empty)
        try engine.saveSnapshot(leaders, data: [])
        let (_, unchanged) = try openRecovered(disk)
        #expect(unchanged.isSame(as: kept))
        try engine.persist(hardState: HardState(term: 5, commit: 8), entries: [], snapshot: leaders)
        let (_, reset) = try openRecovered(disk)
        #expect(reset.entries.isEmpty)
        #expect(reset.snapshot == leaders)
    }

    @Test func identityRoundTripsAndRefusesForeignClusters() throws {
        let disk = SimulatedDisk()
        let engine = try StorageEngine(directory: testDirectory, disk: disk, logger: quietLogger)
        #expect(try engine.loadIdentity() == nil)
        let fresh = NodeIdentity(nodeID: NodeID(0xDEAD_BEEF))
        try engine.saveIdentity(fresh)
        #expect(try engine.loadIdentity() == fresh)
        let joined = NodeIdentity(
            nodeID: NodeID(0xDEAD_BEEF), clusterID: 0x1234, raftAddress: "127.0.0.1:10002", httpAddress: "127.0.0.1:8081",
            peers: [
                NodeID(0xB): MemberAddress(raftAddress: "127.0.0.1:10004", httpAddress: "127.0.0.1:8083"),
                NodeID(0xA): MemberAddress(raftAddress: "127.0.0.1:10003", httpAddress: "127.0.0.1:8082"),
            ])
        try engine.saveIdentity(joined)
        // The file's format is fixed (data dirs in the field hold it): peer lines in id order.
        let text = String(decoding: try #require(disk.contents(ofFile: testDirectory + "/identity")), as: UTF8.self)
        #expect(
            text.hasPrefix(
                """
                wraft-identity 1
                node-id 00000000deadbeef
                cluster-id 0000000000001234
                raft-address 127.0.0.1:10002
                http-address 127.0.0.1:8081
                peer 000000000000000a 127.0.0.1:10003 127.0.0.1:8082
                peer 000000000000000b 127.0.0.1:10004 127.0.0.1:8083
                checksum\u{20}
                """))
        let reopened = try StorageEngine(directory: testDirectory, disk: disk, logger: quietLogger)
        let loaded = try #require(try reopened.loadIdentity())
        #expect(loaded.peers.count == 2 && loaded.nodeID == joined.nodeID && loaded.raftAddress == joined.raftAddress)
        #expect(loaded == joined)
        try loaded.requireCluster(0x1234, directory: testDirectory)
        #expect(throws: StorageError.foreignCluster(directory: testDirectory, expected: 0x9999, found: 0x1234)) {
            try loaded.requireCluster(0x9999, directory: testDirectory)
        }
        #expect(throws: StorageError.self) {
            try engine.saveIdentity(NodeIdentity(nodeID: 1, raftAddress: "bad address\n"))
        }
    }

    @Test func garbageIdentityIsRefusedNotReset() throws {
        let disk = SimulatedDisk()
        let engine = try StorageEngine(directory: testDirectory, disk: disk, logger: quietLogger)
        try engine.saveIdentity(NodeIdentity(nodeID: 5, clusterID: 6))
        let path = testDirectory + "/identity"
        var bytes = try #require(disk.contents(ofFile: path))
        bytes[20] ^= 0x01
        disk.replaceContents(ofFile: path, with: bytes)
        #expect {
            try engine.loadIdentity()
        } throws: { error in
            guard case .corruptIdentity(let file, _) = error as? StorageError else { return false }
            return file == path
        }
        #expect(disk.contents(ofFile: path) == bytes, "the identity file is left as it was")
    }
}
