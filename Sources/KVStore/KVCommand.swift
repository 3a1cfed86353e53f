import RaftCore
import WRaftSupport

/// Identifies one client request across retries: the state machine answers a repeated id with
/// the first outcome instead of applying it again (dissertation 6.3, client sessions).
public struct ClientRequestID: Hashable, Sendable, CustomStringConvertible {
    /// The client (session) the request belongs to.
    public var client: UInt64
    /// The client's number for this request; a retry reuses it.
    public var sequence: UInt64

    public init(client: UInt64, sequence: UInt64) {
        self.client = client
        self.sequence = sequence
    }

    /// Stands for "no identifiable request": returned with the result of a command whose bytes
    /// are too damaged to name their request. Clients never use client 0.
    public static let unidentified = ClientRequestID(client: 0, sequence: 0)

    public var description: String { "\(client)/\(sequence)" }
}

/// The condition a write is applied under (compare-and-set).
public enum KVCondition: Sendable, Equatable {
    /// Unconditional.
    case none
    /// The key exists and holds exactly these bytes.
    case valueEquals([UInt8])
    /// The key was last modified at this index; `indexEquals(.zero)` means the key is absent.
    case indexEquals(LogIndex)
}

/// A write to the store.
public enum KVOperation: Sendable, Equatable {
    case put(key: [UInt8], value: [UInt8], condition: KVCondition)
    case delete(key: [UInt8], condition: KVCondition)

    /// The key the operation writes.
    public var key: [UInt8] {
        switch self {
        case .put(let key, _, _), .delete(let key, _): return key
        }
    }

    /// The operation's condition.
    public var condition: KVCondition {
        switch self {
        case .put(_, _, let condition), .delete(_, let condition): return condition
        }
    }
}

/// A client command as it travels in a Raft log entry.
///
/// Encoding, version 2 (what `encoded()` writes; little-endian): version u8, client u64,
/// sequence u64, then the request: tag u8 (1 put, 2 delete, 3 txn, 4 compact, 5 lease grant,
/// 6 lease revoke) and its fields (`KVRequest.encode`); a put is key (u32 length + bytes),
/// value (u32 length + bytes), condition, lease id u64.
///
/// Version 1 (written by builds before revisions; still decoded, so an old WAL replays): version
/// u8, client u64, sequence u64, operation tag u8 (1 put, 2 delete), key (u32 length + bytes),
/// for a put the value (u32 length + bytes), then the condition tag u8 (0 none, 1 value equals +
/// u32 length + bytes, 2 index equals + u64).
public struct KVCommand: Sendable, Equatable {
    public var id: ClientRequestID
    public var request: KVRequest
    /// True when the command was decoded from the version 1 format (before revisions): the
    /// store applies such a command with the rules of that format until the first newer one.
    public private(set) var isLegacyFormat = false

    public init(id: ClientRequestID, request: KVRequest) {
        self.id = id
        self.request = request
    }

    /// A plain put or delete.
    public init(id: ClientRequestID, operation: KVOperation) {
        self.id = id
        switch operation {
        case .put(let key, let value, let condition):
            self.request = .put(key: key, value: value, condition: condition, lease: 0)
        case .delete(let key, let condition):
            self.request = .delete(key: key, condition: condition)
        }
    }

    /// The plain put or delete, if the command is one.
    public var operation: KVOperation? { request.operation }

    /// The longest key the store accepts (API.md: 1 to 1024 bytes).
    public static let keyBytesMax = 1024
    /// The longest value the store accepts (API.md: up to 1 MiB).
    public static let valueBytesMax = 1 << 20
    /// The format version `encoded()` writes.
    public static let formatVersion: UInt8 = 2
    /// The format of builds before revisions, still decoded.
    public static let legacyFormatVersion: UInt8 = 1

    /// True when the keys, values and counts are within the bounds decoding enforces. The
    /// server checks this before proposing, so nothing it proposes is refused when applied.
    public var isWithinBounds: Bool {
        switch request {
        case .put(let key, let value, let condition, let lease):
            return (1...KVCommand.keyBytesMax).contains(key.count) && value.count <= KVCommand.valueBytesMax
                && condition.isWithinBounds && lease >= 0
        case .delete(let key, let condition):
            return (1...KVCommand.keyBytesMax).contains(key.count) && condition.isWithinBounds
        case .txn(let txn):
            return txn.isWithinBounds
        case .compact(let revision):
            return revision <= KVStore.revisionMax
        case .leaseGrant(let id, let ttlSeconds):
            return id >= 0 && (1...KVRequest.leaseTTLSecondsMax).contains(ttlSeconds)
        case .leaseRevoke(let id):
            return id > 0
        }
    }

    /// The command's bytes for a log entry (format version 2).
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 64 + payloadByteCount)
        writer.write(KVCommand.formatVersion)
        writer.write(id.client)
        writer.write(id.sequence)
        request.encode(into: &writer)
        return writer.bytes
    }

    /// Decodes `encoded()`'s bytes, or version 1 bytes; any malformed or out-of-bounds input throws.
    public init(decoding bytes: [UInt8]) throws(KVCodecError) {
        var reader = KVByteReader(bytes)
        let (id, version) = try KVCommand.decodeHeader(from: &reader)
        self.id = id
        if version == KVCommand.legacyFormatVersion {
            self.request = try KVCommand.decodeLegacyOperation(from: &reader)
            self.isLegacyFormat = true
        } else {
            self.request = try KVRequest(decoding: &reader)
        }
        try reader.expectEnd()
    }

    private static func decodeLegacyOperation(from reader: inout KVByteReader) throws(KVCodecError) -> KVRequest {
        let tag = try reader.readUInt8("operation")
        let key = try reader.readLengthPrefixed("key", bytesMax: KVCommand.keyBytesMax)
        guard !key.isEmpty else { throw .invalidContent("empty key") }
        switch LegacyOperationTag(rawValue: tag) {
        case .put:
            let value = try reader.readLengthPrefixed("value", bytesMax: KVCommand.valueBytesMax)
            return .put(key: key, value: value, condition: try KVCondition(decoding: &reader), lease: 0)
        case .delete:
            return .delete(key: key, condition: try KVCondition(decoding: &reader))
        case nil:
            throw .unknownTag(field: "operation", tag: tag)
        }
    }

    /// Reads just the request id of an encoded command (what a damaged command can still name).
    static func decodeID(from reader: inout KVByteReader) throws(KVCodecError) -> ClientRequestID {
        try decodeHeader(from: &reader).id
    }

    private static func decodeHeader(from reader: inout KVByteReader) throws(KVCodecError)
        -> (id: ClientRequestID, version: UInt8)
    {
        let version = try reader.readUInt8("version")
        guard version == KVCommand.formatVersion || version == KVCommand.legacyFormatVersion else {
            throw .unsupportedVersion(version)
        }
        let client = try reader.readUInt64("client")
        let sequence = try reader.readUInt64("sequence")
        return (ClientRequestID(client: client, sequence: sequence), version)
    }

    private var payloadByteCount: Int {
        switch request {
        case .put(let key, let value, let condition, _): return key.count + value.count + condition.byteCount
        case .delete(let key, let condition): return key.count + condition.byteCount
        case .txn, .compact, .leaseGrant, .leaseRevoke: return 256
        }
    }

    private enum LegacyOperationTag: UInt8 {
        case put = 1
        case delete = 2
    }
}

extension KVCondition {
    var isWithinBounds: Bool {
        if case .valueEquals(let expected) = self { return expected.count <= KVCommand.valueBytesMax }
        return true
    }

    var byteCount: Int {
        if case .valueEquals(let expected) = self { return expected.count + 5 }
        return 9
    }

    private enum Tag: UInt8 {
        case unconditional = 0
        case valueEquals = 1
        case indexEquals = 2
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .none:
            writer.write(Tag.unconditional.rawValue)
        case .valueEquals(let expected):
            writer.write(Tag.valueEquals.rawValue)
            writer.writeLengthPrefixed(expected)
        case .indexEquals(let index):
            writer.write(Tag.indexEquals.rawValue)
            writer.write(index.rawValue)
        }
    }

    init(decoding reader: inout KVByteReader) throws(KVCodecError) {
        let tag = try reader.readUInt8("condition")
        switch Tag(rawValue: tag) {
        case .unconditional:
            self = .none
        case .valueEquals:
            self = .valueEquals(try reader.readLengthPrefixed("expected value", bytesMax: KVCommand.valueBytesMax))
        case .indexEquals:
            self = .indexEquals(LogIndex(try reader.readUInt64("expected index")))
        case nil:
            throw .unknownTag(field: "condition", tag: tag)
        }
    }
}

/// The outcome of applying one command.
public enum KVResult: Sendable, Equatable {
    /// The value was stored by the entry at `index` (of `term`), at `revision`.
    case put(index: LogIndex, term: Term, revision: UInt64)
    /// The key was deleted by the entry at `index`; `existed` is false when there was nothing
    /// to delete (then `revision` is the store's unchanged revision).
    case deleted(index: LogIndex, term: Term, revision: UInt64, existed: Bool)
    /// The condition did not hold; nothing changed. `currentIndex` is the index that last
    /// modified the key, nil when the key is absent.
    case compareFailed(currentIndex: LogIndex?)
    /// A retry of a request older than its client's window of remembered results: it may have
    /// been applied before, so it is not applied again, and its first outcome is forgotten.
    /// To the client its outcome is unknown.
    case sessionExpired
    /// The entry's bytes are not a valid command. Only a bug can put one in the log; the entry
    /// is skipped (its index still counts as applied) so every replica stays identical.
    case undecodable(KVCodecError)
    /// A transaction ran.
    case txn(KVTxnResult)
    /// The history below `revision` is forgotten.
    case compacted(revision: UInt64)
    /// A lease was granted.
    case leaseGranted(id: Int64, ttlSeconds: Int64)
    /// A lease was revoked; its keys were deleted at `revision`.
    case leaseRevoked(id: Int64, revision: UInt64)
    /// The command was refused; nothing changed.
    case rejected(KVRejection)

    /// What a client session remembers of the result: all of it but a transaction's
    /// responses (ranges can be large).
    var remembered: KVResult {
        guard case .txn(var result) = self else { return self }
        result.responses = nil
        return .txn(result)
    }
}
