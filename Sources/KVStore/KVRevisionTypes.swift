import RaftCore

/// One key as read, with etcd's revision fields beside WRaft's log index.
public struct KVEntry: Sendable, Equatable {
    public var key: [UInt8]
    public var value: [UInt8]
    /// The revision that created the key (since it last did not exist).
    public var createRevision: UInt64
    /// The revision that last modified the key.
    public var modRevision: UInt64
    /// How many times the key was written since it was created (1 after the create).
    public var version: UInt64
    /// The lease the key is attached to, 0 for none.
    public var lease: Int64
    /// The log index of the entry that last modified the key (API.md's `index`).
    public var index: LogIndex
    /// That entry's term.
    public var term: Term

    public init(
        key: [UInt8], value: [UInt8], createRevision: UInt64, modRevision: UInt64, version: UInt64, lease: Int64,
        index: LogIndex, term: Term
    ) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
        self.index = index
        self.term = term
    }
}

/// One change in the history: what a watch delivers.
public struct KVEvent: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, Equatable {
        case put = 1
        case delete = 2
    }

    public var kind: Kind
    /// The revision of the change (several changes can share one: a transaction, a revoke).
    public var revision: UInt64
    /// The key after a put; after a delete, the key with an empty value and `modRevision`
    /// the delete's revision (as etcd reports it).
    public var entry: KVEntry
    /// The key before the change, nil when it did not exist.
    public var previous: KVEntry?

    public init(kind: Kind, revision: UInt64, entry: KVEntry, previous: KVEntry?) {
        self.kind = kind
        self.revision = revision
        self.entry = entry
        self.previous = previous
    }
}

/// The answer to one operation of a transaction.
public enum KVTxnResponse: Sendable, Equatable {
    case put
    /// How many keys the delete deleted.
    case delete(deleted: Int)
    /// The keys read, and whether more were in the range than returned.
    case range(entries: [KVEntry], more: Bool)
}

/// The outcome of a transaction.
public struct KVTxnResult: Sendable, Equatable {
    /// Whether every compare held (the `success` list ran).
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: UInt64
    /// One answer per operation that ran, in order; nil when the transaction is a retry
    /// answered from its client's session, which keeps only `succeeded` and `revision`.
    public var responses: [KVTxnResponse]?

    public init(succeeded: Bool, revision: UInt64, responses: [KVTxnResponse]?) {
        self.succeeded = succeeded
        self.revision = revision
        self.responses = responses
    }
}

/// Why the store refused a command it decoded (deterministically, on every replica).
public enum KVRejection: UInt8, Sendable, Equatable, CustomStringConvertible {
    /// A put or a revoke names a lease that does not exist.
    case leaseNotFound = 1
    /// A grant names an id already in use.
    case leaseExists = 2
    /// A grant would exceed `KVStore.leasesMax`.
    case tooManyLeases = 3
    /// A compaction names a revision above the current one.
    case futureRevision = 4
    /// A compaction names a revision below the compaction revision.
    case compacted = 5
    /// A transaction writes one key twice.
    case duplicateKey = 6

    public var description: String {
        switch self {
        case .leaseNotFound: return "lease not found"
        case .leaseExists: return "a lease with this id exists"
        case .tooManyLeases: return "too many leases"
        case .futureRevision: return "the revision is in the future"
        case .compacted: return "the revision has been compacted"
        case .duplicateKey: return "a transaction writes one key more than once"
        }
    }
}

/// Why a read at a revision (or a watch from one) cannot be served.
public enum KVReadError: Error, Sendable, Equatable {
    /// The revision is below the compaction revision: its history is gone.
    case compacted(compactRevision: UInt64)
    /// The revision is above the store's current revision.
    case futureRevision(currentRevision: UInt64)
}

/// A range of keys: `[start, end)`; `end` nil is every key from `start` on.
public struct KVKeyRange: Sendable, Equatable {
    public var start: [UInt8]
    public var end: [UInt8]?

    public init(start: [UInt8], end: [UInt8]?) {
        self.start = start
        self.end = end
    }

    /// The keys starting with `prefix` (all keys for an empty prefix).
    public static func prefix(_ prefix: [UInt8]) -> KVKeyRange {
        KVKeyRange(start: prefix, end: prefixEnd(prefix))
    }

    /// Exactly one key.
    public static func key(_ key: [UInt8]) -> KVKeyRange {
        KVKeyRange(start: key, end: key + [0])
    }

    /// etcd's range convention: an empty `rangeEnd` names the key alone, `[0]` every key from
    /// `key` on, anything else `[key, rangeEnd)`.
    public static func etcd(key: [UInt8], rangeEnd: [UInt8]) -> KVKeyRange {
        if rangeEnd.isEmpty { return .key(key) }
        if rangeEnd == [0] { return KVKeyRange(start: key, end: nil) }
        return KVKeyRange(start: key, end: rangeEnd)
    }

    /// The smallest key greater than every key starting with `prefix`; nil when none is
    /// (the prefix is empty or all 0xFF).
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return nil
    }

    /// Whether `key` is in the range.
    public func contains(_ key: [UInt8]) -> Bool {
        guard !key.lexicographicallyPrecedes(start) else { return false }
        guard let end else { return true }
        return key.lexicographicallyPrecedes(end)
    }
}
