import Logging
import NIOCore
import RaftCodec
import RaftCore

/// The durable storage of one Raft node in one data dir: the write-ahead log (segments of
/// checksummed records), snapshot files, and the node's identity.
///
/// It does blocking I/O and is not thread-safe: exactly one owner uses it at a time, from one
/// thread (the server wraps it in `DurableStorage`, an actor running on a dedicated event
/// loop, so fsyncs never block Swift's cooperative pool).
///
/// Lifecycle: `init` checks and locks the data dir (another process is refused it until this
/// storage is closed or deinitialized, or the process ends); `recover()` (once) reads the log
/// and must come before `persist`, `saveSnapshot` and `latestSnapshot`. The identity functions
/// work at any time until `close()`.
/// After a failed write or fsync the storage refuses all further work (`StorageError.failed`):
/// the file's state is unknown, and retrying an fsync can falsely succeed; restart and recover.
///
/// ## The data dir
/// ```
/// LOCK                          locked (fcntl) by the process that has the dir open
/// identity                      node id, cluster id, addresses (text, with a checksum)
/// wal-<sequence, 16 hex>.log    WAL segments (format: `WALFormat`), oldest first
/// snapshot-<index, 16 hex>.snap snapshot files (format: `SnapshotFile`), newest two kept
/// ```
/// Anything else in the dir is left alone. Nothing is ever reset: a file that cannot be read
/// stops the node with an error that names it.
public final class StorageEngine {
    /// The data dir.
    public let directory: String
    private let disk: any Disk
    private let options: StorageOptions
    private var logger: Logger
    private let metrics: StorageMetrics

    /// The log as made durable so far; nil until `recover()`.
    private var log: LogState?
    /// The segments, oldest first; the last one is the one appended to.
    private var segments: [SegmentInfo] = []
    private var activeFile: (any DiskFile)?
    private var directoryLock: (any DirectoryLock)?
    private var failure: StorageError?
    /// Bytes appended to the WAL by this instance (for the benchmark).
    package private(set) var writtenByteCount = 0
    /// Reused for every batch, so steady-state persisting allocates nothing for framing.
    private var writeBuffer = ByteBufferAllocator().buffer(capacity: StorageEngine.writeBufferBytesRetained)
    /// A write buffer grown past this by a big batch is let go afterwards (not kept for ever).
    private static let writeBufferBytesRetained = 1 << 20

    /// Opens (creating it if needed) the data dir `directory`. Reads nothing yet.
    public init(
        directory: String, disk: any Disk = PosixDisk(), options: StorageOptions = .init(), logger: Logger
    ) throws(StorageError) {
        try options.validate()
        self.directory = directory
        self.disk = disk
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "storage.directory"] = .string(directory)
        self.metrics = StorageMetrics(factory: options.metricsFactory)
        try disk.prepareDirectory(atPath: directory)
        self.directoryLock = try disk.lockDirectory(atPath: directory)
        try restrictAccess()
    }

    /// Data dirs made before WRaft restricted them (issue 8, finding 5: 0755, files 0644) are
    /// tightened to 0700 and 0600 at start, with a log line per change. Only the storage's own
    /// files are touched; anything else in the dir is left alone.
    private func restrictAccess() throws(StorageError) {
        var paths = [directory]
        for name in try disk.contentsOfDirectory(atPath: directory) where Self.isOwnFile(name) {
            paths.append(filePath(name))
        }
        for path in paths {
            guard let previous = try disk.restrictToOwner(atPath: path) else { continue }
            logger.info(
                "took group and other permissions away from a data dir entry (values, votes and identity are this user's alone)",
                metadata: ["storage.file": "\(path)", "storage.previous_mode": "\(String(previous, radix: 8))"])
        }
    }

    /// Whether a data dir entry is one the storage writes (see the layout in the type's doc).
    private static func isOwnFile(_ name: String) -> Bool {
        name == "LOCK" || name == IdentityFile.name || name == IdentityFile.name + ".tmp"
            || WALFormat.segmentSequence(fromName: name) != nil || SnapshotFile.index(fromName: name) != nil
            || (name.hasPrefix("snapshot-") && name.hasSuffix(".snap.tmp"))
    }

    deinit {
        activeFile?.close()
        directoryLock?.release()
    }

    /// Closes the files and unlocks the data dir; every later call throws `StorageError.failed`.
    /// Everything persisted stays durable (each call synced before returning).
    public func close() {
        activeFile?.close()
        activeFile = nil
        directoryLock?.release()
        directoryLock = nil
        if failure == nil { failure = .failed(reason: "the storage was closed") }
    }

    // MARK: Recovery

    /// Reads every segment and returns what the log holds, ready for `RaftNode.init`: the hard
    /// state, the latest snapshot's metadata, and the stored entries after it (contiguous).
    ///
    /// A torn tail (damaged or partial records at the end of the last segment, with nothing
    /// valid after them) is cut off, with one log line. Any other damage throws
    /// `StorageError.corruptRecord` naming the file and offset, and modifies nothing.
    public func recover() throws(StorageError) -> PersistentState {
        precondition(log == nil, "StorageEngine: recover() is called once")
        let scan = try WALScanner(disk: disk, directory: directory).scan()
        if let torn = scan.tornTail {
            try cutTornTail(torn)
        }
        segments = scan.segments
        if let last = segments.last {
            activeFile = try disk.openFile(atPath: path(of: last), mode: .append)
        }
        metrics.segmentCount.record(segments.count)
        let recovered = PersistentState(
            hardState: scan.log.hardState, snapshot: scan.log.snapshot, entries: scan.log.entries)
        log = scan.log.withoutEntries()
        logger.info(
            "recovered the log",
            metadata: [
                "storage.segments": "\(segments.count)", "raft.snapshot_index": "\(recovered.snapshot.index)",
                "raft.last_index": "\(scan.log.lastIndex)", "raft.term": "\(recovered.hardState.term)",
            ])
        return recovered
    }

    private func cutTornTail(_ torn: TornTail) throws(StorageError) {
        logger.info(
            "cutting a torn tail off the last WAL segment (an interrupted write that was never acknowledged)",
            metadata: [
                "storage.file": "\(torn.path)", "storage.offset": "\(torn.offset)",
                "storage.bytes_dropped": "\(torn.fileSize - torn.offset)", "storage.reason": "\(torn.reason)",
            ])
        let file = try disk.openFile(atPath: torn.path, mode: .append)
        defer { file.close() }
        try file.truncate(toSize: torn.offset)
        try file.synchronize()
    }

    // MARK: Persisting

    /// Makes durable what one `Ready` asks for, with one write and ONE fsync (group commit):
    /// the marker of a snapshot installed from the leader (the log then restarts after it; its
    /// file must have been written by `saveSnapshot` first), then `entries` (replacing any
    /// stored suffix from their first index on), then `hardState`. Doing nothing costs nothing.
    ///
    /// Preconditions (the core's invariants): entries are contiguous, start after the snapshot
    /// and at most one past the last stored index, and their terms do not go backwards; a
    /// snapshot does not go back before the stored one.
    public func persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?) throws(StorageError) {
        var next = try usableLog()
        guard hardState != nil || !entries.isEmpty || snapshot != nil else { return }
        writeBuffer.clear()
        if let snapshot {
            precondition(next.violation(installing: snapshot) == nil, "persist: \(next.violation(installing: snapshot) ?? "")")
            precondition(
                disk.fileExists(atPath: filePath(SnapshotFile.name(index: snapshot.index))),
                "persist(snapshot:): saveSnapshot wrote the snapshot's file first")
            next.install(snapshot, keepsLaterEntries: false)
            writeBuffer.writeSnapshotRecord(
                snapshot, keepsLaterEntries: false, endsBatch: entries.isEmpty && hardState == nil)
        }
        if !entries.isEmpty {
            precondition(next.violation(appending: entries) == nil, "persist: \(next.violation(appending: entries) ?? "")")
            next.append(entries)
            writeBuffer.writeEntriesRecords(entries, payloadBytesMax: options.recordBytesMax, endsBatch: hardState == nil)
        }
        if let hardState {
            next.hardState = hardState
            writeBuffer.writeHardStateRecord(hardState, endsBatch: true)
        }
        try appendDurably(writeBuffer, entryIndexMax: entries.last?.index)
        log = next
        if writeBuffer.capacity > Self.writeBufferBytesRetained {
            writeBuffer = ByteBufferAllocator().buffer(capacity: Self.writeBufferBytesRetained)
        }
    }

    /// Appends `batch` to the active segment (rotating first when it would grow past
    /// `segmentBytesMax`) and fsyncs it. On failure the storage stops (see the type's doc).
    private func appendDurably(_ batch: ByteBuffer, entryIndexMax: LogIndex?) throws(StorageError) {
        do {
            if segments.isEmpty || needsRotation(adding: batch.readableBytes) {
                try startSegment()
            }
            try writeToActiveSegment(batch, entryIndexMax: entryIndexMax)
        } catch {
            failure = .failed(reason: error.description)
            logger.error("WAL write failed; storage stops", metadata: ["storage.error": "\(error)"])
            throw error
        }
    }

    private func needsRotation(adding byteCount: Int) -> Bool {
        guard let active = segments.last else { return true }
        return active.size > 0 && active.size + byteCount > options.segmentBytesMax
    }

    /// Creates the next segment file and makes its name durable; its header records go out
    /// with the first batch written to it.
    private func startSegment() throws(StorageError) {
        let sequence = (segments.last?.sequence ?? 0) + 1
        let segment = SegmentInfo(sequence: sequence, name: WALFormat.segmentName(sequence: sequence))
        let file = try disk.openFile(atPath: path(of: segment), mode: .create)
        activeFile?.close()
        activeFile = file
        segments.append(segment)
        try disk.synchronizeDirectory(atPath: directory)
        metrics.segmentCount.record(segments.count)
        logger.debug("started WAL segment", metadata: ["storage.file": "\(segment.name)"])
    }

    private func writeToActiveSegment(_ batch: ByteBuffer, entryIndexMax: LogIndex?) throws(StorageError) {
        guard let file = activeFile, var segment = segments.last, let log else {
            preconditionFailure("StorageEngine: a segment is open after recovery")
        }
        var bytes = batch
        if segment.size == 0 {
            // A fresh (or emptied) segment starts with its header and a restatement of the log's
            // state, so every older segment can go once a snapshot covers its entries.
            bytes = ByteBufferAllocator().buffer(capacity: batch.readableBytes + 512)
            bytes.writeSegmentHeaderRecord(
                SegmentHeader(sequence: segment.sequence, lastIndex: log.lastIndex, lastTerm: log.term(at: log.lastIndex) ?? .zero))
            bytes.writeHardStateRecord(log.hardState, endsBatch: false)
            if log.snapshot.index > .zero {
                bytes.writeSnapshotRecord(log.snapshot, keepsLaterEntries: true, endsBatch: false)
            }
            bytes.writeImmutableBuffer(batch)
        }
        try file.append(bytes)
        let start = ContinuousClock.now
        try file.synchronize()
        metrics.fsyncDuration.record(duration: ContinuousClock.now - start)
        metrics.bytesWritten.increment(by: bytes.readableBytes)
        writtenByteCount += bytes.readableBytes
        segment.size += bytes.readableBytes
        if let entryIndexMax { segment.entryIndexMax = max(segment.entryIndexMax, entryIndexMax) }
        segments[segments.count - 1] = segment
    }

    // MARK: Snapshots

    /// Writes a snapshot file atomically (temporary file, fsync, rename, fsync of the data dir).
    ///
    /// When the stored log holds the snapshot's last entry with its term (always so for a
    /// snapshot of this node's own state machine), the log is then compacted through it: a
    /// marker is logged (one fsync), the segments it wholly covers are deleted, and all
    /// snapshot files but this one and the newest older one. A snapshot received from a leader
    /// that the stored log does not match only gets its file here; its `Ready` then goes through
    /// `persist(snapshot:)`, which resets the log to it (until then, a crash leaves the log as
    /// it was, so the hard state never lags behind the snapshot's term).
    ///
    /// Precondition: `metadata` is not older than the stored snapshot.
    public func saveSnapshot(_ metadata: SnapshotMetadata, data: [UInt8]) throws(StorageError) {
        var next = try usableLog()
        precondition(next.violation(installing: metadata) == nil, "saveSnapshot: \(next.violation(installing: metadata) ?? "")")
        let name = SnapshotFile.name(index: metadata.index)
        try disk.writeFileAtomically(
            SnapshotFile.encode(metadata, data: data), toPath: filePath(name), directory: directory)
        logger.info(
            "saved snapshot",
            metadata: ["raft.snapshot_index": "\(metadata.index)", "storage.bytes": "\(data.count)"])
        guard next.keepsLaterEntries(installing: metadata) else { return }
        if metadata != next.snapshot {
            next.install(metadata, keepsLaterEntries: true)
            writeBuffer.clear()
            writeBuffer.writeSnapshotRecord(metadata, keepsLaterEntries: true, endsBatch: true)
            try appendDurably(writeBuffer, entryIndexMax: nil)
            log = next
        }
        try deleteCoveredSegments(through: metadata.index)
        try deleteOldSnapshots(keeping: metadata.index)
    }

    /// The snapshot the recovered log starts after (its bytes and metadata, verified), or nil
    /// when the log starts at the beginning.
    public func latestSnapshot() throws(StorageError) -> (SnapshotMetadata, [UInt8])? {
        let log = try usableLog()
        guard log.snapshot.index > .zero else { return nil }
        let path = filePath(SnapshotFile.name(index: log.snapshot.index))
        guard disk.fileExists(atPath: path) else {
            throw .corruptSnapshot(file: path, reason: "missing, though the log is compacted through it")
        }
        let (metadata, data) = try SnapshotFile.decode(try disk.readFile(atPath: path), path: path)
        guard metadata == log.snapshot else {
            throw .corruptSnapshot(
                file: path,
                reason: "describes index \(metadata.index) term \(metadata.term), the log names term \(log.snapshot.term)")
        }
        return (metadata, data)
    }

    /// Deletes the oldest segments while every entry in them is covered by the snapshot (never
    /// the active one), oldest first with a directory fsync after each, so a crash can only
    /// leave a shorter prefix deleted, never a hole.
    private func deleteCoveredSegments(through index: LogIndex) throws(StorageError) {
        while segments.count > 1, segments[0].entryIndexMax <= index {
            let segment = segments.removeFirst()
            try disk.removeFile(atPath: path(of: segment))
            try disk.synchronizeDirectory(atPath: directory)
            metrics.segmentCount.record(segments.count)
            logger.debug("deleted WAL segment covered by the snapshot", metadata: ["storage.file": "\(segment.name)"])
        }
    }

    /// Keeps the snapshot at `index` (the log's) and the newest older one; deletes the rest
    /// and leftover temporary files.
    private func deleteOldSnapshots(keeping index: LogIndex) throws(StorageError) {
        let names = try disk.contentsOfDirectory(atPath: directory)
        let olderKept = names.compactMap(SnapshotFile.index(fromName:)).filter { $0 < index }.max()
        var removedCount = 0
        for name in names {
            let isStale: Bool
            if let snapshotIndex = SnapshotFile.index(fromName: name) {
                isStale = snapshotIndex < index && snapshotIndex != olderKept
            } else {
                isStale = name.hasPrefix("snapshot-") && name.hasSuffix(".snap.tmp")
            }
            if isStale {
                try disk.removeFile(atPath: filePath(name))
                removedCount += 1
            }
        }
        if removedCount > 0 { try disk.synchronizeDirectory(atPath: directory) }
    }

    // MARK: Identity

    /// The node's identity, or nil when the data dir has none yet (a fresh node).
    public func loadIdentity() throws(StorageError) -> NodeIdentity? {
        try checkOpen()
        let path = filePath(IdentityFile.name)
        guard disk.fileExists(atPath: path) else { return nil }
        return try IdentityFile.decode(try disk.readFile(atPath: path), path: path)
    }

    /// Replaces the node's identity atomically.
    public func saveIdentity(_ identity: NodeIdentity) throws(StorageError) {
        try checkOpen()
        try disk.writeFileAtomically(
            try IdentityFile.encode(identity), toPath: filePath(IdentityFile.name), directory: directory)
    }

    // MARK: Helpers

    private func checkOpen() throws(StorageError) {
        if directoryLock == nil, let failure { throw failure }
    }

    private func usableLog() throws(StorageError) -> LogState {
        if let failure { throw failure }
        guard let log else { preconditionFailure("StorageEngine: recover() is called before using the log") }
        return log
    }

    private func filePath(_ name: String) -> String {
        directory + "/" + name
    }

    private func path(of segment: SegmentInfo) -> String {
        filePath(segment.name)
    }
}
