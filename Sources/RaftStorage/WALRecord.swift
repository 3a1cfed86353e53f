import NIOCore
import RaftCodec
import RaftCore
import WRaftSupport

/// The on-disk format of WAL segments.
///
/// A segment is a sequence of records, each `[length u32][crc32c u32][type u8][payload]`, where
/// `length` counts the payload bytes and the CRC-32C covers the length, the type and the payload
/// (so a damaged length cannot pass for a valid one). Integers are big-endian. Payloads use
/// RaftCodec's versioned encodings.
///
/// Records come in batches, one per `persist` (or snapshot marker): the high bit of the type
/// byte (`batchEndFlag`) marks a batch's last record. Recovery applies a batch only once it has
/// read that record, so a crash in the middle of a write leaves all of a batch or none of it
/// (a vote is never lost while the entries of its term survive, nor a commit index kept
/// without the entries it commits).
///
/// Every segment starts with a `segmentHeader` record, then restates the log's state at that
/// point (a `hardState` record, and a `snapshot` record when there is a snapshot), so the
/// segments before it can be deleted once a snapshot covers their entries.
enum WALFormat {
    /// The bytes before a record's payload.
    static let recordHeaderByteCount = 4 + 4 + 1
    /// No record payload is larger; a larger length read from disk marks the record as damaged.
    static let recordPayloadBytesMax = 64 << 20
    /// Set in the type byte of the last record of a batch.
    static let batchEndFlag: UInt8 = 0x80
    /// Identifies a segment header's payload.
    static let segmentMagic: [UInt8] = Array("WRAFTWAL".utf8)
    static let segmentFormatVersion: UInt8 = 1
    /// No segment number reaches this (one segment a second for 8.9 million years); a file
    /// named with a larger one is corrupt, not a reason for `sequence + 1` to trap.
    static let segmentSequenceMax: UInt64 = 1 << 48

    /// `wal-<sequence as 16 hex digits>.log`.
    static func segmentName(sequence: UInt64) -> String {
        "wal-\(hex(sequence)).log"
    }

    /// The sequence number of a segment file name, or nil for any other name.
    static func segmentSequence(fromName name: String) -> UInt64? {
        guard name.count == 24, name.hasPrefix("wal-"), name.hasSuffix(".log") else { return nil }
        return UInt64(name.dropFirst(4).prefix(16), radix: 16)
    }
}

/// The first record of every segment.
struct SegmentHeader: Equatable {
    var sequence: UInt64
    /// The log's last index when the segment was started (its entries continue from there,
    /// or overwrite below it).
    var lastIndex: LogIndex
    /// The term of the entry at `lastIndex`.
    var lastTerm: Term
}

/// The kinds of WAL records. Values are part of the format. Zero is not a type, so zero-filled
/// space never parses as a record.
enum RecordType: UInt8 {
    /// Magic, format version u8, segment sequence u64, and where the log stood when the
    /// segment was started: its last index u64 and that entry's term u64.
    case segmentHeader = 1
    /// A batch of contiguous entries (RaftCodec entries encoding). Entries at or below the last
    /// stored index replace the stored suffix from their first index on.
    case entries = 2
    /// The hard state (RaftCodec encoding); the latest record wins.
    case hardState = 3
    /// A snapshot marker: flags u8, then the snapshot metadata (RaftCodec encoding). The log is
    /// compacted through the snapshot: entries up to its index are dropped; entries after it are
    /// kept only with the `keepsLaterEntries` flag (the writer decided it by dissertation
    /// 5.4.1's rule, or the snapshot was installed from a leader and resets the log).
    case snapshot = 4
}

/// Flags of a snapshot record.
enum SnapshotRecordFlag {
    /// Keep the stored entries after the snapshot (without it, they are all dropped).
    static let keepsLaterEntries: UInt8 = 1
}

/// A record read from a segment: its type, its payload, and where it starts.
struct WALRecord {
    var type: RecordType
    var payload: ByteBuffer
    var offset: Int
    /// The last record of its batch: the batch is complete.
    var isBatchEnd: Bool
}

extension ByteBuffer {
    /// Appends one record: reserves the header, lets `writePayload` write the payload, then fills
    /// in the length and the checksum.
    mutating func writeWALRecord(
        _ type: RecordType, endsBatch: Bool, _ writePayload: (inout ByteBuffer) -> Void
    ) {
        let start = writerIndex
        writeMultipleIntegers(UInt32(0), UInt32(0), type.rawValue | (endsBatch ? WALFormat.batchEndFlag : 0))
        writePayload(&self)
        let payloadLength = writerIndex - start - WALFormat.recordHeaderByteCount
        precondition(
            payloadLength <= WALFormat.recordPayloadBytesMax, "WAL: a record payload fits in recordPayloadBytesMax")
        setInteger(UInt32(payloadLength), at: start)
        let checksum = recordChecksum(at: start, payloadLength: payloadLength)
        setInteger(checksum, at: start + 4)
    }

    /// The checksum of the record starting at `start`: its length field, type and payload.
    func recordChecksum(at start: Int, payloadLength: Int) -> UInt32 {
        withUnsafeReadableBytes { bytes in
            let base = start - readerIndex
            let lengthBytes = UnsafeRawBufferPointer(rebasing: bytes[base..<(base + 4)])
            let rest = UnsafeRawBufferPointer(
                rebasing: bytes[(base + 8)..<(base + WALFormat.recordHeaderByteCount + payloadLength)])
            return CRC32C.checksum(rest, seed: CRC32C.checksum(lengthBytes))
        }
    }

    mutating func writeSegmentHeaderRecord(_ header: SegmentHeader) {
        writeWALRecord(.segmentHeader, endsBatch: false) { buffer in
            buffer.writeBytes(WALFormat.segmentMagic)
            buffer.writeInteger(WALFormat.segmentFormatVersion)
            buffer.writeMultipleIntegers(header.sequence, header.lastIndex.rawValue, header.lastTerm.rawValue)
        }
    }

    mutating func writeHardStateRecord(_ hardState: HardState, endsBatch: Bool) {
        writeWALRecord(.hardState, endsBatch: endsBatch) { $0.writeHardState(hardState) }
    }

    mutating func writeSnapshotRecord(_ metadata: SnapshotMetadata, keepsLaterEntries: Bool, endsBatch: Bool) {
        writeWALRecord(.snapshot, endsBatch: endsBatch) { buffer in
            buffer.writeInteger(keepsLaterEntries ? SnapshotRecordFlag.keepsLaterEntries : 0)
            buffer.writeSnapshotMetadata(metadata)
        }
    }

    /// Writes `entries` as one or more entries records, each payload at most `payloadBytesMax`;
    /// the last one ends the batch when `endsBatch`.
    mutating func writeEntriesRecords(_ entries: [Entry], payloadBytesMax: Int, endsBatch: Bool) {
        var start = entries.startIndex
        while start < entries.endIndex {
            var end = start
            var payloadBytes = 1 + 4  // version and count
            while end < entries.endIndex {
                let entryBytes = RaftCodec.encodedByteCount(of: entries[end])
                if end > start && payloadBytes + entryBytes > payloadBytesMax { break }
                precondition(
                    payloadBytes + entryBytes <= WALFormat.recordPayloadBytesMax,
                    "WAL: a single entry fits in one record (recordPayloadBytesMax)")
                payloadBytes += entryBytes
                end += 1
            }
            writeWALRecord(.entries, endsBatch: endsBatch && end == entries.endIndex) {
                $0.writeRaftEntries(entries[start..<end])
            }
            start = end
        }
    }
}

/// The outcome of looking for a record at an offset of a segment's bytes.
enum RecordParse {
    case record(WALRecord, next: Int)
    /// The file ends inside the record starting here (its header, or the payload its length
    /// announces): what an interrupted append leaves. Whatever bytes follow the header are this
    /// record's own payload (perhaps a client's value that looks like records), never later
    /// records, so a cut-short record in the last segment is a torn tail by definition.
    case cutShort(String)
    /// No valid record here, for another reason (checksum, type, an impossible length): the
    /// reason, for the error message.
    case damaged(String)
}

enum WALRecordParser {
    /// Looks for a record at `offset` of `segment` (whose reader index is 0).
    static func parse(_ segment: ByteBuffer, at offset: Int) -> RecordParse {
        let remaining = segment.writerIndex - offset
        guard remaining >= WALFormat.recordHeaderByteCount,
            let (length, storedChecksum, typeByte) = segment.getMultipleIntegers(
                at: offset, as: (UInt32, UInt32, UInt8).self)
        else { return .cutShort("partial record header (\(remaining) bytes left)") }
        let payloadLength = Int(length)
        guard payloadLength <= WALFormat.recordPayloadBytesMax else {
            return .damaged("record length \(payloadLength) exceeds the bound \(WALFormat.recordPayloadBytesMax)")
        }
        guard payloadLength <= remaining - WALFormat.recordHeaderByteCount else {
            let reason = "record of \(payloadLength) bytes runs past the end of the file"
            // A damaged length field also points past the end. It is told apart by the record's
            // visible bytes, which then do not add up to the length it claims; a record whose
            // bytes agree with its length was cut short by the end of the file.
            guard let type = RecordType(rawValue: typeByte & ~WALFormat.batchEndFlag),
                isConsistentPrefix(of: type, in: segment, payloadAt: offset + WALFormat.recordHeaderByteCount,
                    length: payloadLength)
            else { return .damaged(reason + ", and its bytes do not match that length") }
            return .cutShort(reason)
        }
        let checksum = segment.recordChecksum(at: offset, payloadLength: payloadLength)
        guard checksum == storedChecksum else {
            return .damaged(CodecError.checksumMismatch(expected: storedChecksum, actual: checksum).description)
        }
        guard let type = RecordType(rawValue: typeByte & ~WALFormat.batchEndFlag) else {
            return .damaged("unknown record type \(typeByte)")
        }
        let payloadStart = offset + WALFormat.recordHeaderByteCount
        guard let payload = segment.getSlice(at: payloadStart, length: payloadLength) else {
            return .cutShort("record runs past the end of the file")
        }
        let record = WALRecord(
            type: type, payload: payload, offset: offset, isBatchEnd: typeByte & WALFormat.batchEndFlag != 0)
        return .record(record, next: payloadStart + payloadLength)
    }

    /// Whether the bytes of a `type` payload that starts at `payloadStart` and that the end of
    /// `segment` cuts short could be the beginning of a payload of exactly `length` bytes: the
    /// structure read so far (fixed sizes, counts, entry and context lengths) neither ends
    /// before `length` within the visible bytes nor runs past it.
    static func isConsistentPrefix(of type: RecordType, in segment: ByteBuffer, payloadAt payloadStart: Int, length: Int)
        -> Bool
    {
        structure(of: type, in: segment, payloadAt: payloadStart, length: length) == .cutShort
    }

    /// How a payload's structure (fixed sizes, counts, entry and context lengths) compares
    /// with the length its record claims.
    enum StructureFit {
        /// It ends exactly at the claimed length.
        case exact
        /// It runs into the end of the file before reaching the claimed length.
        case cutShort
        /// It ends before the claimed length, or runs past it.
        case mismatch
    }

    static func structure(of type: RecordType, in segment: ByteBuffer, payloadAt payloadStart: Int, length: Int)
        -> StructureFit
    {
        var walk = PayloadWalk(segment: segment, position: payloadStart, end: payloadStart + length)
        switch type {
        case .segmentHeader:
            guard length == WALFormat.segmentMagic.count + 1 + 24 else { return .mismatch }
            return walk.skip(length) ? .exact : walk.fit
        case .hardState:
            guard length == 18 || length == 26 else { return .mismatch }
            return walk.skip(length) ? .exact : walk.fit
        case .entries:
            // Version, count, then per entry: term, index, kind, data length u32, data.
            guard walk.skip(1), let count = walk.readUInt32() else { return walk.fit }
            for _ in 0..<count {
                guard walk.skip(8 + 8 + 1), let dataLength = walk.readUInt32(), walk.skip(Int(dataLength)) else {
                    return walk.fit
                }
            }
        case .snapshot:
            // Flags, version, index, term, voters, learners, context.
            guard walk.skip(1 + 1 + 8 + 8) else { return walk.fit }
            for _ in 0..<2 {
                guard let count = walk.readUInt32(), walk.skip(8 * Int(count)) else { return walk.fit }
            }
            guard let contextLength = walk.readUInt32(), walk.skip(Int(contextLength)) else { return walk.fit }
        }
        // The structure is complete: it fits when it used up exactly the claimed length.
        return walk.position == walk.end ? .exact : .mismatch
    }

    /// Where the search for valid records after a damaged record starting at `offset` begins:
    /// after its claimed payload when its structure fills exactly the length it claims (the
    /// length is believable, the damage is in the payload: whatever looks like records inside
    /// it is its own bytes, such as a client's value, in a write the file system left half
    /// done), else at the next byte (the length itself may be what is damaged).
    static func searchStart(afterDamagedRecordAt offset: Int, in segment: ByteBuffer) -> Int {
        let payloadStart = offset + WALFormat.recordHeaderByteCount
        guard let (length, _, typeByte) = segment.getMultipleIntegers(at: offset, as: (UInt32, UInt32, UInt8).self),
            let type = RecordType(rawValue: typeByte & ~WALFormat.batchEndFlag),
            Int(length) <= segment.writerIndex - payloadStart,
            structure(of: type, in: segment, payloadAt: payloadStart, length: Int(length)) == .exact
        else { return offset + 1 }
        return payloadStart + Int(length)
    }

    /// Follows a payload's structure through the bytes the file holds of it.
    private struct PayloadWalk {
        let segment: ByteBuffer
        var position: Int
        /// Where the payload ends by its record's length field.
        let end: Int
        /// The structure ran into the end of the file (true) or past the claimed length (false).
        private(set) var isCutShort = false

        /// Why the last `skip` failed.
        var fit: StructureFit { isCutShort ? .cutShort : .mismatch }

        /// Moves past `count` bytes; false when they run past the claimed end or the file's end.
        mutating func skip(_ count: Int) -> Bool {
            guard count <= end - position else { return false }
            guard count <= segment.writerIndex - position else {
                isCutShort = true
                return false
            }
            position += count
            return true
        }

        mutating func readUInt32() -> UInt32? {
            let start = position
            guard skip(4) else { return nil }
            return segment.getInteger(at: start, as: UInt32.self)
        }
    }

    /// Whether any valid record starts anywhere in `segment` from `start` on: tells a torn tail
    /// (nothing valid follows the damage) from corruption (good data follows it).
    static func hasValidRecord(in segment: ByteBuffer, from start: Int) -> Bool {
        var candidate = start
        while segment.writerIndex - candidate >= WALFormat.recordHeaderByteCount {
            // Cheap checks first, so scanning megabytes of damage rarely computes a checksum.
            if isPlausibleRecord(in: segment, at: candidate), case .record = parse(segment, at: candidate) {
                return true
            }
            candidate += 1
        }
        return false
    }

    /// Whether a record could start at `offset`: a known type, a length that fits in the file,
    /// and a payload that begins the way payloads of that type do.
    static func isPlausibleRecord(in segment: ByteBuffer, at offset: Int) -> Bool {
        guard let (length32, _, typeByte) = segment.getMultipleIntegers(at: offset, as: (UInt32, UInt32, UInt8).self),
            let type = RecordType(rawValue: typeByte & ~WALFormat.batchEndFlag)
        else { return false }
        let length = Int(length32)
        let payloadStart = offset + WALFormat.recordHeaderByteCount
        guard length <= segment.writerIndex - payloadStart, length >= 1,
            let first = segment.getInteger(at: payloadStart, as: UInt8.self)
        else { return false }
        switch type {
        case .segmentHeader:
            return length == WALFormat.segmentMagic.count + 1 + 24
                && segment.getBytes(at: payloadStart, length: WALFormat.segmentMagic.count) == WALFormat.segmentMagic
        case .hardState:
            // Version, term, presence (and node), commit.
            return (length == 18 || length == 26) && first == RaftCodec.formatVersion
        case .snapshot:
            return length >= 30 && first <= SnapshotRecordFlag.keepsLaterEntries
                && segment.getInteger(at: payloadStart + 1, as: UInt8.self) == RaftCodec.formatVersion
        case .entries:
            guard length >= 5, first == RaftCodec.formatVersion,
                let count = segment.getInteger(at: payloadStart + 1, as: UInt32.self)
            else { return false }
            return Int(count) <= (length - 5) / RaftCodec.entryHeaderByteCount
        }
    }
}
