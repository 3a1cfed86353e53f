import NIOCore
import RaftCore
import RaftStorageTesting
import Testing

@testable import RaftStorage

/// Inputs found by the WAL fuzz target (Fuzz/FuzzWAL), fixed here for good.
@Suite struct FuzzRegressionTests {
    /// FuzzWAL, property "a torn append (a crash mid-write) recovers to the log before it"
    /// (issue 8, finding 6). A client's value that holds the bytes of a WAL segment (here the
    /// segment of another data dir) is appended; a crash leaves only part of that append on
    /// disk. The torn record is the tail: recovery must drop it and return the log as it was.
    /// The scan for valid records after the damage used to look inside the torn record's own
    /// payload, find the planted records there, and refuse to start; a record that runs past the
    /// end of the file is now a torn tail by definition.
    @Test func tornAppendOfAValueHoldingWALRecordsRecovers() throws {
        // A value made of a real segment's bytes: a header record and an entries batch.
        let otherDisk = SimulatedDisk()
        let (other, _) = try openRecovered(otherDisk)
        try other.persist(hardState: HardState(term: Term(1)), entries: makeEntries(1...2, term: 1), snapshot: nil)
        other.close()
        let value = try #require(otherDisk.contents(ofFile: testDirectory + "/wal-0000000000000001.log"))

        let disk = SimulatedDisk()
        let (storage, _) = try openRecovered(disk)
        let hardState = HardState(term: Term(2), votedFor: NodeID(1), commit: LogIndex(1))
        try storage.persist(hardState: hardState, entries: [Entry(term: Term(2), index: LogIndex(1))], snapshot: nil)
        let path = testDirectory + "/wal-0000000000000001.log"
        let before = try #require(disk.contents(ofFile: path))
        try storage.persist(
            hardState: nil, entries: [Entry(term: Term(2), index: LogIndex(2), data: value)], snapshot: nil)
        storage.close()
        let after = try #require(disk.contents(ofFile: path))

        // The crash: everything of the second append but its last byte reached the disk.
        disk.replaceContents(ofFile: path, with: Array(after.dropLast()))
        let (_, recovered) = try openRecovered(disk)
        #expect(recovered.entries == [Entry(term: Term(2), index: LogIndex(1))])
        #expect(recovered.hardState == hardState)
        #expect(disk.contents(ofFile: path) == before)
    }

    /// FuzzWAL, property "the recovered hard state's term is at least the last entry's". A
    /// segment holding a header and an entries batch of term 2 but no hard state record (the
    /// engine always restates one; these bytes were crafted, checksums and all) recovered with
    /// hard state term 0: a state that `RaftNode.init` refuses without naming the file. The
    /// scanner checked the hard state against the log only once a hard state record had been
    /// read; it now names the first segment.
    @Test func entriesWithoutAHardStateRecordAreRefusedWithTheFile() throws {
        var segment = ByteBuffer()
        segment.writeSegmentHeaderRecord(SegmentHeader(sequence: 1, lastIndex: .zero, lastTerm: .zero))
        segment.writeEntriesRecords(makeEntries(1...2, term: 2), payloadBytesMax: 1 << 20, endsBatch: true)
        let disk = SimulatedDisk()
        let path = testDirectory + "/wal-0000000000000001.log"
        try disk.prepareDirectory(atPath: testDirectory)
        try disk.openFile(atPath: path, mode: .create).close()
        disk.replaceContents(ofFile: path, with: Array(segment.readableBytesView))
        #expect {
            _ = try openRecovered(disk)
        } throws: { error in
            guard case .corruptRecord(let file, _, let reason)? = error as? StorageError else { return false }
            return file == path && reason.contains("below the last entry's term")
        }
    }

    /// FuzzWAL, a trap (arithmetic overflow in `LogIndex.next`, from
    /// `LogState.violation(appending:)`): a segment whose header says the log ends at index
    /// UInt64.max, followed by an entries batch. Recovery computed `lastIndex.next` and the
    /// process died. It now compares with `previous`, and recovery refuses the dir with a `StorageError`.
    @Test func segmentHeaderAtTheLargestIndexDoesNotTrap() throws {
        var segment = ByteBuffer()
        segment.writeSegmentHeaderRecord(SegmentHeader(sequence: 1, lastIndex: LogIndex(.max), lastTerm: Term(1)))
        segment.writeEntriesRecords(
            [Entry(term: Term(1), index: LogIndex(.max), data: [1])], payloadBytesMax: 1 << 20, endsBatch: false)
        segment.writeHardStateRecord(HardState(term: Term(1)), endsBatch: true)
        let disk = SimulatedDisk()
        let path = testDirectory + "/wal-0000000000000001.log"
        try disk.prepareDirectory(atPath: testDirectory)
        try disk.openFile(atPath: path, mode: .create).close()
        disk.replaceContents(ofFile: path, with: Array(segment.readableBytesView))
        // Entries 1 through UInt64.max - 1 were never seen: a typed error naming the file.
        #expect(throws: StorageError.self) { _ = try openRecovered(disk) }
    }

    /// FuzzWAL, property "recovered entry terms never decrease" (input
    /// Fuzz/Corpus/WAL/entry-terms-decrease). A snapshot record at index 2 with term 5 that says
    /// to keep the later entries, over a log whose entries all have term 1, recovered entry 3
    /// (term 1) after a snapshot of term 5: a log `RaftNode.init` refuses without naming the
    /// file. The writer keeps later entries only when the entry at the snapshot's index has its
    /// term; the scanner now refuses a record that says otherwise, naming the file.
    @Test func snapshotRecordKeepingEntriesOfAnotherTermIsRefused() throws {
        var segment = ByteBuffer()
        segment.writeSegmentHeaderRecord(SegmentHeader(sequence: 1, lastIndex: .zero, lastTerm: .zero))
        segment.writeEntriesRecords(makeEntries(1...3, term: 1), payloadBytesMax: 1 << 20, endsBatch: false)
        segment.writeHardStateRecord(HardState(term: Term(5)), endsBatch: true)
        let metadata = SnapshotMetadata(index: LogIndex(2), term: Term(5), membership: Membership(voters: [NodeID(1)]))
        segment.writeSnapshotRecord(metadata, keepsLaterEntries: true, endsBatch: true)
        let disk = SimulatedDisk()
        let path = testDirectory + "/wal-0000000000000001.log"
        try disk.prepareDirectory(atPath: testDirectory)
        try disk.openFile(atPath: path, mode: .create).close()
        disk.replaceContents(ofFile: path, with: Array(segment.readableBytesView))
        #expect {
            _ = try openRecovered(disk)
        } throws: { error in
            guard case .corruptRecord(let file, _, let reason)? = error as? StorageError else { return false }
            return file == path && reason.contains("keeps later entries")
        }
    }

    /// FuzzWAL, property "recovered entry terms never decrease", second variant (found after
    /// 895,485 runs, once the first was fixed): a segment whose header says the log ran to index
    /// 256 in deleted segments, entries 3 (term 2) and 4 (term 3) overwriting inside that unknown
    /// part, then a snapshot record at index 2, term 9, flagged keepsLaterEntries. The entry at
    /// index 2 is unknown, so the first fix (compare the stored term at the snapshot's index)
    /// could not judge, and recovery returned entry 3 of term 2 after a snapshot of term 9. The
    /// kept entries' terms are now checked against the snapshot's too.
    @Test func snapshotRecordKeepingEntriesOfALowerTermAfterAnUnknownIndexIsRefused() throws {
        var segment = ByteBuffer()
        segment.writeSegmentHeaderRecord(SegmentHeader(sequence: 1, lastIndex: LogIndex(256), lastTerm: Term(2)))
        segment.writeEntriesRecords(
            [Entry(term: Term(2), index: LogIndex(3)), Entry(term: Term(3), index: LogIndex(4))],
            payloadBytesMax: 1 << 20, endsBatch: false)
        segment.writeHardStateRecord(HardState(term: Term(9)), endsBatch: true)
        let metadata = SnapshotMetadata(index: LogIndex(2), term: Term(9), membership: Membership(voters: [NodeID(1)]))
        segment.writeSnapshotRecord(metadata, keepsLaterEntries: true, endsBatch: true)
        let disk = SimulatedDisk()
        let path = testDirectory + "/wal-0000000000000001.log"
        try disk.prepareDirectory(atPath: testDirectory)
        try disk.openFile(atPath: path, mode: .create).close()
        disk.replaceContents(ofFile: path, with: Array(segment.readableBytesView))
        #expect {
            _ = try openRecovered(disk)
        } throws: { error in
            guard case .corruptRecord(let file, _, let reason)? = error as? StorageError else { return false }
            return file == path && reason.contains("keeps later entries of term 2")
        }
    }
}
