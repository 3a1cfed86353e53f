import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The bodies of revisions, transactions and leases (issue 12): `POST /txn`, `POST /lease`,
// `GET /lease/{id}`, `GET /leases`, `POST /compact`.

/// The headers of revision fields: every key-value answer carries `revision` (the store's
/// revision when it was served); `GET /data/{key}` also the key's own fields.
public enum RevisionHeader {
    public static let revision = "X-WRaft-Revision"
    public static let createRevision = "X-WRaft-Create-Revision"
    public static let modRevision = "X-WRaft-Mod-Revision"
    public static let version = "X-WRaft-Version"
    public static let lease = "X-WRaft-Lease"
    /// On `410 compacted` of `GET /watch`: the compaction revision (a watch may start above it).
    public static let compactRevision = "X-WRaft-Compact-Revision"
}

/// `POST /txn`: `{"compare": [...], "success": [...], "failure": [...]}`.
public struct TxnBody: Codable, Sendable, Equatable {
    /// `{"key", "target": "value|version|createRevision|modRevision|lease", "op": "=|!=|<|>",
    /// "value": text}` for a value target, `"number": N` for the others.
    public struct Compare: Codable, Sendable, Equatable {
        public var key: String
        public var target: String
        public var op: String
        public var value: String?
        public var number: Int64?

        public init(key: String, target: String, op: String, value: String? = nil, number: Int64? = nil) {
            self.key = key
            self.target = target
            self.op = op
            self.value = value
            self.number = number
        }
    }

    /// `{"op": "put", "key", "value", "lease"?}`, `{"op": "delete", "key", "end"?, "prefix"?}`,
    /// `{"op": "range", "key", "end"?, "prefix"?, "limit"?}`. `end` ends a range (exclusive);
    /// `"prefix": true` makes it every key starting with `key`.
    public struct Operation: Codable, Sendable, Equatable {
        public var op: String
        public var key: String
        public var value: String?
        public var lease: Int64?
        public var end: String?
        public var prefix: Bool?
        public var limit: Int64?

        public init(
            op: String, key: String, value: String? = nil, lease: Int64? = nil, end: String? = nil, prefix: Bool? = nil,
            limit: Int64? = nil
        ) {
            self.op = op
            self.key = key
            self.value = value
            self.lease = lease
            self.end = end
            self.prefix = prefix
            self.limit = limit
        }
    }

    public var compare: [Compare]?
    public var success: [Operation]?
    public var failure: [Operation]?

    public init(compare: [Compare]? = nil, success: [Operation]? = nil, failure: [Operation]? = nil) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

/// A key as a range or a transaction answers it.
public struct KeyView: Codable, Sendable, Equatable {
    public var key: String
    /// UTF-8 text, or base64 when `encoding` is `base64`.
    public var value: String
    public var encoding: String?
    public var index: UInt64
    public var createRevision: UInt64
    public var modRevision: UInt64
    public var version: UInt64
    public var lease: Int64

    public init(
        key: String, value: String, encoding: String? = nil, index: UInt64, createRevision: UInt64, modRevision: UInt64,
        version: UInt64, lease: Int64
    ) {
        self.key = key
        self.value = value
        self.encoding = encoding
        self.index = index
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    package static func write(
        _ writer: inout JSONWriter, key: String, value: [UInt8], index: UInt64, createRevision: UInt64,
        modRevision: UInt64, version: UInt64, lease: Int64
    ) {
        writer.beginObject()
        writer.field(CodingKeys.key, key)
        writer.key(CodingKeys.value)
        if String(validating: value, as: UTF8.self) != nil {
            writer.string(utf8: value)
        } else {
            writer.string(Data(value).base64EncodedString())
            writer.field(CodingKeys.encoding, ListView.Item.base64)
        }
        writer.field(CodingKeys.index, index)
        writer.field(CodingKeys.createRevision, createRevision)
        writer.field(CodingKeys.modRevision, modRevision)
        writer.field(CodingKeys.version, version)
        writer.field(CodingKeys.lease, Int(lease))
        writer.endObject()
    }
}

/// The answer of `POST /txn`.
public struct TxnView: Codable, Sendable, Equatable {
    /// `{"op": "put"}`, `{"op": "delete", "deleted": n}`, `{"op": "range", "items", "more"}`.
    public struct Response: Codable, Sendable, Equatable {
        public var op: String
        public var deleted: Int?
        public var items: [KeyView]?
        public var more: Bool?

        public init(op: String, deleted: Int? = nil, items: [KeyView]? = nil, more: Bool? = nil) {
            self.op = op
            self.deleted = deleted
            self.items = items
            self.more = more
        }

        package enum Kind: String {
            case put, delete, range
        }

        package enum CodingKeys: String, CodingKey {
            case op, deleted, items, more
        }
    }

    public var succeeded: Bool
    public var revision: UInt64
    /// Absent when the transaction was a retry answered from the node's memory of it.
    public var responses: [Response]?

    public init(succeeded: Bool, revision: UInt64, responses: [Response]?) {
        self.succeeded = succeeded
        self.revision = revision
        self.responses = responses
    }

    package static func writeHead(_ writer: inout JSONWriter, succeeded: Bool, revision: UInt64) {
        writer.field(CodingKeys.succeeded, succeeded)
        writer.field(CodingKeys.revision, revision)
    }

    package static func writeResponsesKey(_ writer: inout JSONWriter) {
        writer.key(CodingKeys.responses)
    }

    package static func writeResponseHead(_ writer: inout JSONWriter, op: Response.Kind) {
        writer.field(Response.CodingKeys.op, op.rawValue)
    }

    package static func writeDeleted(_ writer: inout JSONWriter, _ count: Int) {
        writer.field(Response.CodingKeys.deleted, count)
    }

    package static func writeItemsKey(_ writer: inout JSONWriter) {
        writer.key(Response.CodingKeys.items)
    }

    package static func writeMore(_ writer: inout JSONWriter, _ more: Bool) {
        writer.field(Response.CodingKeys.more, more)
    }
}

/// `POST /lease`: `{"ttl": seconds, "id"?: n}` (no id: the cluster chooses one).
public struct LeaseGrantBody: Codable, Sendable, Equatable {
    public var ttl: Int64
    public var id: Int64?

    public init(ttl: Int64, id: Int64? = nil) {
        self.ttl = ttl
        self.id = id
    }
}

/// A lease: `{"id", "ttl", "remainingMs"?, "keys"?}` (`remainingMs` from the leader's clock).
public struct LeaseView: Codable, Sendable, Equatable {
    public var id: Int64
    /// The TTL in seconds (absent from a revoke's answer).
    public var ttl: Int64?
    public var remainingMs: Int64?
    public var keys: [String]?
    /// After a revoke: the revision that deleted its keys.
    public var revision: UInt64?

    public init(id: Int64, ttl: Int64?, remainingMs: Int64? = nil, keys: [String]? = nil, revision: UInt64? = nil) {
        self.id = id
        self.ttl = ttl
        self.remainingMs = remainingMs
        self.keys = keys
        self.revision = revision
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { writer in
            writer.field(CodingKeys.id, Int(id))
            if let ttl { writer.field(CodingKeys.ttl, Int(ttl)) }
            if let remainingMs { writer.field(CodingKeys.remainingMs, Int(remainingMs)) }
            if let revision { writer.field(CodingKeys.revision, revision) }
            if let keys {
                writer.key(CodingKeys.keys)
                writer.beginArray()
                for key in keys { writer.string(key) }
                writer.endArray()
            }
        }
    }
}

/// `GET /leases`: `{"leases": [{"id", "ttl", "remainingMs"?}]}`.
public struct LeasesView: Codable, Sendable, Equatable {
    public var leases: [LeaseView]

    public init(leases: [LeaseView]) { self.leases = leases }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 64 + 48 * leases.count) { writer in
            writer.key(CodingKeys.leases)
            writer.beginArray()
            for lease in leases { writer.element(raw: lease.encodedJSON()) }
            writer.endArray()
        }
    }
}

/// `POST /compact`: `{"revision": n}`; answered with the same body once applied.
public struct CompactBody: Codable, Sendable, Equatable {
    public var revision: UInt64

    public init(revision: UInt64) { self.revision = revision }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object { writer in writer.field(CodingKeys.revision, revision) }
    }
}
