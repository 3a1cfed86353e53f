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

/// A value as stored, with the entry that last wrote it.
struct StoredValue: Sendable, Equatable {
    var value: [UInt8]
    var index: LogIndex
    var term: Term
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
    private var items = OrderedMap<StoredKey, StoredValue>()
    private var sessions: ClientSessions
    /// Whether an entry has been applied since `init()` (the first may start at any index).
    private var hasApplied = false

    /// The index of the last entry applied (or of the snapshot restored).
    public private(set) var appliedIndex: LogIndex = .zero

    /// The store's size for the quota (`--quota-bytes`): for every key, its bytes, its value's
    /// bytes and `keyOverheadBytes`. A function of the keys and values alone, so every replica
    /// that applied the same entries, or restored the same snapshot, holds the same size.
    ///
    /// Invariant: the sum above over every stored key.
    public private(set) var byteCount = 0

    /// What each key costs besides its key and value bytes: an estimate of the index, term and
    /// bookkeeping kept with it, so a store of many tiny keys is not counted as nearly empty.
    public static let keyOverheadBytes = 32

    /// An empty store.
    public init() {
        self.init(sessionLimits: KVSessionLimits())
    }

    /// An empty store with non-default session bounds (every replica must use the same).
    public init(sessionLimits: KVSessionLimits) {
        precondition((try? sessionLimits.validate()) != nil, "KVStore: session limits are within their ceilings")
        self.sessions = ClientSessions(limits: sessionLimits)
    }

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
        guard entry.kind == .command else { return nil }
        let command: KVCommand
        do {
            command = try KVCommand(decoding: entry.data)
        } catch {
            var reader = KVByteReader(entry.data)
            let id = (try? KVCommand.decodeID(from: &reader)) ?? .unidentified
            return (id, .undecodable(error))
        }
        switch sessions.admit(command.id, at: entry.index) {
        case .duplicate(let first):
            return (command.id, first)
        case .apply:
            let result = execute(command.operation, index: entry.index, term: entry.term)
            sessions.record(result, for: command.id)
            return (command.id, result)
        }
    }

    private mutating func execute(_ operation: KVOperation, index: LogIndex, term: Term) -> KVResult {
        let key = StoredKey(bytes: operation.key)
        if case .none = operation.condition {
            // Unconditional: no lookup before the update.
        } else {
            let current = items[key]
            guard Self.holds(operation.condition, current: current) else {
                return .compareFailed(currentIndex: current?.index)
            }
        }
        switch operation {
        case .put(_, let value, _):
            let replaced = items.updateValue(StoredValue(value: value, index: index, term: term), forKey: key)
            if let replaced {
                byteCount += value.count - replaced.value.count
            } else {
                byteCount += Self.cost(ofKey: key.bytes) + value.count
            }
            return .put(index: index, term: term)
        case .delete:
            let removed = items.removeValue(forKey: key)
            if let removed { byteCount -= Self.cost(ofKey: key.bytes) + removed.value.count }
            return .deleted(index: index, term: term, existed: removed != nil)
        }
    }

    /// What a key costs in `byteCount` besides its value.
    private static func cost(ofKey key: [UInt8]) -> Int { key.count + keyOverheadBytes }

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
            return summary(of: command.operation)
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
    /// Stores are equal when they hold the same keys, values, sessions and applied index.
    public static func == (lhs: KVStore, rhs: KVStore) -> Bool {
        lhs.appliedIndex == rhs.appliedIndex && lhs.count == rhs.count && lhs.sessions == rhs.sessions
            && lhs.items.entries.elementsEqual(rhs.items.entries) { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - Snapshots

extension KVStore {
    private static let snapshotMagic: [UInt8] = Array("WKVS".utf8)
    /// The snapshot format version `snapshot()` writes.
    public static let snapshotFormatVersion: UInt8 = 1
    // Smallest encodings of one item, bounding counts read from a snapshot.
    private static let keyEntryBytesMin = 4 + 1 + 4 + 8 + 8
    private static let sessionBytesMin = 8 + 8 + 8 + 8
    private static let resultBytesMin = 8 + 1

    /// The whole state as bytes: magic "WKVS", version u8, session limits, appliedIndex, the
    /// keys in ascending order (key, value, index, term), the sessions in ascending client order,
    /// then a CRC32C of everything before it. Identical states give identical bytes.
    public func snapshot() -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + items.count * 48)
        writer.write(contentsOf: Self.snapshotMagic)
        writer.write(Self.snapshotFormatVersion)
        writer.write(UInt64(sessions.limits.sessionsMax))
        writer.write(UInt64(sessions.limits.resultsPerSessionMax))
        writer.write(appliedIndex.rawValue)
        writer.write(UInt64(items.count))
        items.forEach { key, stored in
            writer.writeLengthPrefixed(key.bytes)
            writer.writeLengthPrefixed(stored.value)
            writer.write(stored.index.rawValue)
            writer.write(stored.term.rawValue)
            return true
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
        let checksum = CRC32C.checksum(bytes, range: 0..<bytes.count)
        for shift in stride(from: 0, to: 32, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: checksum >> UInt32(shift)))
        }
        return bytes
    }

    /// Restores the state `snapshot()` wrote. Damaged, forged or foreign bytes throw; nothing
    /// in them can crash the decoder or make it allocate beyond the input's size.
    public init(snapshot bytes: [UInt8]) throws(KVCodecError) {
        guard bytes.count >= Self.snapshotMagic.count + 4 else { throw .truncated(field: "snapshot header") }
        guard bytes.starts(with: Self.snapshotMagic) else { throw .badMagic }
        let bodyEnd = bytes.count - 4
        var checksumReader = KVByteReader(bytes, range: bodyEnd..<bytes.count)
        let stored = try checksumReader.readUInt32("checksum")
        let computed = CRC32C.checksum(bytes, range: 0..<bodyEnd)
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }

        var reader = KVByteReader(bytes, range: Self.snapshotMagic.count..<bodyEnd)
        let version = try reader.readUInt8("snapshot version")
        guard version == Self.snapshotFormatVersion else { throw .unsupportedVersion(version) }
        let limits = try Self.decodeLimits(from: &reader)
        self.init(sessionLimits: limits)
        self.appliedIndex = LogIndex(try reader.readUInt64("applied index"))
        // The bound of every index from outside (`LogIndex.wireMax`): the next entry applied
        // is `appliedIndex.next`, which must not overflow.
        guard appliedIndex <= LogIndex.wireMax else { throw .invalidContent("applied index \(appliedIndex) above the bound") }
        try decodeItems(from: &reader)
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

    private mutating func decodeItems(from reader: inout KVByteReader) throws(KVCodecError) {
        let count = try reader.readCount(
            "key count", encodedAs: UInt64.self, itemBytesMin: Self.keyEntryBytesMin, countMax: .max)
        var previous: StoredKey? = nil
        for _ in 0..<count {
            let key = StoredKey(bytes: try reader.readLengthPrefixed("key", bytesMax: KVCommand.keyBytesMax))
            let value = try reader.readLengthPrefixed("value", bytesMax: KVCommand.valueBytesMax)
            let index = LogIndex(try reader.readUInt64("key index"))
            let term = Term(try reader.readUInt64("key term"))
            guard term <= Term.wireMax else { throw .invalidContent("key term \(term) above the bound") }
            guard !key.bytes.isEmpty else { throw .invalidContent("empty key") }
            if let previous, !(previous < key) { throw .invalidContent("keys not in strictly ascending order") }
            guard index <= appliedIndex, index > .zero else {
                throw .invalidContent("key modified at index \(index), outside 1...\(appliedIndex)")
            }
            items.updateValue(StoredValue(value: value, index: index, term: term), forKey: key)
            byteCount += Self.cost(ofKey: key.bytes) + value.count
            previous = key
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
        case put = 1
        case deleted = 2
        case compareFailed = 3
        case sessionExpired = 4
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .put(let index, let term):
            writer.write(Tag.put.rawValue)
            writer.write(index.rawValue)
            writer.write(term.rawValue)
        case .deleted(let index, let term, let existed):
            writer.write(Tag.deleted.rawValue)
            writer.write(index.rawValue)
            writer.write(term.rawValue)
            writer.write(existed ? UInt8(1) : 0)
        case .compareFailed(let currentIndex):
            writer.write(Tag.compareFailed.rawValue)
            // Index 0 never modifies a key, so it stands for "absent".
            writer.write(currentIndex?.rawValue ?? 0)
        case .sessionExpired:
            writer.write(Tag.sessionExpired.rawValue)
        case .undecodable:
            preconditionFailure("KVResult: an undecodable command's result is never recorded in a session")
        }
    }

    init(decoding reader: inout KVByteReader) throws(KVCodecError) {
        let tag = try reader.readUInt8("result")
        switch Tag(rawValue: tag) {
        case .put:
            self = .put(index: LogIndex(try reader.readUInt64("index")), term: Term(try reader.readUInt64("term")))
        case .deleted:
            let index = LogIndex(try reader.readUInt64("index"))
            let term = Term(try reader.readUInt64("term"))
            let existed = try reader.readUInt8("existed")
            guard existed <= 1 else { throw .invalidContent("existed flag \(existed)") }
            self = .deleted(index: index, term: term, existed: existed == 1)
        case .compareFailed:
            let index = try reader.readUInt64("current index")
            self = .compareFailed(currentIndex: index == 0 ? nil : LogIndex(index))
        case .sessionExpired:
            self = .sessionExpired
        case nil:
            throw .unknownTag(field: "result", tag: tag)
        }
    }
}
