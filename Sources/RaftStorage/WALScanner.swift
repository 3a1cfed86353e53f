import NIOCore
import RaftCodec
import RaftCore

/// What the storage knows about one segment file.
struct SegmentInfo {
    var sequence: UInt64
    var name: String
    /// The bytes of valid records in it.
    var size = 0
    /// The highest entry index ever written to it (zero if none): once a snapshot covers it,
    /// the segment holds nothing the log still needs.
    var entryIndexMax = LogIndex.zero
}

/// Damage at the end of the last segment with nothing valid after it: an interrupted write.
struct TornTail {
    var path: String
    var offset: Int
    var fileSize: Int
    var reason: String
}

/// Reads every segment of a data dir, in order, into a `LogState`, without changing anything.
struct WALScanner {
    struct Result {
        var log: LogState
        var segments: [SegmentInfo]
        var tornTail: TornTail?
    }

    let disk: any Disk
    let directory: String

    func scan() throws(StorageError) -> Result {
        let sequences = try disk.contentsOfDirectory(atPath: directory)
            .compactMap(WALFormat.segmentSequence(fromName:)).sorted()
        var result = Result(log: LogState(isKeepingEntries: true), segments: [], tornTail: nil)
        var lastHardStateAt: (path: String, offset: Int)?
        for (position, sequence) in sequences.enumerated() {
            var segment = SegmentInfo(sequence: sequence, name: WALFormat.segmentName(sequence: sequence))
            let path = directory + "/" + segment.name
            // The next segment's number is one more than the last one's: leave room for it.
            guard sequence < WALFormat.segmentSequenceMax else {
                throw .corruptRecord(file: path, offset: 0, reason: "segment number above \(WALFormat.segmentSequenceMax)")
            }
            if position > 0 && sequence != sequences[position - 1] + 1 {
                throw .corruptRecord(
                    file: path, offset: 0,
                    reason: "segment \(WALFormat.segmentName(sequence: sequences[position - 1] + 1)) is missing")
            }
            let isLast = position == sequences.count - 1
            let bytes = try disk.readFile(atPath: path)
            let end = try scanSegment(
                bytes, path: path, isLast: isLast, isFirst: position == 0, into: &result, segment: &segment,
                lastHardStateAt: &lastHardStateAt)
            segment.size = end
            if segment.size == 0 && !isLast {
                throw .corruptRecord(file: path, offset: 0, reason: "empty segment that is not the last")
            }
            result.segments.append(segment)
        }
        let log = result.log
        if log.hasUnknownEntries, let first = result.segments.first {
            throw .corruptRecord(
                file: directory + "/" + first.name, offset: 0,
                reason: "entries \(log.snapshot.index.next) through \(log.unknownThrough) are missing: "
                    + "segments before this one were deleted without a snapshot covering them")
        }
        // Without a hard state record (crafted or damaged bytes; the engine always restates one)
        // the checks still apply, naming the first segment.
        let hardStateAt = lastHardStateAt ?? result.segments.first.map { (directory + "/" + $0.name, 0) }
        if let (path, offset) = hardStateAt {
            // The core's own checks on what it restarts from (RaftLog.validate), named here with
            // a file and an offset.
            if log.hardState.commit > log.lastIndex {
                throw .corruptRecord(
                    file: path, offset: offset,
                    reason: "hard state commits index \(log.hardState.commit) but the log ends at \(log.lastIndex)")
            }
            if let lastTerm = log.term(at: log.lastIndex), log.hardState.term < lastTerm {
                throw .corruptRecord(
                    file: path, offset: offset,
                    reason: "hard state term \(log.hardState.term) is below the last entry's term \(lastTerm)")
            }
        }
        return result
    }

    /// Folds one segment's complete batches into `result`; returns where its valid records end.
    /// A torn tail (only in the last segment) is recorded in `result.tornTail`, cut at the start
    /// of its incomplete batch.
    private func scanSegment(
        _ bytes: ByteBuffer, path: String, isLast: Bool, isFirst: Bool, into result: inout Result,
        segment: inout SegmentInfo, lastHardStateAt: inout (path: String, offset: Int)?
    ) throws(StorageError) -> Int {
        var pending: [WALRecord] = []
        var offset = 0
        while offset < bytes.writerIndex {
            switch WALRecordParser.parse(bytes, at: offset) {
            case .cutShort(let reason):
                // Issue 8, finding 6: the bytes after a cut-short record's header are its own
                // payload. Searching them for "later" records would let a client's value that
                // contains a valid-looking record turn a torn write into a node that refuses to start.
                guard isLast else {
                    throw .corruptRecord(file: path, offset: offset, reason: "\(reason) (in a segment that is not the last)")
                }
                let cut = pending.first?.offset ?? offset
                result.tornTail = TornTail(path: path, offset: cut, fileSize: bytes.writerIndex, reason: reason)
                return cut
            case .damaged(let reason):
                let searchStart = WALRecordParser.searchStart(afterDamagedRecordAt: offset, in: bytes)
                guard isLast && !WALRecordParser.hasValidRecord(in: bytes, from: searchStart) else {
                    let context = isLast ? "valid records follow it" : "in a segment that is not the last"
                    throw .corruptRecord(file: path, offset: offset, reason: "\(reason) (\(context))")
                }
                let cut = pending.first?.offset ?? offset
                result.tornTail = TornTail(path: path, offset: cut, fileSize: bytes.writerIndex, reason: reason)
                return cut
            case .record(let record, let next):
                pending.append(record)
                offset = next
                guard record.isBatchEnd else { continue }
                for record in pending {
                    do {
                        try apply(record, to: &result.log, segment: &segment, isFirstSegment: isFirst)
                    } catch {
                        throw .corruptRecord(file: path, offset: record.offset, reason: error.reason)
                    }
                    if record.type == .hardState { lastHardStateAt = (path, record.offset) }
                }
                pending.removeAll()
            }
        }
        guard let first = pending.first else { return offset }
        guard isLast else {
            throw .corruptRecord(
                file: path, offset: first.offset,
                reason: "a batch without its last record in a segment that is not the last")
        }
        result.tornTail = TornTail(
            path: path, offset: first.offset, fileSize: bytes.writerIndex, reason: "a batch without its last record")
        return first.offset
    }

    /// Why a record that passed its checksum cannot be applied.
    struct RecordError: Error {
        var reason: String
    }

    private func apply(_ record: WALRecord, to log: inout LogState, segment: inout SegmentInfo, isFirstSegment: Bool)
        throws(RecordError)
    {
        var payload = record.payload
        if record.offset == 0 || record.type == .segmentHeader {
            guard record.offset == 0, record.type == .segmentHeader else {
                throw RecordError(reason: "a segment must start with exactly one segment header")
            }
            let header = try readHeader(&payload, sequence: segment.sequence)
            try start(&log, at: header, isFirstSegment: isFirstSegment)
            return
        }
        do {
            switch record.type {
            case .segmentHeader:
                preconditionFailure("WALScanner: segment headers are handled above")
            case .entries:
                let entries = try payload.readRaftEntries()
                if let violation = log.violation(appending: entries) { throw RecordError(reason: violation) }
                log.append(entries)
                if let last = entries.last { segment.entryIndexMax = max(segment.entryIndexMax, last.index) }
            case .hardState:
                log.hardState = try payload.readHardState()
            case .snapshot:
                let flags = try payload.readFlagByte()
                let metadata = try payload.readSnapshotMetadata()
                if let violation = log.violation(installing: metadata) { throw RecordError(reason: violation) }
                let keepsLaterEntries = flags & SnapshotRecordFlag.keepsLaterEntries != 0
                if keepsLaterEntries, let violation = log.violation(keepingEntriesAfter: metadata) {
                    throw RecordError(reason: violation)
                }
                log.install(metadata, keepsLaterEntries: keepsLaterEntries)
            }
        } catch let error as CodecError {
            throw RecordError(reason: "undecodable \(record.type) record: \(error)")
        } catch let error as RecordError {
            throw error
        } catch {
            throw RecordError(reason: "\(error)")
        }
        guard payload.readableBytes == 0 else {
            throw RecordError(reason: "\(payload.readableBytes) unexpected bytes after the \(record.type) record's payload")
        }
    }

    private func readHeader(_ payload: inout ByteBuffer, sequence: UInt64) throws(RecordError) -> SegmentHeader {
        guard payload.readBytes(length: WALFormat.segmentMagic.count) == WALFormat.segmentMagic,
            let version = payload.readInteger(as: UInt8.self)
        else { throw RecordError(reason: "not a WAL segment header") }
        guard version == WALFormat.segmentFormatVersion else {
            throw RecordError(reason: "unknown WAL format version \(version)")
        }
        guard let (stored, lastIndex, lastTerm) = payload.readMultipleIntegers(as: (UInt64, UInt64, UInt64).self),
            payload.readableBytes == 0
        else { throw RecordError(reason: "malformed WAL segment header") }
        guard lastIndex <= LogIndex.wireMax.rawValue, lastTerm <= Term.wireMax.rawValue else {
            throw RecordError(reason: "segment header names index \(lastIndex) term \(lastTerm), above the bound \(LogIndex.wireMax)")
        }
        guard stored == sequence else {
            throw RecordError(reason: "header names segment \(stored), the file name says \(sequence)")
        }
        return SegmentHeader(sequence: stored, lastIndex: LogIndex(lastIndex), lastTerm: Term(lastTerm))
    }

    /// The first segment read may follow deleted ones (its header says where the log stood);
    /// every later one must continue exactly where the previous one ended.
    private func start(_ log: inout LogState, at header: SegmentHeader, isFirstSegment: Bool) throws(RecordError) {
        if isFirstSegment {
            if header.lastIndex > .zero { log.startAfterDeletedSegments(lastIndex: header.lastIndex, term: header.lastTerm) }
            return
        }
        let lastTerm = log.term(at: log.lastIndex)
        guard header.lastIndex == log.lastIndex, lastTerm == nil || lastTerm == header.lastTerm else {
            throw RecordError(
                reason: "segment starts after index \(header.lastIndex) term \(header.lastTerm), "
                    + "but the previous segments end at index \(log.lastIndex)")
        }
    }
}

extension ByteBuffer {
    fileprivate mutating func readFlagByte() throws(CodecError) -> UInt8 {
        guard let flags = readInteger(as: UInt8.self) else { throw .truncated }
        guard flags & ~SnapshotRecordFlag.keepsLaterEntries == 0 else { throw .invalid("snapshot record flags \(flags)") }
        return flags
    }
}
