import NIOCore

/// One message of `GET /watch` (the `data:` of an SSE message whose `id:` is the revision):
/// every event of one revision, in the order the revision made them.
public struct WatchMessageView: Codable, Sendable, Equatable {
    public var revision: UInt64
    public var events: [WatchEventView]

    public init(revision: UInt64, events: [WatchEventView]) {
        self.revision = revision
        self.events = events
    }

    package enum CodingKeys: String, CodingKey {
        case revision, events
    }
}

/// One change: `type` is `put` or `delete`; `kv` the key after it (after a delete: an empty
/// value at the delete's revision, as etcd reports it); `prevKV` the key before, when asked.
public struct WatchEventView: Codable, Sendable, Equatable {
    public var type: String
    public var kv: KeyView
    public var prevKV: KeyView?

    public init(type: String, kv: KeyView, prevKV: KeyView? = nil) {
        self.type = type
        self.kv = kv
        self.prevKV = prevKV
    }

    package enum CodingKeys: String, CodingKey {
        case type, kv, prevKV
    }

    /// The values of `type`.
    public static let put = "put"
    public static let delete = "delete"
}

/// `event: progress`: nothing matched lately, and everything through `revision` was seen.
/// `event: created`: the watch is open; the node's revision then.
public struct WatchRevisionView: Codable, Sendable, Equatable {
    public var revision: UInt64

    public init(revision: UInt64) { self.revision = revision }

    package enum CodingKeys: String, CodingKey {
        case revision
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 32) { $0.field(CodingKeys.revision, revision) }
    }
}

/// `event: error`, the last message of a watch that ends: `error` is an `ErrorCode`
/// (`compacted`, with `compactRevision`; `watch_too_slow`; `stopped`).
public struct WatchErrorView: Codable, Sendable, Equatable {
    public var error: String
    public var message: String
    public var compactRevision: UInt64?

    public init(code: ErrorCode, message: String, compactRevision: UInt64? = nil) {
        self.error = code.wireString
        self.message = message
        self.compactRevision = compactRevision
    }

    /// The code, when it is one this version knows.
    public var code: ErrorCode? { ErrorCode(rawValue: error) }

    package enum CodingKeys: String, CodingKey {
        case error, message, compactRevision
    }

    package func encodedJSON() -> ByteBuffer {
        JSONWriter.object(capacity: 128) { writer in
            writer.field(CodingKeys.error, error)
            writer.field(CodingKeys.message, message)
            if let compactRevision { writer.field(CodingKeys.compactRevision, compactRevision) }
        }
    }
}

extension WatchMessageView {
    /// Writes a message's fields inside an open object; `writeEvents` writes each event with
    /// `WatchEventView.write`.
    package static func writeFields(_ writer: inout JSONWriter, revision: UInt64, writeEvents: (inout JSONWriter) -> Void) {
        writer.field(CodingKeys.revision, revision)
        writer.key(CodingKeys.events)
        writer.beginArray()
        writeEvents(&writer)
        writer.endArray()
    }
}

extension WatchEventView {
    /// Writes one event; `writeKV` writes a `KeyView` object (called for `kv`, then for `prevKV`
    /// when there is one).
    package static func write(
        _ writer: inout JSONWriter, isPut: Bool, hasPrevious: Bool, writeKV: (inout JSONWriter, _ isPrevious: Bool) -> Void
    ) {
        writer.beginObject()
        writer.field(CodingKeys.type, isPut ? put : delete)
        writer.key(CodingKeys.kv)
        writeKV(&writer, false)
        if hasPrevious {
            writer.key(CodingKeys.prevKV)
            writeKV(&writer, true)
        }
        writer.endObject()
    }
}
