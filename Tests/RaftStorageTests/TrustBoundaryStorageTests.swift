import NIOCore
import RaftCodec
import RaftCore
import RaftStorage
import RaftStorageTesting
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Issue 8, finding 6: a client's value that contains a valid-looking WAL record, torn by a
/// crash, must not make the node refuse to start. The value's bytes are the torn record's own
/// payload, never "valid records that follow it".
@Suite struct ValueLookingLikeRecordsTests {
    /// The value: the first 42 bytes of a segment (its header record), then zeros,
    /// about a megabyte in all.
    static func forgedValue(from segment: [UInt8], byteCount: Int = 1_000_000) -> [UInt8] {
        Array(segment.prefix(42)) + [UInt8](repeating: 0, count: byteCount - 42)
    }

    @Test func aTornValueThatLooksLikeASegmentIsATornTail() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 3), entries: makeEntries(1...3, term: 1), snapshot: nil)
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let acknowledged = try #require(disk.contents(ofFile: segment))
        let value = Self.forgedValue(from: acknowledged)
        try engine.persist(
            hardState: HardState(term: 1, commit: 4), entries: [Entry(term: 1, index: 4, data: value)], snapshot: nil)
        let full = try #require(disk.contents(ofFile: segment))
        // `truncate -s -400000`: power lost while the record was being written.
        disk.replaceContents(ofFile: segment, with: Array(full.dropLast(400_000)))

        let recorder = LogRecorder()
        let (_, state) = try openRecovered(disk, logger: recorder.makeLogger())
        #expect(state.entries == makeEntries(1...3, term: 1))
        #expect(state.hardState == HardState(term: 1, commit: 3))
        #expect(disk.contents(ofFile: segment) == acknowledged, "the torn record is cut off")
        #expect(recorder.messages.contains { $0.message.contains("torn tail") })
    }

    /// The same torn at every byte of the record that carries the value (a smaller value with
    /// a segment header, a hard state and an entries record forged inside): always a torn tail.
    @Test func aValueWithForgedRecordsTornAtEveryOffsetIsATornTail() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 2, commit: 2), entries: makeEntries(1...2, term: 2), snapshot: nil)
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let acknowledged = try #require(disk.contents(ofFile: segment))
        // Every record the acknowledged segment holds, repeated inside the value.
        let value = acknowledged + acknowledged + [UInt8](repeating: 0, count: 64)
        try engine.persist(hardState: nil, entries: [Entry(term: 2, index: 3, data: value)], snapshot: nil)
        let full = try #require(disk.contents(ofFile: segment))
        for cut in (acknowledged.count + 1)..<full.count {
            disk.replaceContents(ofFile: segment, with: Array(full[..<cut]))
            let (_, state) = try openRecovered(disk)
            #expect(state.entries == makeEntries(1...2, term: 2), "cut at \(cut)")
            #expect(disk.contents(ofFile: segment) == acknowledged, "cut at \(cut)")
        }
    }

    /// The same value when the file system kept the record's full length but not all of its
    /// bytes (zeros from some offset on, as after a crash that extended the file before the
    /// data reached it): the record fails its checksum, and the forged records inside its own
    /// payload are still not "valid records that follow it".
    @Test func aHalfWrittenValueWithForgedRecordsIsATornTail() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 2, commit: 2), entries: makeEntries(1...2, term: 2), snapshot: nil)
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let acknowledged = try #require(disk.contents(ofFile: segment))
        // Ends in bytes that are not zero, so zeroing any suffix damages the record.
        let value = acknowledged + acknowledged + [UInt8](repeating: 0xEE, count: 64)
        try engine.persist(hardState: nil, entries: [Entry(term: 2, index: 3, data: value)], snapshot: nil)
        let full = try #require(disk.contents(ofFile: segment))
        let valueStart = full.count - value.count
        for zeroedFrom in stride(from: valueStart + 1, to: full.count, by: 7) {
            var halfWritten = full
            for position in zeroedFrom..<full.count { halfWritten[position] = 0 }
            disk.replaceContents(ofFile: segment, with: halfWritten)
            let (_, state) = try openRecovered(disk)
            #expect(state.entries == makeEntries(1...2, term: 2), "zeros from \(zeroedFrom)")
            #expect(disk.contents(ofFile: segment) == acknowledged, "zeros from \(zeroedFrom)")
        }
    }

    /// A length field damaged to point past the end is not a tear: the record's visible bytes
    /// do not add up to it, and the valid records after it are kept by refusing to start.
    @Test func aDamagedLengthBeforeGoodRecordsIsStillRefused() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        for batch in 0..<3 {
            let first = UInt64(batch * 2 + 1)
            try engine.persist(hardState: nil, entries: makeEntries(first...(first + 1), term: 1, dataBytes: 100), snapshot: nil)
        }
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let original = try #require(disk.contents(ofFile: segment))
        let offsets = recordOffsets(original)
        for recordStart in offsets.dropLast() {
            for bump in [UInt32(1_000), 1 << 16, 1 << 20] {
                var damaged = original
                var length = damaged[recordStart..<(recordStart + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                length += bump
                for position in 0..<4 { damaged[recordStart + position] = UInt8(truncatingIfNeeded: length >> (24 - 8 * position)) }
                disk.replaceContents(ofFile: segment, with: damaged)
                let location = corruptRecordLocation { _ = try openRecovered(disk) }
                #expect(location?.offset == recordStart, "length of the record at \(recordStart) + \(bump)")
            }
        }
    }

    /// The steps on real files: a megabyte value, `truncate -s -400000`, restart.
    @Test func aTornValueOnRealFilesIsATornTail() throws {
        let directory = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(directory) }
        let engine = try StorageEngine(directory: directory, logger: quietLogger)
        _ = try engine.recover()
        try engine.persist(hardState: HardState(term: 1, commit: 2), entries: makeEntries(1...2, term: 1), snapshot: nil)
        let segment = directory + "/" + (try #require(try segmentNames(PosixDisk(), directory: directory).first))
        let head = try readWholeFile(segment)
        try engine.persist(
            hardState: HardState(term: 1, commit: 3), entries: [Entry(term: 1, index: 3, data: Self.forgedValue(from: head))],
            snapshot: nil)
        engine.close()
        var status = stat()
        #expect(stat(segment, &status) == 0)
        #expect(truncate(segment, status.st_size - 400_000) == 0)

        let reopened = try StorageEngine(directory: directory, logger: quietLogger)
        let state = try reopened.recover()
        #expect(state.entries == makeEntries(1...2, term: 1))
        try reopened.persist(hardState: nil, entries: makeEntries(3...3, term: 1), snapshot: nil)
        reopened.close()
        #expect(try StorageEngine(directory: directory, logger: quietLogger).recover().entries == makeEntries(1...3, term: 1))
    }

    private func readWholeFile(_ path: String) throws -> [UInt8] {
        var buffer = try PosixDisk().openFile(atPath: path, mode: .read).read(fromOffset: 0, count: 1 << 20)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

/// Issue 8, finding 5: the data dir is 0700 and its files 0600; a dir made before is tightened
/// at start, with a log line.
@Suite struct DataDirectoryPermissionTests {
    @Test func aNewDataDirAndItsFilesAreTheOwnersAlone() throws {
        let parent = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(parent) }
        let directory = parent + "/data"
        let previousMask = umask(0o022)  // the usual mask, which left 0755 and 0644 before
        defer { umask(previousMask) }
        try fillDataDirectory(directory)
        #expect(try mode(of: directory) == 0o700)
        let names = try PosixDisk().contentsOfDirectory(atPath: directory)
        #expect(names.contains("identity") && names.contains("LOCK") && names.contains { $0.hasPrefix("wal-") }
            && names.contains { $0.hasPrefix("snapshot-") })
        for name in names {
            #expect(try mode(of: directory + "/" + name) == 0o600, "\(name)")
        }
    }

    @Test func anOpenDataDirIsTightenedAtStartWithALogLine() throws {
        let parent = try makeTemporaryDirectory()
        defer { removeTemporaryDirectory(parent) }
        let directory = parent + "/data"
        try fillDataDirectory(directory)
        // As an older WRaft left it; and a file that is not the storage's stays as it is.
        let names = try PosixDisk().contentsOfDirectory(atPath: directory)
        #expect(chmod(directory, 0o755) == 0)
        for name in names { #expect(chmod(directory + "/" + name, 0o644) == 0) }
        let foreign = directory + "/notes.txt"
        let descriptor = open(foreign, O_CREAT | O_WRONLY, 0o644)
        #expect(descriptor >= 0)
        close(descriptor)
        #expect(chmod(foreign, 0o644) == 0)

        let recorder = LogRecorder()
        let engine = try StorageEngine(directory: directory, logger: recorder.makeLogger())
        #expect(try mode(of: directory) == 0o700)
        for name in names {
            #expect(try mode(of: directory + "/" + name) == 0o600, "\(name)")
        }
        #expect(try mode(of: foreign) == 0o644)
        let lines = recorder.messages.filter { $0.message.contains("permissions") }
        #expect(lines.count == names.count + 1, "one line per entry tightened: \(lines.map(\.message))")
        engine.close()
        try PosixDisk().removeFile(atPath: foreign)

        // Nothing left to tighten: no line.
        let quiet = LogRecorder()
        _ = try StorageEngine(directory: directory, logger: quiet.makeLogger())
        #expect(!quiet.messages.contains { $0.message.contains("permissions") })
    }

    /// A data dir with every kind of file: WAL segment, snapshot, identity, lock.
    private func fillDataDirectory(_ directory: String) throws {
        let engine = try StorageEngine(directory: directory, logger: quietLogger)
        _ = try engine.recover()
        try engine.persist(hardState: HardState(term: 1, commit: 2), entries: makeEntries(1...2, term: 1), snapshot: nil)
        try engine.saveSnapshot(SnapshotMetadata(index: 2, term: 1, membership: Membership(voters: [1])), data: [1, 2, 3])
        try engine.saveIdentity(NodeIdentity(nodeID: NodeID(7), clusterID: 9))
        engine.close()
    }

    private func mode(of path: String) throws -> UInt32 {
        var status = stat()
        try #require(stat(path, &status) == 0, "stat \(path)")
        return UInt32(status.st_mode) & 0o7777
    }
}

/// Recovery reads terms and indices with the same bound as the wire: a WAL whose records pass
/// their checksums but name a term above `Term.wireMax` is corrupt, an error, never a trap nor a
/// term that leaves no room for elections.
@Suite struct RecoveredBoundsTests {
    @Test func aHardStateRecordAboveTheBoundIsCorrupt() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 1), entries: makeEntries(1...1, term: 1), snapshot: nil)
        // A later batch holding a well-formed, checksummed hard state record with term 2^63-1.
        try engine.persist(hardState: HardState(term: Term(UInt64.max / 2), commit: 1), entries: [], snapshot: nil)
        engine.close()
        let segment = testDirectory + "/" + (try #require(try segmentNames(disk).first))
        let bytes = try #require(disk.contents(ofFile: segment))
        let last = try #require(recordOffsets(bytes).last)
        let location = corruptRecordLocation { _ = try openRecovered(disk) }
        #expect(location?.offset == last)
    }
}
