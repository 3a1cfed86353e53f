import NIOCore
import RaftCore
@testable import RaftStorage
import RaftStorageTesting
import Testing

/// The start offsets of the records in a segment's bytes (walking the length fields).
func recordOffsets(_ bytes: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while offset + 9 <= bytes.count {
        offsets.append(offset)
        let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
        offset += 9 + length
    }
    return offsets
}

@Suite struct TornTailTests {
    /// Two acknowledged batches, then a third whose single record is cut at every byte offset:
    /// recovery always comes back to the second batch, cuts the tail off, and logs it once.
    @Test func tornLastRecordAtEveryOffsetRecoversThePreviousRecord() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 0), entries: makeEntries(1...5, term: 1), snapshot: nil)
        try engine.persist(hardState: HardState(term: 1, commit: 5), entries: makeEntries(6...7, term: 1), snapshot: nil)
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let acknowledged = try #require(disk.contents(ofFile: segment))
        try engine.persist(hardState: nil, entries: makeEntries(8...10, term: 1, dataBytes: 40), snapshot: nil)
        let full = try #require(disk.contents(ofFile: segment))
        let expected = makeEntries(1...7, term: 1)

        for cut in acknowledged.count..<full.count {
            disk.replaceContents(ofFile: segment, with: Array(full[..<cut]))
            let recorder = LogRecorder()
            let (_, state) = try openRecovered(disk, logger: recorder.makeLogger())
            #expect(state.entries == expected, "cut at \(cut)")
            #expect(state.hardState == HardState(term: 1, commit: 5), "cut at \(cut)")
            #expect(disk.contents(ofFile: segment) == acknowledged, "cut at \(cut): the tail is cut off")
            let tornLines = recorder.messages.filter { $0.message.contains("torn tail") }
            #expect(tornLines.count == (cut == acknowledged.count ? 0 : 1), "cut at \(cut)")
        }
    }

    /// The last record fully written but damaged (any byte changed, or zeros from the damage
    /// on): a torn write, recovered the same way.
    @Test func damagedLastRecordAtEveryOffsetIsATornTail() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 0), entries: makeEntries(1...5, term: 1), snapshot: nil)
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let acknowledged = try #require(disk.contents(ofFile: segment))
        try engine.persist(hardState: nil, entries: makeEntries(6...8, term: 1), snapshot: nil)
        let full = try #require(disk.contents(ofFile: segment))

        for offset in acknowledged.count..<full.count {
            var flipped = full
            flipped[offset] ^= 0x5A
            var zeroed = full
            for index in offset..<full.count { zeroed[index] = 0 }
            for damaged in [flipped, zeroed] {
                disk.replaceContents(ofFile: segment, with: damaged)
                let (_, state) = try openRecovered(disk)
                #expect(state.entries == makeEntries(1...5, term: 1), "damage at \(offset)")
                #expect(disk.contents(ofFile: segment) == acknowledged, "damage at \(offset)")
            }
        }
    }
}

@Suite struct CorruptionTests {
    /// A damaged record followed by good records is corruption: refused with the file and the
    /// record's offset, and no file changes.
    @Test func damageBeforeGoodRecordsIsRefusedWithFileAndOffset() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        for batch in 0..<4 {
            let first = UInt64(batch * 3 + 1)
            try engine.persist(hardState: HardState(term: 1, commit: LogIndex(first - 1)), entries: makeEntries(first...(first + 2), term: 1), snapshot: nil)
        }
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let original = try #require(disk.contents(ofFile: segment))
        let offsets = recordOffsets(original)
        #expect(offsets.count == 2 + 4 * 2)
        // Damage each record but the last (whose damage would be a torn tail), at its first,
        // a middle and its last byte.
        for (position, recordStart) in offsets.dropLast().enumerated() {
            let recordEnd = offsets[position + 1]
            for damageAt in [recordStart, (recordStart + recordEnd) / 2, recordEnd - 1] {
                var damaged = original
                damaged[damageAt] ^= 0x01
                disk.replaceContents(ofFile: segment, with: damaged)
                let before = try snapshotOfFiles(disk)
                let location = corruptRecordLocation { _ = try openRecovered(disk) }
                #expect(location?.file == segment, "damage at \(damageAt)")
                #expect(location?.offset == recordStart, "damage at \(damageAt)")
                #expect(try snapshotOfFiles(disk) == before, "damage at \(damageAt): nothing modified")
            }
        }
    }

    /// The last record of a segment that is not the last is never a torn tail.
    @Test func damageAtTheEndOfAnOlderSegmentIsRefused() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 2048)
        let (engine, _) = try openRecovered(disk, options: options)
        for batch in 0..<20 {
            let first = UInt64(batch * 4 + 1)
            try engine.persist(hardState: nil, entries: makeEntries(first...(first + 3), term: 1, dataBytes: 40), snapshot: nil)
        }
        let names = try segmentNames(disk)
        #expect(names.count >= 3)
        let older = testDirectory + "/" + names[0]
        var bytes = try #require(disk.contents(ofFile: older))
        let lastRecord = try #require(recordOffsets(bytes).last)
        bytes[bytes.count - 1] ^= 0xFF
        disk.replaceContents(ofFile: older, with: bytes)
        let before = try snapshotOfFiles(disk)
        let location = corruptRecordLocation { _ = try openRecovered(disk, options: options) }
        #expect(location?.file == older)
        #expect(location?.offset == lastRecord)
        #expect(try snapshotOfFiles(disk) == before)
    }

    @Test func missingSegmentIsRefused() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 2048)
        let (engine, _) = try openRecovered(disk, options: options)
        for batch in 0..<20 {
            let first = UInt64(batch * 4 + 1)
            try engine.persist(hardState: nil, entries: makeEntries(first...(first + 3), term: 1, dataBytes: 40), snapshot: nil)
        }
        let names = try segmentNames(disk)
        try disk.removeFile(atPath: testDirectory + "/" + names[1])
        #expect {
            _ = try openRecovered(disk, options: options)
        } throws: { error in
            guard case .corruptRecord(let file, 0, let reason) = error as? StorageError else { return false }
            return file == testDirectory + "/" + names[2] && reason.contains(names[1])
        }
    }

    /// The oldest segment deleted while no snapshot covers its entries: refused, not guessed.
    @Test func deletedFirstSegmentWithoutSnapshotIsRefused() throws {
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 2048)
        let (engine, _) = try openRecovered(disk, options: options)
        for batch in 0..<20 {
            let first = UInt64(batch * 4 + 1)
            try engine.persist(hardState: nil, entries: makeEntries(first...(first + 3), term: 1, dataBytes: 40), snapshot: nil)
        }
        let names = try segmentNames(disk)
        try disk.removeFile(atPath: testDirectory + "/" + names[0])
        let location = corruptRecordLocation { _ = try openRecovered(disk, options: options) }
        #expect(location?.file == testDirectory + "/" + names[1])
        #expect(location?.offset == 0)
    }

    /// Records that pass their checksums but break the log's invariants: a gap in indices, a
    /// term going backwards, a snapshot going backwards, commit past the end of the log.
    @Test(arguments: [
        ("gap", [CraftedRecord.entries(1...3, term: 1), .entries(5...6, term: 1)]),
        ("term backwards", [.entries(1...3, term: 2), .entries(4...4, term: 1)]),
        ("below snapshot", [.entries(1...5, term: 1), .snapshot(4, term: 1), .entries(3...6, term: 1)]),
        ("snapshot backwards", [.entries(1...5, term: 1), .snapshot(4, term: 1), .snapshot(2, term: 1)]),
        ("commit past the end", [.entries(1...3, term: 1), .hardState(commit: 4)]),
        ("hard state term below the log's", [.entries(1...3, term: 2), .hardState(commit: 1)]),
    ])
    func invariantViolationsAreCorruption(name: String, records: [CraftedRecord]) throws {
        let disk = SimulatedDisk()
        try disk.prepareDirectory(atPath: testDirectory)
        var bytes = ByteBuffer()
        bytes.writeSegmentHeaderRecord(SegmentHeader(sequence: 1, lastIndex: 0, lastTerm: 0))
        var offsets: [Int] = []
        for record in records {
            offsets.append(bytes.writerIndex)
            record.write(to: &bytes)
        }
        let path = testDirectory + "/" + WALFormat.segmentName(sequence: 1)
        let file = try disk.openFile(atPath: path, mode: .create)
        try file.append(bytes)
        try file.synchronize()
        let before = try snapshotOfFiles(disk)
        let location = corruptRecordLocation { _ = try openRecovered(disk) }
        #expect(location?.file == path)
        #expect(location?.offset == offsets.last, "the last crafted record is the bad one")
        #expect(try snapshotOfFiles(disk) == before)
    }
}

/// The file and offset of the `StorageError.corruptRecord` that `body` throws, or nil (and a
/// recorded issue) when it throws nothing or something else.
func corruptRecordLocation(_ body: () throws -> Void) -> (file: String, offset: Int)? {
    do {
        try body()
        Issue.record("expected a corrupt record error, got success")
    } catch let error as StorageError {
        if case .corruptRecord(let file, let offset, _) = error {
            #expect(error.description.contains(file))
            return (file, offset)
        }
        Issue.record("expected a corrupt record error, got \(error)")
    } catch {
        Issue.record("expected a corrupt record error, got \(error)")
    }
    return nil
}

/// A WAL record written by hand, to plant invariant violations.
enum CraftedRecord: Sendable, CustomTestStringConvertible {
    case entries(ClosedRange<UInt64>, term: UInt64)
    case snapshot(UInt64, term: UInt64)
    case hardState(commit: UInt64)

    func write(to buffer: inout ByteBuffer) {
        switch self {
        case .entries(let range, let term):
            buffer.writeEntriesRecords(makeEntries(range, term: term), payloadBytesMax: 1 << 20, endsBatch: true)
        case .snapshot(let index, let term):
            buffer.writeSnapshotRecord(SnapshotMetadata(index: LogIndex(index), term: Term(term), membership: .empty), keepsLaterEntries: true, endsBatch: true)
        case .hardState(let commit):
            buffer.writeHardStateRecord(HardState(term: 1, commit: LogIndex(commit)), endsBatch: true)
        }
    }

    var testDescription: String { "\(self)" }
}

@Suite struct RecordScanTests {
    /// The cheap pre-checks of the damage scan accept every kind of real record (so they can
    /// never hide good data after damage) and refuse zeros.
    @Test func everyRealRecordIsPlausible() {
        var bytes = ByteBuffer()
        bytes.writeSegmentHeaderRecord(SegmentHeader(sequence: 7, lastIndex: 3, lastTerm: 2))
        bytes.writeHardStateRecord(HardState(term: 2, votedFor: nil, commit: 1), endsBatch: false)
        bytes.writeHardStateRecord(HardState(term: 2, votedFor: 9, commit: 1), endsBatch: false)
        let metadata = SnapshotMetadata(index: 3, term: 2, membership: Membership(voters: [1, 2], learners: [3]), membershipContext: [1, 2])
        bytes.writeSnapshotRecord(metadata, keepsLaterEntries: true, endsBatch: false)
        bytes.writeSnapshotRecord(.empty, keepsLaterEntries: false, endsBatch: false)
        bytes.writeEntriesRecords(makeEntries(4...9, term: 2), payloadBytesMax: 64, endsBatch: true)
        let offsets = recordOffsets(Array(bytes.readableBytesView))
        #expect(offsets.count >= 7)
        for offset in offsets {
            #expect(WALRecordParser.isPlausibleRecord(in: bytes, at: offset), "record at \(offset)")
            #expect(WALRecordParser.hasValidRecord(in: bytes, from: offset), "record at \(offset)")
        }
        var zeros = ByteBuffer()
        zeros.writeRepeatingByte(0, count: 4096)
        #expect(!WALRecordParser.hasValidRecord(in: zeros, from: 1))
    }
}
