import Logging
import RaftCodec
import RaftCore
import WRaftSupport
import RaftStorage
import RaftStorageTesting

/// Recovery from a WAL segment: the input is the bytes of a data dir's only segment, recovered
/// by the real `StorageEngine` on a `SimulatedDisk` (the scanner, the record parser, the codec
/// and the torn-tail cut, as a restarting node runs them).
///
/// Properties, for every input:
/// - recovery returns a log or throws a `StorageError`, never traps;
/// - a recovered log keeps the core's invariants: entries contiguous right after the
///   snapshot, their terms never decreasing, the commit index within the log, the hard state's
///   term at least the last entry's;
/// - recovery is idempotent: recovering the same dir again (after any torn tail was cut) gives
///   the same log and changes no byte;
/// - a recovered log can be appended to, and the append survives the next recovery.
package enum WALHarness: FuzzHarness {
    package static let name = "WAL"
    static let directory = "/data"
    static let segmentPath = "/data/wal-0000000000000001.log"

    /// The property a torn append broke before issue 8, finding 6 was fixed.
    package static let tornAppendProperty = "a torn append (a crash mid-write) recovers to the log before it"

    package static func check(_ input: [UInt8]) throws(PropertyViolation) {
        try checkSegment(input, value: input)
        // Mutations rarely keep a checksum valid, so also recover the input with every record's
        // checksum made right: that reaches the record payload decoders and the log checks.
        let fixed = withValidChecksums(input)
        if fixed != input { try checkSegment(fixed, value: input) }
    }

    /// Recovers `segment`; then appends an entry holding `value` (a client's value: any bytes,
    /// including a WAL's own) and checks that recovery keeps it, and that tearing that append
    /// anywhere recovers the log as it was before it.
    static func checkSegment(_ segment: [UInt8], value: [UInt8]) throws(PropertyViolation) {
        let disk = SimulatedDisk()
        guard let first = try? recover(disk, planting: segment) else { return }
        try checkInvariants(first, "recovered")
        let recoveredBytes = disk.contents(ofFile: segmentPath) ?? []
        guard let second = try? recover(disk) else {
            throw PropertyViolation(harness: name, property: "a recovered dir recovers again", detail: "the second recovery failed")
        }
        try require(self, same(first, second), "recovering again gives the same log")
        try require(self, disk.contents(ofFile: segmentPath) == recoveredBytes, "recovering a recovered dir changes nothing")
        // Append one entry after what was recovered, as the node's next persist would.
        let lastIndex = first.entries.last?.index ?? first.snapshot.index
        let lastTerm = max(first.entries.last?.term ?? first.snapshot.term, first.hardState.term, Term(1))
        guard lastIndex.rawValue < UInt64.max else { return }
        let entry = Entry(term: lastTerm, index: lastIndex.next, data: value)
        var hardState = first.hardState
        hardState.term = lastTerm
        do {
            let storage = try engine(disk)
            _ = try storage.recover()
            try storage.persist(hardState: hardState, entries: [entry], snapshot: nil)
            storage.close()
        } catch {
            throw PropertyViolation(harness: name, property: "a recovered log accepts an append", detail: "\(error)")
        }
        let appendedBytes = disk.contents(ofFile: segmentPath) ?? []
        guard let third = try? recover(disk) else {
            throw PropertyViolation(harness: name, property: "an append to a recovered log recovers", detail: "")
        }
        var expected = first
        expected.entries.append(entry)
        expected.hardState = hardState
        try require(self, same(expected, third), "an append to a recovered log survives recovery")
        // Tear the append: a crash left only a prefix of its bytes on disk.
        let start = recoveredBytes.count
        let appended = appendedBytes.count - start
        guard appended > 1 else { return }
        for cut in Set([start + 1, start + appended / 2, appendedBytes.count - 1]) {
            disk.replaceContents(ofFile: segmentPath, with: Array(appendedBytes.prefix(cut)))
            let torn: PersistentState
            do {
                torn = try recover(disk)
            } catch {
                throw PropertyViolation(
                    harness: name, property: tornAppendProperty,
                    detail: "cut at \(cut) of \(appendedBytes.count) (append started at \(start)): \(error)")
            }
            try require(self, same(torn, first), tornAppendProperty, "cut at \(cut): a different log")
        }
    }

    /// `bytes` with the checksum of every whole record (from the start, while lengths fit) set
    /// right, as `writeWALRecord` computes it: CRC-32C of the length field, the type and the payload.
    static func withValidChecksums(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var offset = 0
        while out.count - offset >= 9 {
            let length = out[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length <= out.count - offset - 9 else { break }
            let checksum = out.withUnsafeBytes { raw in
                CRC32C.checksum(
                    UnsafeRawBufferPointer(rebasing: raw[(offset + 8)..<(offset + 9 + length)]),
                    seed: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 4)])))
            }
            for byte in 0..<4 { out[offset + 4 + byte] = UInt8(truncatingIfNeeded: checksum >> (24 - 8 * byte)) }
            offset += 9 + length
        }
        return out
    }

    static func engine(_ disk: SimulatedDisk) throws(StorageError) -> StorageEngine {
        try StorageEngine(directory: directory, disk: disk, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Recovers the dir on `disk`, first writing `bytes` as its segment when given.
    static func recover(_ disk: SimulatedDisk, planting bytes: [UInt8]? = nil) throws(StorageError) -> PersistentState {
        let storage = try engine(disk)
        defer { storage.close() }
        if let bytes {
            if !disk.fileExists(atPath: segmentPath) {
                try disk.openFile(atPath: segmentPath, mode: .create).close()
            }
            disk.replaceContents(ofFile: segmentPath, with: bytes)
        }
        return try storage.recover()
    }

    static func checkInvariants(_ state: PersistentState, _ label: String) throws(PropertyViolation) {
        var expectedIndex = state.snapshot.index
        var previousTerm = state.snapshot.term
        for entry in state.entries {
            try require(
                self, expectedIndex.rawValue < UInt64.max && entry.index == expectedIndex.next,
                "\(label) entries are contiguous after the snapshot", "\(entry.index) after \(expectedIndex)")
            try require(self, entry.term >= previousTerm, "\(label) entry terms never decrease", "at \(entry.index)")
            expectedIndex = entry.index
            previousTerm = entry.term
        }
        try require(
            self, state.hardState.commit <= expectedIndex, "the \(label) commit index is within the log",
            "commit \(state.hardState.commit), last \(expectedIndex)")
        try require(
            self, state.hardState.term >= previousTerm || state.entries.isEmpty,
            "the \(label) hard state's term is at least the last entry's")
    }

    static func same(_ a: PersistentState, _ b: PersistentState) -> Bool {
        a.hardState == b.hardState && a.snapshot == b.snapshot && a.entries == b.entries
    }

    package static func seeds() -> [[UInt8]] {
        // Real segments: written by the engine itself, then read back from the simulated disk.
        var seeds: [[UInt8]] = []
        func segment(_ writes: (StorageEngine) throws(StorageError) -> Void) {
            let disk = SimulatedDisk()
            guard let storage = try? engine(disk), (try? storage.recover()) != nil else { return }
            try? writes(storage)
            storage.close()
            if let bytes = disk.contents(ofFile: segmentPath) { seeds.append(bytes) }
        }
        let entries = Samples.entries
        segment { storage throws(StorageError) in
            try storage.persist(hardState: HardState(term: Term(3), votedFor: NodeID(1), commit: LogIndex(2)), entries: entries, snapshot: nil)
        }
        segment { storage throws(StorageError) in
            try storage.persist(hardState: HardState(term: Term(1)), entries: Array(entries.prefix(2)), snapshot: nil)
            try storage.persist(hardState: HardState(term: Term(3), commit: LogIndex(4)), entries: Array(entries.dropFirst(2)), snapshot: nil)
            // Overwrite a suffix, as a new leader's entries would.
            try storage.persist(
                hardState: HardState(term: Term(4), commit: LogIndex(2)),
                entries: [Entry(term: Term(4), index: LogIndex(3), data: [1, 2, 3])], snapshot: nil)
        }
        segment { storage throws(StorageError) in
            try storage.persist(hardState: HardState(term: Term(2)), entries: Array(entries.prefix(2)), snapshot: nil)
            let metadata = SnapshotMetadata(index: LogIndex(2), term: Term(1), membership: Samples.membership)
            try storage.saveSnapshot(metadata, data: Array("state".utf8))
        }
        // A torn tail: the first seed with its last record cut short.
        if let whole = seeds.first { seeds.append(Array(whole.dropLast(7))) }
        return seeds
    }
}
