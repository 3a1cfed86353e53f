import RaftCore
import WRaftSupport

/// A key as stored: bytes ordered lexicographically, byte by byte (as memcmp orders them).
///
/// The first 8 bytes are also kept inline, big-endian and zero-padded, so most comparisons in a
/// lookup decide without reading the key's heap buffer (a cache miss per key otherwise).
struct StoredKey: Comparable, Hashable, Sendable {
    let bytes: [UInt8]
    /// Invariant: the first 8 bytes of `bytes` (zero-padded), most significant first.
    private let head: UInt64

    init(bytes: [UInt8]) {
        self.bytes = bytes
        var head: UInt64 = 0
        for position in 0..<8 {
            head <<= 8
            if position < bytes.count { head |= UInt64(bytes[position]) }
        }
        self.head = head
    }

    static func == (lhs: StoredKey, rhs: StoredKey) -> Bool {
        lhs.head == rhs.head && lhs.bytes == rhs.bytes
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(bytes)
    }

    static func < (lhs: StoredKey, rhs: StoredKey) -> Bool {
        // Different heads order the keys (padding zeros sort a shorter key first, as a byte
        // comparison does); equal heads need the whole keys.
        if lhs.head != rhs.head { return lhs.head < rhs.head }
        return lhs.bytes.withUnsafeBufferPointer { left in
            rhs.bytes.withUnsafeBufferPointer { right in
                let common = min(left.count, right.count)
                var position = 8
                while position < common {
                    if left[position] != right[position] { return left[position] < right[position] }
                    position += 1
                }
                return left.count < right.count
            }
        }
    }
}

/// A value as stored, with the entry that last wrote it and its revisions.
struct StoredValue: Sendable, Equatable {
    var value: [UInt8]
    var index: LogIndex
    var term: Term
    var createRevision: UInt64
    var modRevision: UInt64
    var version: UInt64
    var lease: Int64

    func entry(key: [UInt8]) -> KVEntry {
        KVEntry(
            key: key, value: value, createRevision: createRevision, modRevision: modRevision, version: version,
            lease: lease, index: index, term: term)
    }
}

/// The deterministic replicated key-value state machine: ordered byte keys, values with the
/// index and term that last modified them, compare-and-set, client sessions that make retried
/// requests apply once, and snapshot/restore. No I/O, no time: every replica that applies the
/// same entries holds the same state (and produces the same snapshot bytes).
///
/// A value type; copying is O(1) (copy-on-write), so an owner can hand a copy to a background
/// task to serialize a snapshot while it keeps applying.
public struct KVStore: Sendable {
    /// Invariant: every stored value's index is at or below `appliedIndex`.
    var items = OrderedMap<StoredKey, StoredValue>()
    private var sessions: ClientSessions
    /// Whether an entry has been applied since `init()` (the first may start at any index).
    private var hasApplied = false
    /// The changes above `compactRevision`.
    var history = KVHistory()
    /// The leases, by id.
    ///
    /// Invariant: a key's `lease` is non-zero exactly when the key is in that lease's `keys`.
    var leases: [Int64: LeaseRecord] = [:]

    /// The store's revision: incremented once by every command that changes a key (a put, a
    /// delete that deletes something, a transaction or revoke with such writes).
    ///
    /// Before the first command of format 2 (a store restored from a version 1 snapshot, or
    /// applying an old log), the revision is the applied index: the old formats kept no
    /// revisions, and this rule gives every replica the same numbers wherever it started.
    ///
    /// Invariant: `compactRevision <= revision <= revisionMax`.
    public internal(set) var revision: UInt64 = 0
    /// History below and at this revision is forgotten: reads work at any revision from it to
    /// `revision`, watches from any revision above it.
    public internal(set) var compactRevision: UInt64 = 0
    /// False until the first command of format 2 is applied (see `revision`).
    public private(set) var tracksRevisions = false
    /// The most bytes of history kept (`KVHistory.byteCount`): past it the oldest revisions are
    /// compacted, the same on every replica (a snapshot carries the bound).
    public let historyBytesMax: Int

    /// The index of the last entry applied (or of the snapshot restored).
    public private(set) var appliedIndex: LogIndex = .zero

    /// The store's size for the quota (`--quota-bytes`): for every key, its bytes, its value's
    /// bytes and `keyOverheadBytes`. A function of the keys and values alone, so every replica
    /// that applied the same entries, or restored the same snapshot, holds the same size.
    ///
    /// Invariant: the sum above over every stored key.
    public internal(set) var byteCount = 0

    /// What each key costs besides its key and value bytes: an estimate of the index, term and
    /// bookkeeping kept with it, so a store of many tiny keys is not counted as nearly empty.
    public static let keyOverheadBytes = 32

    /// An empty store.
    public init() {
        self.init(sessionLimits: KVSessionLimits())
    }

    /// An empty store with non-default bounds (every replica must use the same).
    public init(sessionLimits: KVSessionLimits, historyBytesMax: Int = KVStore.historyBytesDefault) {
        precondition((try? sessionLimits.validate()) != nil, "KVStore: session limits are within their ceilings")
        precondition(
            (0...KVStore.historyBytesCeiling).contains(historyBytesMax), "KVStore: historyBytesMax is within its ceiling")
        self.sessions = ClientSessions(limits: sessionLimits)
        self.historyBytesMax = historyBytesMax
    }

    /// The default bound of retained history.
    public static let historyBytesDefault = 64 << 20
    /// The highest `historyBytesMax` a store (or a snapshot) may name.
    public static let historyBytesCeiling = 1 << 40
    /// The highest revision (and compact revision) the store accepts from outside.
    public static let revisionMax = UInt64(Int64.max)
    /// The most leases that may exist at once.
    public static let leasesMax = 100_000

    /// The bytes of history retained (counted by the quota with `byteCount`).
    public var historyByteCount: Int { history.byteCount }

    /// What the quota (`--quota-bytes`) counts: the keys and values and the retained history.
    public var quotaByteCount: Int { byteCount + history.byteCount }

    /// The number of keys.
    public var count: Int { items.count }

    /// The number of client sessions remembered.
    public var sessionCount: Int { sessions.count }

    /// The session bounds in force.
    public var sessionLimits: KVSessionLimits { sessions.limits }

    // MARK: - Applying

    /// Applies one committed entry. A `.command` is decoded and executed, or answered from its
    /// client's session when it is a duplicate; an undecodable command changes nothing but its
    /// index still counts as applied. `.noop` and `.membership` only advance `appliedIndex`.
    /// Returns the command's request id and result (nil for entries that are not commands).
    ///
    /// Precondition: entries arrive in index order without gaps (the first after `init()` may
    /// start anywhere above `appliedIndex`).
    public mutating func apply(_ entry: Entry) -> (ClientRequestID, KVResult)? {
        precondition(entry.index > appliedIndex, "KVStore: entries are applied in ascending index order")
        precondition(
            !hasApplied || entry.index == appliedIndex.next,
            "KVStore: entries are applied without gaps (applied \(appliedIndex), got \(entry.index))")
        hasApplied = true
        appliedIndex = entry.index
        if !tracksRevisions {
            revision = entry.index.rawValue
            compactRevision = revision
        }
        guard entry.kind == .command else { return nil }
        let command: KVCommand
        do {
            command = try KVCommand(decoding: entry.data)
        } catch {
            var reader = KVByteReader(entry.data)
            let id = (try? KVCommand.decodeID(from: &reader)) ?? .unidentified
            return (id, .undecodable(error))
        }
        if !tracksRevisions && !command.isLegacyFormat {
            // The first command of format 2: from here on, one revision per write.
            tracksRevisions = true
            revision = entry.index.rawValue - 1
            compactRevision = revision
        }
        switch sessions.admit(command.id, at: entry.index) {
        case .duplicate(let first):
            return (command.id, first)
        case .apply:
            let result = execute(command.request, index: entry.index, term: entry.term)
            sessions.record(result.remembered, for: command.id)
            return (command.id, result)
        }
    }

    private mutating func execute(_ request: KVRequest, index: LogIndex, term: Term) -> KVResult {
        let stamp = WriteStamp(index: index, term: term, revision: revision + 1)
        switch request {
        case .put(let key, let value, let condition, let lease):
            if let failed = compareFailure(condition, key: key) { return failed }
            guard lease == 0 || leases[lease] != nil else { return .rejected(.leaseNotFound) }
            if tracksRevisions {
                putKey(StoredKey(bytes: key), value: value, lease: lease, stamp: stamp)
                finishRevision(stamp, changed: true)
                return .put(index: index, term: term, revision: revision)
            }
            return executeLegacy(.put(key: key, value: value, condition: condition), stamp: stamp)
        case .delete(let key, let condition):
            if let failed = compareFailure(condition, key: key) { return failed }
            if tracksRevisions {
                let existed = deleteKey(StoredKey(bytes: key), stamp: stamp)
                finishRevision(stamp, changed: existed)
                return .deleted(index: index, term: term, revision: revision, existed: existed)
            }
            return executeLegacy(.delete(key: key, condition: condition), stamp: stamp)
        case .txn(let txn):
            return execute(txn, stamp: stamp)
        case .compact(let target):
            return compact(to: target)
        case .leaseGrant(let id, let ttlSeconds):
            return grantLease(id: id, ttlSeconds: ttlSeconds, index: index)
        case .leaseRevoke(let id):
            guard let lease = leases[id] else { return .rejected(.leaseNotFound) }
            for key in lease.keys.sorted() { _ = deleteKey(key, stamp: stamp) }
            leases[id] = nil
            finishRevision(stamp, changed: !lease.keys.isEmpty)
            return .leaseRevoked(id: id, revision: revision)
        }
    }

    /// A command of format 1 before any of format 2: the old rules, plus revision fields that
    /// every replica can compute alike (a key's create and mod revision are the index that last
    /// wrote it, its version 1). No history is kept.
    private mutating func executeLegacy(_ operation: KVOperation, stamp: WriteStamp) -> KVResult {
        precondition(!tracksRevisions, "KVStore: the old rules apply only before revisions are tracked")
        let key = StoredKey(bytes: operation.key)
        let revision = stamp.index.rawValue
        switch operation {
        case .put(_, let value, _):
            let stored = StoredValue(
                value: value, index: stamp.index, term: stamp.term, createRevision: revision, modRevision: revision,
                version: 1, lease: 0)
            let replaced = items.updateValue(stored, forKey: key)
            if let replaced {
                byteCount += value.count - replaced.value.count
            } else {
                byteCount += Self.cost(ofKey: key.bytes) + value.count
            }
            return .put(index: stamp.index, term: stamp.term, revision: revision)
        case .delete:
            let removed = items.removeValue(forKey: key)
            if let removed { byteCount -= Self.cost(ofKey: key.bytes) + removed.value.count }
            return .deleted(index: stamp.index, term: stamp.term, revision: revision, existed: removed != nil)
        }
    }

    private func compareFailure(_ condition: KVCondition, key: [UInt8]) -> KVResult? {
        if case .none = condition { return nil }  // Unconditional: no lookup before the update.
        let current = items[StoredKey(bytes: key)]
        return Self.holds(condition, current: current) ? nil : .compareFailed(currentIndex: current?.index)
    }

    /// What a key costs in `byteCount` besides its value.
    static func cost(ofKey key: [UInt8]) -> Int { key.count + keyOverheadBytes }

    /// `byteCount` after `operation` were applied now, whatever its condition: a put counts
    /// its key and value (or only the change of value when the key exists), a delete frees its
    /// key. The runtime checks a write against the quota with it before proposing.
    public func byteCount(afterApplying operation: KVOperation) -> Int {
        let current = items[StoredKey(bytes: operation.key)]
        let currentCost = current.map { Self.cost(ofKey: operation.key) + $0.value.count } ?? 0
        switch operation {
        case .put(let key, let value, _):
            return byteCount - currentCost + Self.cost(ofKey: key) + value.count
        case .delete:
            return byteCount - currentCost
        }
    }

    private static func holds(_ condition: KVCondition, current: StoredValue?) -> Bool {
        switch condition {
        case .none:
            return true
        case .valueEquals(let expected):
            return current?.value == expected
        case .indexEquals(let expected):
            return (current?.index ?? .zero) == expected
        }
    }

    // MARK: - Reading

    /// The value of `key`, with the index and term of the entry that last modified it.
    public func get(_ key: [UInt8]) -> (value: [UInt8], index: LogIndex, term: Term)? {
        guard let stored = items[StoredKey(bytes: key)] else { return nil }
        return (stored.value, stored.index, stored.term)
    }

    /// Up to `limit` entries whose keys start with `prefix`, in ascending key order, and whether
    /// more such entries follow. A `limit` below 1 lists nothing (`hasMore` still tells).
    /// With `after`, the listing starts after that key (the continuation of an earlier page).
    /// `after` need not exist, nor start with `prefix`. Costs O(log n + items listed), wherever
    /// the page starts.
    public func list(prefix: [UInt8], after: [UInt8]? = nil, limit: Int)
        -> (items: [(key: [UInt8], value: [UInt8], index: LogIndex)], hasMore: Bool)
    {
        var found: [(key: [UInt8], value: [UInt8], index: LogIndex)] = []
        var hasMore = false
        let start = after.map { $0.lexicographicallyPrecedes(prefix) ? prefix : $0 } ?? prefix
        items.forEach(from: StoredKey(bytes: start)) { key, stored in
            if let after, key.bytes == after { return true }
            guard key.bytes.starts(with: prefix) else { return false }
            guard found.count < limit else {
                hasMore = true
                return false
            }
            found.append((key.bytes, stored.value, stored.index))
            return true
        }
        return (found, hasMore)
    }

    /// Describes a log entry in a few words, for `GET /log`: "put k1 (3 B)", "delete k1",
    /// "cas put k1 (3 B) if index=5", "noop", "membership".
    public static func summary(of entry: Entry) -> String {
        switch entry.kind {
        case .noop:
            return "noop"
        case .membership:
            return "membership"
        case .command:
            guard let command = try? KVCommand(decoding: entry.data) else {
                return "undecodable command (\(entry.data.count) B)"
            }
            switch command.request {
            case .put(_, _, _, let lease) where lease != 0:
                return command.operation.map { summary(of: $0) + " lease=\(lease)" } ?? "put"
            case .put, .delete:
                return command.operation.map { summary(of: $0) } ?? "write"
            case .txn(let txn):
                return "txn (\(txn.compares.count) compares, \(txn.success.count)/\(txn.failure.count) operations)"
            case .compact(let revision):
                return "compact to revision \(revision)"
            case .leaseGrant(let id, let ttlSeconds):
                return "lease grant \(id == 0 ? "(new id)" : String(id)) TTL \(ttlSeconds) s"
            case .leaseRevoke(let id):
                return "lease revoke \(id)"
            }
        }
    }

    private static let summaryKeyCharactersMax = 64

    private static func summary(of operation: KVOperation) -> String {
        var keyText = String(decoding: operation.key, as: UTF8.self)
        if keyText.count > summaryKeyCharactersMax {
            keyText = String(keyText.prefix(summaryKeyCharactersMax)) + "…"
        }
        let action: String
        switch operation {
        case .put(_, let value, _): action = "put \(keyText) (\(value.count) B)"
        case .delete: action = "delete \(keyText)"
        }
        switch operation.condition {
        case .none: return action
        case .valueEquals(let expected): return "cas \(action) if value=(\(expected.count) B)"
        case .indexEquals(let index): return "cas \(action) if index=\(index)"
        }
    }
}

extension KVStore: Equatable {
    /// Stores are equal when they hold the same keys, values, revisions, history, leases,
    /// sessions and applied index.
    public static func == (lhs: KVStore, rhs: KVStore) -> Bool {
        lhs.appliedIndex == rhs.appliedIndex && lhs.count == rhs.count && lhs.sessions == rhs.sessions
            && lhs.revision == rhs.revision && lhs.compactRevision == rhs.compactRevision
            && lhs.tracksRevisions == rhs.tracksRevisions && lhs.historyBytesMax == rhs.historyBytesMax
            && lhs.history == rhs.history && lhs.leases == rhs.leases
            && lhs.items.entries.elementsEqual(rhs.items.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - Snapshots

extension KVStore {
    private static let snapshotMagic: [UInt8] = Array("WKVS".utf8)
    /// The snapshot format version `snapshot()` writes.
    public static let snapshotFormatVersion: UInt8 = 2
    /// The format of builds before revisions, still restored.
    public static let legacySnapshotFormatVersion: UInt8 = 1
    // Smallest encodings of one item, bounding counts read from a snapshot.
    private static let legacyKeyEntryBytesMin = 4 + 1 + 4 + 8 + 8
    private static let keyEntryBytesMin = legacyKeyEntryBytesMin + 4 * 8
    private static let leaseBytesMin = 8 + 8
    private static let eventBytesMin = 1 + 8 + 4 + 1 + 4 + 6 * 8 + 1
    private static let sessionBytesMin = 8 + 8 + 8 + 8
    private static let resultBytesMin = 1

    /// The whole state as bytes (format 2): magic "WKVS", version u8, session limits,
    /// historyBytesMax u64, appliedIndex, tracksRevisions u8, revision u64, compactRevision u64,
    /// the keys in ascending order (key, value, index, term, create revision, mod revision,
    /// version, lease), the leases in ascending id order (id, TTL), the history oldest first
    /// (kind, revision, key, the value after, 0 or 1 and the value before), the sessions in
    /// ascending client order, then a CRC32C of everything before it. Identical states give
    /// identical bytes.
    public func snapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + items.count * 80 + history.byteCount)
        writer.write(contentsOf: Self.snapshotMagic)
        writer.write(Self.snapshotFormatVersion)
        writer.write(UInt64(sessions.limits.sessionsMax))
        writer.write(UInt64(sessions.limits.resultsPerSessionMax))
        writer.write(UInt64(historyBytesMax))
        writer.write(appliedIndex.rawValue)
        writer.write(tracksRevisions ? UInt8(1) : 0)
        writer.write(revision)
        writer.write(compactRevision)
        writer.write(UInt64(items.count))
        items.forEach { key, stored in
            writer.writeLengthPrefixed(key.bytes)
            Self.encode(stored, into: &writer)
            return true
        }
        let sortedLeases = leases.sorted { $0.key < $1.key }
        writer.write(UInt64(sortedLeases.count))
        for (id, lease) in sortedLeases {
            writer.write(UInt64(bitPattern: id))
            writer.write(UInt64(bitPattern: lease.ttlSeconds))
        }
        writer.write(UInt64(history.retained.count))
        for event in history.retained {
            writer.write(event.kind.rawValue)
            writer.write(event.revision)
            writer.writeLengthPrefixed(event.key)
            Self.encode(event.stored, into: &writer)
            if let previous = event.previous {
                writer.write(UInt8(1))
                Self.encode(previous, into: &writer)
            } else {
                writer.write(UInt8(0))
            }
        }
        let sortedSessions = sessions.sortedByClient
        writer.write(UInt64(sortedSessions.count))
        for (client, session) in sortedSessions {
            writer.write(client)
            writer.write(session.lastUsedIndex.rawValue)
            writer.write(session.forgottenThrough)
            writer.write(UInt64(session.results.count))
            for (sequence, result) in session.results {
                writer.write(sequence)
                result.encode(into: &writer)
            }
        }
        var bytes = writer.bytes
        let checksum = CRC32C.checksum(bytes)
        for shift in stride(from: 0, to: 32, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: checksum >> UInt32(shift)))
        }
        return bytes
    }

    private static func encode(_ stored: StoredValue, into writer: inout ByteWriter) {
        writer.writeLengthPrefixed(stored.value)
        writer.write(stored.index.rawValue)
        writer.write(stored.term.rawValue)
        writer.write(stored.createRevision)
        writer.write(stored.modRevision)
        writer.write(stored.version)
        writer.write(UInt64(bitPattern: stored.lease))
    }

    /// Restores the state `snapshot()` wrote, or a snapshot of format 1 (before revisions: its
    /// keys get the revision fields an old log's commands would give them). Damaged, forged or
    /// foreign bytes throw; nothing in them can crash the decoder or make it allocate beyond
    /// the input's size.
    public init(snapshot bytes: [UInt8]) throws(KVCodecError) {
        guard bytes.count >= Self.snapshotMagic.count + 4 else { throw .truncated(field: "snapshot header") }
        guard bytes.starts(with: Self.snapshotMagic) else { throw .badMagic }
        let bodyEnd = bytes.count - 4
        var checksumReader = KVByteReader(bytes, range: bodyEnd..<bytes.count)
        let stored = try checksumReader.readUInt32("checksum")
        let computed = CRC32C.checksum(bytes[0..<bodyEnd])
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        var reader = KVByteReader(bytes, range: Self.snapshotMagic.count..<bodyEnd)
        let version = try reader.readUInt8("snapshot version")
        guard version == Self.snapshotFormatVersion || version == Self.legacySnapshotFormatVersion else {
            throw .unsupportedVersion(version)
        }
        let isLegacy = version == Self.legacySnapshotFormatVersion
        let limits = try Self.decodeLimits(from: &reader)
        var historyBytesMax = Self.historyBytesDefault
        if !isLegacy {
            let decoded = try reader.readUInt64("history bytes max")
            guard decoded <= UInt64(Self.historyBytesCeiling) else { throw .invalidContent("history bound above its ceiling") }
            historyBytesMax = Int(decoded)
        }
        self.init(sessionLimits: limits, historyBytesMax: historyBytesMax)
        self.appliedIndex = LogIndex(try reader.readUInt64("applied index"))
        // The bound of every index from outside (`LogIndex.wireMax`): the next entry applied
        // is `appliedIndex.next`, which must not overflow.
        guard appliedIndex <= LogIndex.wireMax else { throw .invalidContent("applied index \(appliedIndex) above the bound") }
        if isLegacy {
            revision = appliedIndex.rawValue
            compactRevision = revision
            try decodeItems(from: &reader, legacy: true)
        } else {
            try decodeRevisions(from: &reader)
            try decodeItems(from: &reader, legacy: false)
            try decodeLeases(from: &reader)
            try decodeHistory(from: &reader)
        }
        try decodeSessions(from: &reader)
        try reader.expectEnd()
        // The next entry must follow the snapshot directly.
        self.hasApplied = true
    }

    private static func decodeLimits(from reader: inout KVByteReader) throws(KVCodecError) -> KVSessionLimits {
        let sessionsMax = try reader.readUInt64("sessions max")
        let resultsMax = try reader.readUInt64("results per session max")
        guard sessionsMax <= UInt64(KVSessionLimits.sessionsCeiling),
            resultsMax <= UInt64(KVSessionLimits.resultsPerSessionCeiling)
        else { throw .invalidContent("session limits above their ceilings") }
        let limits = KVSessionLimits(sessionsMax: Int(sessionsMax), resultsPerSessionMax: Int(resultsMax))
        try limits.validate()
        return limits
    }

    private mutating func decodeRevisions(from reader: inout KVByteReader) throws(KVCodecError) {
        let flag = try reader.readUInt8("tracks revisions")
        guard flag <= 1 else { throw .invalidContent("tracks-revisions flag \(flag)") }
        tracksRevisions = flag == 1
        revision = try reader.readUInt64("revision")
        compactRevision = try reader.readUInt64("compact revision")
        guard revision <= Self.revisionMax, compactRevision <= revision else {
            throw .invalidContent("revision \(revision), compact revision \(compactRevision)")
        }
    }

    private func decodeStored(from reader: inout KVByteReader, legacy: Bool) throws(KVCodecError) -> StoredValue {
        let value = try reader.readLengthPrefixed("value", bytesMax: KVCommand.valueBytesMax)
        let index = LogIndex(try reader.readUInt64("key index"))
        let term = Term(try reader.readUInt64("key term"))
        guard term <= Term.wireMax else { throw .invalidContent("key term \(term) above the bound") }
        guard index <= appliedIndex else { throw .invalidContent("key modified at index \(index), above \(appliedIndex)") }
        if legacy {
            return StoredValue(
                value: value, index: index, term: term, createRevision: index.rawValue, modRevision: index.rawValue,
                version: 1, lease: 0)
        }
        let create = try reader.readUInt64("create revision")
        let mod = try reader.readUInt64("mod revision")
        let version = try reader.readUInt64("version")
        let lease = Int64(bitPattern: try reader.readUInt64("lease"))
        guard create <= mod, mod <= revision, lease >= 0, version <= Self.revisionMax else {
            throw .invalidContent("revisions \(create)/\(mod) (current \(revision)), lease \(lease)")
        }
        return StoredValue(
            value: value, index: index, term: term, createRevision: create, modRevision: mod, version: version, lease: lease)
    }

    private mutating func decodeItems(from reader: inout KVByteReader, legacy: Bool) throws(KVCodecError) {
        let count = try reader.readCount(
            "key count", encodedAs: UInt64.self,
            itemBytesMin: legacy ? Self.legacyKeyEntryBytesMin : Self.keyEntryBytesMin, countMax: .max)
        var previous: StoredKey? = nil
        for _ in 0..<count {
            let key = StoredKey(bytes: try reader.readLengthPrefixed("key", bytesMax: KVCommand.keyBytesMax))
            let stored = try decodeStored(from: &reader, legacy: legacy)
            guard !key.bytes.isEmpty else { throw .invalidContent("empty key") }
            if let previous, !(previous < key) { throw .invalidContent("keys not in strictly ascending order") }
            guard stored.index > .zero, stored.version > 0 else {
                throw .invalidContent("key modified at index \(stored.index), version \(stored.version)")
            }
            items.updateValue(stored, forKey: key)
            byteCount += Self.cost(ofKey: key.bytes) + stored.value.count
            previous = key
        }
    }

    private mutating func decodeLeases(from reader: inout KVByteReader) throws(KVCodecError) {
        let count = try reader.readCount(
            "lease count", encodedAs: UInt64.self, itemBytesMin: Self.leaseBytesMin, countMax: Self.leasesMax)
        var previousID: Int64 = 0
        for _ in 0..<count {
            let id = Int64(bitPattern: try reader.readUInt64("lease id"))
            let ttl = Int64(bitPattern: try reader.readUInt64("lease TTL"))
            guard id > previousID else { throw .invalidContent("lease ids not positive and ascending") }
            guard (1...KVRequest.leaseTTLSecondsMax).contains(ttl) else { throw .invalidContent("lease TTL \(ttl)") }
            leases[id] = LeaseRecord(ttlSeconds: ttl)
            previousID = id
        }
        var attachedKeys: [(Int64, StoredKey)] = []
        items.forEach { key, stored in
            if stored.lease != 0 { attachedKeys.append((stored.lease, key)) }
            return true
        }
        for (lease, key) in attachedKeys {
            guard leases[lease] != nil else { throw .invalidContent("a key is attached to lease \(lease), which does not exist") }
            leases[lease]?.keys.insert(key)
        }
    }

    private mutating func decodeHistory(from reader: inout KVByteReader) throws(KVCodecError) {
        let count = try reader.readCount(
            "event count", encodedAs: UInt64.self, itemBytesMin: Self.eventBytesMin, countMax: .max)
        var lastRevision = compactRevision + 1
        for _ in 0..<count {
            let kindByte = try reader.readUInt8("event kind")
            guard let kind = KVEvent.Kind(rawValue: kindByte) else { throw .unknownTag(field: "event kind", tag: kindByte) }
            let eventRevision = try reader.readUInt64("event revision")
            guard eventRevision >= lastRevision, eventRevision <= revision else {
                throw .invalidContent("event revision \(eventRevision) outside \(lastRevision)...\(revision)")
            }
            let key = try KVRequest.readKey(&reader, "event key")
            let stored = try decodeStored(from: &reader, legacy: false)
            let hasPrevious = try reader.readUInt8("event previous")
            guard hasPrevious <= 1 else { throw .invalidContent("event previous flag \(hasPrevious)") }
            let previous = hasPrevious == 1 ? try decodeStored(from: &reader, legacy: false) : nil
            history.append(HistoryEvent(kind: kind, revision: eventRevision, key: key, stored: stored, previous: previous))
            lastRevision = eventRevision
        }
    }

    private mutating func decodeSessions(from reader: inout KVByteReader) throws(KVCodecError) {
        let limits = sessions.limits
        let count = try reader.readCount(
            "session count", encodedAs: UInt64.self, itemBytesMin: Self.sessionBytesMin, countMax: limits.sessionsMax)
        var previousClient: UInt64? = nil
        for _ in 0..<count {
            let client = try reader.readUInt64("client")
            if let previousClient, previousClient >= client {
                throw .invalidContent("sessions not in strictly ascending client order")
            }
            var session = ClientSession(lastUsedIndex: LogIndex(try reader.readUInt64("last used index")))
            guard session.lastUsedIndex <= appliedIndex, !sessions.isUsed(at: session.lastUsedIndex) else {
                throw .invalidContent("session last-used index \(session.lastUsedIndex) invalid or repeated")
            }
            session.forgottenThrough = try reader.readUInt64("forgotten through")
            let resultCount = try reader.readCount(
                "result count", encodedAs: UInt64.self, itemBytesMin: Self.resultBytesMin, countMax: limits.resultsPerSessionMax)
            for _ in 0..<resultCount {
                let sequence = try reader.readUInt64("sequence")
                let result = try KVResult(decoding: &reader)
                let lowest = session.results.last?.sequence ?? session.forgottenThrough
                guard sequence > lowest else { throw .invalidContent("session results not ascending") }
                session.results.append((sequence, result))
            }
            sessions.insert(session, for: client)
            previousClient = client
        }
    }
}

extension KVResult {
    private enum Tag: UInt8 {
        // Written by format 1 only (no revision); decoded with the revision an old log gives.
        case legacyPut = 1
        case legacyDeleted = 2
        case compareFailed = 3
        case sessionExpired = 4
        case put = 5
        case deleted = 6
        case txn = 7
        case compacted = 8
        case leaseGranted = 9
        case leaseRevoked = 10
        case rejected = 11
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .put(let index, let term, let revision):
            writer.write(Tag.put.rawValue)
            writer.write(index.rawValue)
            writer.write(term.rawValue)
            writer.write(revision)
        case .deleted(let index, let term, let revision, let existed):
            writer.write(Tag.deleted.rawValue)
            writer.write(index.rawValue)
            writer.write(term.rawValue)
            writer.write(revision)
            writer.write(existed ? UInt8(1) : 0)
        case .compareFailed(let currentIndex):
            writer.write(Tag.compareFailed.rawValue)
            // Index 0 never modifies a key, so it stands for "absent".
            writer.write(currentIndex?.rawValue ?? 0)
        case .sessionExpired:
            writer.write(Tag.sessionExpired.rawValue)
        case .txn(let result):
            writer.write(Tag.txn.rawValue)
            writer.write(result.succeeded ? UInt8(1) : 0)
            writer.write(result.revision)
        case .compacted(let revision):
            writer.write(Tag.compacted.rawValue)
            writer.write(revision)
        case .leaseGranted(let id, let ttlSeconds):
            writer.write(Tag.leaseGranted.rawValue)
            writer.write(UInt64(bitPattern: id))
            writer.write(UInt64(bitPattern: ttlSeconds))
        case .leaseRevoked(let id, let revision):
            writer.write(Tag.leaseRevoked.rawValue)
            writer.write(UInt64(bitPattern: id))
            writer.write(revision)
        case .rejected(let rejection):
            writer.write(Tag.rejected.rawValue)
            writer.write(rejection.rawValue)
        case .undecodable:
            preconditionFailure("KVResult: an undecodable command's result is never recorded in a session")
        }
    }

    init(decoding reader: inout KVByteReader) throws(KVCodecError) {
        let tag = try reader.readUInt8("result")
        switch Tag(rawValue: tag) {
        case .legacyPut:
            let index = LogIndex(try reader.readUInt64("index"))
            self = .put(index: index, term: Term(try reader.readUInt64("term")), revision: index.rawValue)
        case .put:
            let index = LogIndex(try reader.readUInt64("index"))
            let term = Term(try reader.readUInt64("term"))
            self = .put(index: index, term: term, revision: try reader.readUInt64("revision"))
        case .legacyDeleted, .deleted:
            let index = LogIndex(try reader.readUInt64("index"))
            let term = Term(try reader.readUInt64("term"))
            let revision = Tag(rawValue: tag) == .deleted ? try reader.readUInt64("revision") : index.rawValue
            let existed = try reader.readUInt8("existed")
            guard existed <= 1 else { throw .invalidContent("existed flag \(existed)") }
            self = .deleted(index: index, term: term, revision: revision, existed: existed == 1)
        case .compareFailed:
            let index = try reader.readUInt64("current index")
            self = .compareFailed(currentIndex: index == 0 ? nil : LogIndex(index))
        case .sessionExpired:
            self = .sessionExpired
        case .txn:
            let succeeded = try reader.readUInt8("succeeded")
            guard succeeded <= 1 else { throw .invalidContent("succeeded flag \(succeeded)") }
            self = .txn(KVTxnResult(succeeded: succeeded == 1, revision: try reader.readUInt64("revision"), responses: nil))
        case .compacted:
            self = .compacted(revision: try reader.readUInt64("revision"))
        case .leaseGranted:
            let id = Int64(bitPattern: try reader.readUInt64("lease id"))
            self = .leaseGranted(id: id, ttlSeconds: Int64(bitPattern: try reader.readUInt64("lease TTL")))
        case .leaseRevoked:
            let id = Int64(bitPattern: try reader.readUInt64("lease id"))
            self = .leaseRevoked(id: id, revision: try reader.readUInt64("revision"))
        case .rejected:
            let code = try reader.readUInt8("rejection")
            guard let rejection = KVRejection(rawValue: code) else { throw .unknownTag(field: "rejection", tag: code) }
            self = .rejected(rejection)
        case nil:
            throw .unknownTag(field: "result", tag: tag)
        }
    }
}
