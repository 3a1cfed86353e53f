import WRaftSupport

/// What a command asks the store to do (etcd v3's requests, WRaft's shapes).
public enum KVRequest: Sendable, Equatable {
    /// Puts `value` at `key` if `condition` holds; `lease` 0 attaches no lease, another id
    /// attaches that (existing) lease and detaches the key from any other.
    case put(key: [UInt8], value: [UInt8], condition: KVCondition, lease: Int64)
    /// Deletes `key` if `condition` holds.
    case delete(key: [UInt8], condition: KVCondition)
    /// A transaction: compares, then one list of operations or the other, at one revision.
    case txn(KVTxn)
    /// Forgets the history below `revision` (reads and watches from there on still work).
    case compact(revision: UInt64)
    /// Grants a lease of `ttlSeconds`; `id` 0 lets the store choose the id.
    case leaseGrant(id: Int64, ttlSeconds: Int64)
    /// Revokes a lease and deletes every key attached to it, at one revision.
    case leaseRevoke(id: Int64)

    /// The plain put or delete this request is, if it is one.
    public var operation: KVOperation? {
        switch self {
        case .put(let key, let value, let condition, _): return .put(key: key, value: value, condition: condition)
        case .delete(let key, let condition): return .delete(key: key, condition: condition)
        case .txn, .compact, .leaseGrant, .leaseRevoke: return nil
        }
    }

    /// The lease ids, TTLs and revisions requests may carry (etcd's bounds): ids are positive
    /// 63-bit numbers, a TTL is 1 s to `leaseTTLSecondsMax`.
    public static let leaseTTLSecondsMax: Int64 = 9_000_000_000
}

/// A comparison in a transaction's `if` part (etcd's `Compare`). A key that does not exist has
/// version, create and mod revision and lease 0, and no value: a value compare on it is false.
public struct KVCompare: Sendable, Equatable {
    /// What is compared.
    public enum Target: Sendable, Equatable {
        case value([UInt8])
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case lease(Int64)
    }

    /// How: `current <op> operand`.
    public enum Operator: UInt8, Sendable, Equatable {
        case equal = 0
        case notEqual = 1
        case less = 2
        case greater = 3
    }

    public var key: [UInt8]
    public var target: Target
    public var comparison: Operator

    public init(key: [UInt8], target: Target, comparison: Operator) {
        self.key = key
        self.target = target
        self.comparison = comparison
    }
}

/// One operation of a transaction's `then` or `else` list.
public enum KVTxnOperation: Sendable, Equatable {
    /// Puts a value, attached to `lease` (0: none).
    case put(key: [UInt8], value: [UInt8], lease: Int64)
    /// Deletes `key`, or every key in `[key, rangeEnd)` when `rangeEnd` is not empty
    /// (`[0]` means every key from `key` on, as in etcd).
    case delete(key: [UInt8], rangeEnd: [UInt8])
    /// Reads `key`, or `[key, rangeEnd)` as above, at most `limit` keys (0: the bound).
    case range(key: [UInt8], rangeEnd: [UInt8], limit: Int64)
}

/// A transaction (etcd's `TxnRequest`): if every compare holds, `success` runs, else `failure`.
/// Every write it makes carries one revision.
public struct KVTxn: Sendable, Equatable {
    public var compares: [KVCompare]
    public var success: [KVTxnOperation]
    public var failure: [KVTxnOperation]

    public init(compares: [KVCompare], success: [KVTxnOperation], failure: [KVTxnOperation]) {
        self.compares = compares
        self.success = success
        self.failure = failure
    }

    /// The most compares one transaction may carry.
    public static let comparesMax = 128
    /// The most operations each list may carry (etcd's default `--max-txn-ops`).
    public static let operationsMax = 128
    /// The most keys one range in a transaction returns (a `limit` of 0 means this).
    public static let rangeKeysMax = 1_000
    /// The most value bytes all ranges of one transaction return; past it a range stops and
    /// says `more`.
    public static let rangeBytesMax = 4 << 20

    /// True when every count and length is within the bounds decoding enforces.
    public var isWithinBounds: Bool {
        guard compares.count <= Self.comparesMax, success.count <= Self.operationsMax,
            failure.count <= Self.operationsMax
        else { return false }
        for compare in compares {
            guard (1...KVCommand.keyBytesMax).contains(compare.key.count) else { return false }
            if case .value(let value) = compare.target, value.count > KVCommand.valueBytesMax { return false }
        }
        for operation in success + failure {
            switch operation {
            case .put(let key, let value, let lease):
                guard (1...KVCommand.keyBytesMax).contains(key.count), value.count <= KVCommand.valueBytesMax,
                    lease >= 0
                else { return false }
            case .delete(let key, let end), .range(let key, let end, _):
                guard (1...KVCommand.keyBytesMax).contains(key.count), end.count <= KVCommand.keyBytesMax else {
                    return false
                }
                if case .range(_, _, let limit) = operation, !(0...Int64(Self.rangeKeysMax)).contains(limit) {
                    return false
                }
            }
        }
        return true
    }
}

// MARK: - Encoding (command format version 2)

extension KVRequest {
    enum Tag: UInt8 {
        case put = 1
        case delete = 2
        case txn = 3
        case compact = 4
        case leaseGrant = 5
        case leaseRevoke = 6
    }

    func encode(into writer: inout ByteWriter) {
        switch self {
        case .put(let key, let value, let condition, let lease):
            writer.write(Tag.put.rawValue)
            writer.writeLengthPrefixed(key)
            writer.writeLengthPrefixed(value)
            condition.encode(into: &writer)
            writer.write(UInt64(bitPattern: lease))
        case .delete(let key, let condition):
            writer.write(Tag.delete.rawValue)
            writer.writeLengthPrefixed(key)
            condition.encode(into: &writer)
        case .txn(let txn):
            writer.write(Tag.txn.rawValue)
            txn.encode(into: &writer)
        case .compact(let revision):
            writer.write(Tag.compact.rawValue)
            writer.write(revision)
        case .leaseGrant(let id, let ttlSeconds):
            writer.write(Tag.leaseGrant.rawValue)
            writer.write(UInt64(bitPattern: id))
            writer.write(UInt64(bitPattern: ttlSeconds))
        case .leaseRevoke(let id):
            writer.write(Tag.leaseRevoke.rawValue)
            writer.write(UInt64(bitPattern: id))
        }
    }

    init(decoding reader: inout KVByteReader) throws(KVCodecError) {
        let tag = try reader.readUInt8("request")
        switch Tag(rawValue: tag) {
        case .put:
            let key = try Self.readKey(&reader, "key")
            let value = try reader.readLengthPrefixed("value", bytesMax: KVCommand.valueBytesMax)
            let condition = try KVCondition(decoding: &reader)
            let lease = try Self.readLeaseID(&reader, allowingZero: true)
            self = .put(key: key, value: value, condition: condition, lease: lease)
        case .delete:
            let key = try Self.readKey(&reader, "key")
            self = .delete(key: key, condition: try KVCondition(decoding: &reader))
        case .txn:
            self = .txn(try KVTxn(decoding: &reader))
        case .compact:
            let revision = try reader.readUInt64("compact revision")
            guard revision <= KVStore.revisionMax else { throw .invalidContent("compact revision \(revision) above the bound") }
            self = .compact(revision: revision)
        case .leaseGrant:
            let id = try Self.readLeaseID(&reader, allowingZero: true)
            let ttl = Int64(bitPattern: try reader.readUInt64("lease TTL"))
            guard (1...KVRequest.leaseTTLSecondsMax).contains(ttl) else { throw .invalidContent("lease TTL \(ttl) s out of range") }
            self = .leaseGrant(id: id, ttlSeconds: ttl)
        case .leaseRevoke:
            self = .leaseRevoke(id: try Self.readLeaseID(&reader, allowingZero: false))
        case nil:
            throw .unknownTag(field: "request", tag: tag)
        }
    }

    static func readKey(_ reader: inout KVByteReader, _ field: String) throws(KVCodecError) -> [UInt8] {
        let key = try reader.readLengthPrefixed(field, bytesMax: KVCommand.keyBytesMax)
        guard !key.isEmpty else { throw .invalidContent("empty \(field)") }
        return key
    }

    static func readLeaseID(_ reader: inout KVByteReader, allowingZero: Bool) throws(KVCodecError) -> Int64 {
        let id = Int64(bitPattern: try reader.readUInt64("lease id"))
        guard id > 0 || (allowingZero && id == 0) else { throw .invalidContent("lease id \(id) out of range") }
        return id
    }
}

extension KVTxn {
    private enum OperationTag: UInt8 {
        case put = 1
        case delete = 2
        case range = 3
    }

    private enum TargetTag: UInt8 {
        case value = 1
        case version = 2
        case createRevision = 3
        case modRevision = 4
        case lease = 5
    }

    func encode(into writer: inout ByteWriter) {
        writer.write(UInt16(compares.count))
        for compare in compares {
            writer.writeLengthPrefixed(compare.key)
            writer.write(compare.comparison.rawValue)
            switch compare.target {
            case .value(let value):
                writer.write(TargetTag.value.rawValue)
                writer.writeLengthPrefixed(value)
            case .version(let number): Self.write(.version, number, into: &writer)
            case .createRevision(let number): Self.write(.createRevision, number, into: &writer)
            case .modRevision(let number): Self.write(.modRevision, number, into: &writer)
            case .lease(let number): Self.write(.lease, number, into: &writer)
            }
        }
        for list in [success, failure] {
            writer.write(UInt16(list.count))
            for operation in list {
                switch operation {
                case .put(let key, let value, let lease):
                    writer.write(OperationTag.put.rawValue)
                    writer.writeLengthPrefixed(key)
                    writer.writeLengthPrefixed(value)
                    writer.write(UInt64(bitPattern: lease))
                case .delete(let key, let end):
                    writer.write(OperationTag.delete.rawValue)
                    writer.writeLengthPrefixed(key)
                    writer.writeLengthPrefixed(end)
                case .range(let key, let end, let limit):
                    writer.write(OperationTag.range.rawValue)
                    writer.writeLengthPrefixed(key)
                    writer.writeLengthPrefixed(end)
                    writer.write(UInt64(bitPattern: limit))
                }
            }
        }
    }

    private static func write(_ tag: TargetTag, _ number: Int64, into writer: inout ByteWriter) {
        writer.write(tag.rawValue)
        writer.write(UInt64(bitPattern: number))
    }

    init(decoding reader: inout KVByteReader) throws(KVCodecError) {
        let compareCount = Int(try reader.readUInt16("compare count"))
        guard compareCount <= Self.comparesMax else {
            throw .lengthOutOfBounds(field: "compares", length: UInt64(compareCount), bytesMax: UInt64(Self.comparesMax))
        }
        var compares: [KVCompare] = []
        for _ in 0..<compareCount {
            let key = try KVRequest.readKey(&reader, "compare key")
            let operatorByte = try reader.readUInt8("compare operator")
            guard let comparison = KVCompare.Operator(rawValue: operatorByte) else {
                throw .unknownTag(field: "compare operator", tag: operatorByte)
            }
            let tag = try reader.readUInt8("compare target")
            let target: KVCompare.Target
            switch TargetTag(rawValue: tag) {
            case .value: target = .value(try reader.readLengthPrefixed("compare value", bytesMax: KVCommand.valueBytesMax))
            case .version: target = .version(Int64(bitPattern: try reader.readUInt64("compare version")))
            case .createRevision: target = .createRevision(Int64(bitPattern: try reader.readUInt64("compare revision")))
            case .modRevision: target = .modRevision(Int64(bitPattern: try reader.readUInt64("compare revision")))
            case .lease: target = .lease(Int64(bitPattern: try reader.readUInt64("compare lease")))
            case nil: throw .unknownTag(field: "compare target", tag: tag)
            }
            compares.append(KVCompare(key: key, target: target, comparison: comparison))
        }
        let success = try Self.decodeOperations(&reader)
        let failure = try Self.decodeOperations(&reader)
        self.init(compares: compares, success: success, failure: failure)
    }

    private static func decodeOperations(_ reader: inout KVByteReader) throws(KVCodecError) -> [KVTxnOperation] {
        let count = Int(try reader.readUInt16("operation count"))
        guard count <= operationsMax else {
            throw .lengthOutOfBounds(field: "operations", length: UInt64(count), bytesMax: UInt64(operationsMax))
        }
        var operations: [KVTxnOperation] = []
        for _ in 0..<count {
            let tag = try reader.readUInt8("txn operation")
            switch OperationTag(rawValue: tag) {
            case .put:
                let key = try KVRequest.readKey(&reader, "key")
                let value = try reader.readLengthPrefixed("value", bytesMax: KVCommand.valueBytesMax)
                let lease = try KVRequest.readLeaseID(&reader, allowingZero: true)
                operations.append(.put(key: key, value: value, lease: lease))
            case .delete:
                let key = try KVRequest.readKey(&reader, "key")
                let end = try reader.readLengthPrefixed("range end", bytesMax: KVCommand.keyBytesMax)
                operations.append(.delete(key: key, rangeEnd: end))
            case .range:
                let key = try KVRequest.readKey(&reader, "key")
                let end = try reader.readLengthPrefixed("range end", bytesMax: KVCommand.keyBytesMax)
                let limit = Int64(bitPattern: try reader.readUInt64("range limit"))
                guard (0...Int64(rangeKeysMax)).contains(limit) else { throw .invalidContent("range limit \(limit) out of range") }
                operations.append(.range(key: key, rangeEnd: end, limit: limit))
            case nil:
                throw .unknownTag(field: "txn operation", tag: tag)
            }
        }
        return operations
    }
}
