#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore

// The answers of the key-value endpoints (PUT/GET/DELETE /data/{key}, GET /data, POST /set).

/// How `GET /data` reads (`?consistency=`).
public enum ReadConsistency: String, Sendable, Equatable, CaseIterable {
    /// ReadIndex through the leader (the default).
    case linearizable
    /// This node's state machine as it is: may be stale, works without a leader.
    case local
}

/// The custom headers of `GET /data/{key}`.
public enum RaftHeader {
    /// The index of the entry that last modified the key.
    public static let index = "X-Raft-Index"
    /// The term of that entry.
    public static let term = "X-Raft-Term"
}

/// The answer to an applied write (`PUT`/`DELETE /data/{key}`, `POST /set`).
public struct WriteOutcome: Sendable, Equatable, Codable {
    public var key: String
    /// The log index of the entry that carried the write.
    public var index: UInt64
    public var term: UInt64
    /// For deletes: whether the key existed. Nil for puts.
    public var deleted: Bool?
    /// The store's revision after the write (nil from nodes before revisions).
    public var revision: UInt64?

    public init(key: String, index: UInt64, term: UInt64, deleted: Bool? = nil, revision: UInt64? = nil) {
        self.key = key
        self.index = index
        self.term = term
        self.deleted = deleted
        self.revision = revision
    }

    /// `{"key","index","term","revision"}`, and `"deleted"` for deletes.
    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 80 + key.utf8.count) { writer in
            writer.field(CodingKeys.key, key)
            writer.field(CodingKeys.index, index)
            writer.field(CodingKeys.term, term)
            if let revision { writer.field(CodingKeys.revision, revision) }
            if let deleted { writer.field(CodingKeys.deleted, deleted) }
        }
    }
}

/// A key's value and the log position that last modified it (`GET /data/{key}`: the raw value
/// as the body, the position in `RaftHeader`s).
public struct ReadOutcome: Sendable, Equatable {
    public var value: [UInt8]
    /// The index of the entry that last modified the key.
    public var index: UInt64
    public var term: UInt64

    public init(value: [UInt8], index: UInt64, term: UInt64) {
        self.value = value
        self.index = index
        self.term = term
    }

    /// The value as UTF-8 text (invalid bytes replaced).
    public var text: String { String(decoding: value, as: UTF8.self) }
}

/// The body of `GET /data?prefix=&limit=&cursor=`.
public struct ListView: Sendable, Equatable, Codable {
    public struct Item: Sendable, Equatable, Codable {
        public var key: String
        /// The value as the node sent it: UTF-8 text, or base64 when `encoding` is `base64`.
        public var value: String
        public var index: UInt64
        /// `base64` for a value that is not valid UTF-8; nil for text.
        public var encoding: String?
        /// The key's revision fields (nil from nodes before revisions).
        public var createRevision: UInt64?
        public var modRevision: UInt64?
        public var version: UInt64?
        public var lease: Int64?

        public init(key: String, value: String, index: UInt64, encoding: String? = nil) {
            self.key = key
            self.value = value
            self.index = index
            self.encoding = encoding
        }

        /// The value's bytes (base64 decoded when needed; nil if that base64 is invalid).
        public var valueBytes: [UInt8]? {
            guard encoding == Self.base64 else { return Array(value.utf8) }
            return Data(base64Encoded: value).map { Array($0) }
        }

        /// The `encoding` of a value that is not UTF-8.
        public static let base64 = "base64"

        /// An item from the value's bytes: valid UTF-8 is a JSON string as is; any other value is
        /// base64 with `"encoding": "base64"` beside it.
        package static func encodedJSON(
            key: String, value: [UInt8], index: UInt64,
            revisions: (create: UInt64, mod: UInt64, version: UInt64, lease: Int64)? = nil
        ) -> ByteBuffer {
            JSONWriter.object(capacity: key.utf8.count + value.count + 128) { writer in
                writer.field(CodingKeys.key, key)
                writer.key(CodingKeys.value)
                if String(validating: value, as: UTF8.self) != nil {
                    writer.string(utf8: value)
                } else {
                    writer.string(Data(value).base64EncodedString())
                    writer.field(CodingKeys.encoding, base64)
                }
                writer.field(CodingKeys.index, index)
                if let revisions {
                    writer.field(CodingKeys.createRevision, revisions.create)
                    writer.field(CodingKeys.modRevision, revisions.mod)
                    writer.field(CodingKeys.version, revisions.version)
                    writer.field(CodingKeys.lease, Int(revisions.lease))
                }
            }
        }
    }

    public var items: [Item]
    /// True when more keys with the prefix follow the last one returned.
    public var more: Bool
    /// With `more`: the opaque continuation cursor of the next page (`?cursor=`).
    public var next: String?
    /// The store's revision the page was read at (nil from nodes before revisions).
    public var revision: UInt64?

    public init(items: [Item], more: Bool, next: String? = nil) {
        self.items = items
        self.more = more
        self.next = next
    }

    /// The body from items already encoded by `Item.encodedJSON(key:value:index:)` (the server
    /// sizes the page by their encoded length).
    package static func encodedJSON(encodedItems: [ByteBuffer], more: Bool, next: String?, revision: UInt64? = nil)
        -> ByteBuffer
    {
        JSONWriter.object(capacity: 64 + encodedItems.reduce(0) { $0 + $1.readableBytes + 1 }) { writer in
            writer.key(CodingKeys.items)
            writer.beginArray()
            for item in encodedItems { writer.element(raw: item) }
            writer.endArray()
            writer.field(CodingKeys.more, more)
            if let next { writer.field(CodingKeys.next, next) }
            if let revision { writer.field(CodingKeys.revision, revision) }
        }
    }
}
