#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import RaftCore

// The key-value endpoints: PUT/GET/DELETE /data/{key}, GET /data, POST /set.

extension APIResponder {
    /// `PUT /data/{key}`: the body is the raw value (at most `valueBytesMax` bytes).
    func putValue(rawKey: Substring, _ query: QueryParameters, _ request: Request) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let condition = try writeCondition(query)
        let deadline = try options.deadline(query)
        let limit = options.valueBytesMax
        let body = try await readBody(request, limit: limit) { bytes in .node(.valueTooLarge(bytes: bytes, limit: limit)) }
        let write = WriteRequest(key: key, operation: .put(value: Array(body.readableBytesView)), condition: condition)
        return try await perform(write, deadline: deadline)
    }

    /// `DELETE /data/{key}`.
    func deleteValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let condition = try writeCondition(query)
        let deadline = try options.deadline(query)
        return try await perform(WriteRequest(key: key, operation: .delete, condition: condition), deadline: deadline)
    }

    /// `GET /data/{key}`: the raw value, with the index and term that last modified it.
    func getValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let consistency = try readConsistency(query)
        let deadline = try options.deadline(query)
        let found = try await call { () async throws(NodeError) in
            try await service.read(key: key, consistency: consistency, deadline: deadline)
        }
        guard let found else { throw .node(.notFound(message: "no key \"\(key.prefix(100))\"")) }
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        headers[HTTPHeader.raftIndex] = String(found.index)
        headers[HTTPHeader.raftTerm] = String(found.term)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: found.value)))
    }

    /// `GET /data?prefix=P&limit=N&cursor=C`.
    func listValues(_ query: QueryParameters) async throws(APIError) -> Response {
        let prefix = try query.string("prefix") ?? ""
        guard prefix.utf8.count <= options.keyBytesMax else {
            throw .badKey("the prefix is \(prefix.utf8.count) bytes; keys are at most \(options.keyBytesMax)")
        }
        let limit = try query.integer("limit", in: 1...options.listLimitMax) ?? options.listLimitDefault
        let after = try query.string("cursor").map { cursor throws(APIError) in
            try ListCursor.key(decoding: cursor, prefix: prefix, keyBytesMax: options.keyBytesMax)
        }
        let consistency = try readConsistency(query)
        let deadline = try options.deadline(query)
        let outcome = try await call { () async throws(NodeError) in
            try await service.list(prefix: prefix, after: after, limit: limit, consistency: consistency, deadline: deadline)
        }
        return jsonResponse(.ok, listJSON(outcome, bytesMax: options.listBytesMax))
    }

    /// `POST /set`: `{"key": "k", "value": "v"}` puts, `{"key": "k", "delete": true}` deletes.
    func setValue(_ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        let deadline = try options.deadline(query)
        let bodyLimit = options.jsonBodyBytesMax
        let valueLimit = options.valueBytesMax
        let buffer = try await readBody(request, limit: bodyLimit) { bytes in
            .node(.valueTooLarge(bytes: bytes, limit: valueLimit))
        }
        let body = try decodeJSON(SetBody.self, from: buffer)
        return try await perform(try body.writeRequest(options: options), deadline: deadline)
    }

    /// Proposes a write and answers `{"key","index","term"}` (+ `"deleted"` for deletes).
    private func perform(_ write: WriteRequest, deadline: ContinuousClock.Instant) async throws(APIError) -> Response {
        let outcome = try await call { () async throws(NodeError) in
            try await service.write(write, deadline: deadline)
        }
        return jsonResponse(.ok, writeOutcomeJSON(outcome))
    }
}

/// The custom headers of `GET /data/{key}`.
enum HTTPHeader {
    static let raftIndex = headerName("X-Raft-Index")
    static let raftTerm = headerName("X-Raft-Term")

    private static func headerName(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else {
            preconditionFailure("HTTPHeader: \(name) is a valid header field name")
        }
        return field
    }
}

/// `{"key","index","term"}`, and `"deleted"` for deletes.
func writeOutcomeJSON(_ outcome: WriteOutcome) -> ByteBuffer {
    var writer = JSONWriter(capacity: 64 + outcome.key.utf8.count)
    writer.beginObject()
    writer.field("key", outcome.key)
    writer.field("index", outcome.index)
    writer.field("term", outcome.term)
    if let deleted = outcome.deleted {
        writer.field("deleted", deleted)
    }
    writer.endObject()
    return writer.buffer
}

/// `{"items": [{"key","value","index"}], "more": bool, "next"?: cursor}`. A value that is valid
/// UTF-8 is a JSON string as is; any other value is base64 with `"encoding": "base64"` beside it.
/// Items stop before the JSON would pass `bytesMax` bytes (the first item always goes in, so a
/// client paging with `next` always progresses); `more` is then true, and `next` names the last
/// key written.
func listJSON(_ outcome: ListOutcome, bytesMax: Int) -> ByteBuffer {
    var writer = JSONWriter(capacity: 4_096)
    writer.beginObject()
    writer.key("items")
    writer.beginArray()
    var lastKey: String?
    var isCut = false
    for item in outcome.items {
        var itemWriter = JSONWriter(capacity: item.key.utf8.count + item.value.count + 64)
        itemWriter.beginObject()
        itemWriter.field("key", item.key)
        writeValue(item.value, into: &itemWriter)
        itemWriter.field("index", item.index)
        itemWriter.endObject()
        // 300: room for the closing fields and a cursor of the longest key.
        if lastKey != nil, writer.buffer.readableBytes + itemWriter.buffer.readableBytes + 300 > bytesMax {
            isCut = true
            break
        }
        writer.element(raw: itemWriter.buffer)
        lastKey = item.key
    }
    writer.endArray()
    let hasMore = isCut || outcome.hasMore
    writer.field("more", hasMore)
    if hasMore, let lastKey {
        writer.field("next", ListCursor.encode(key: lastKey))
    }
    writer.endObject()
    return writer.buffer
}

/// The `next` cursor of a list answer: the last key returned, base64url without padding (URL-safe
/// as is). Opaque to clients; only this node's `?cursor=` reads it.
enum ListCursor {
    static func encode(key: String) -> String {
        let base64 = Data(key.utf8).base64EncodedString()
        return String(base64.compactMap { character -> Character? in
            switch character {
            case "+": return "-"
            case "/": return "_"
            case "=": return nil
            default: return character
            }
        })
    }

    /// The key a cursor names; `400 bad_request` unless it is a cursor of a key with `prefix`.
    static func key(decoding cursor: String, prefix: String, keyBytesMax: Int) throws(APIError) -> String {
        // base64 of the longest key, and nothing else.
        guard cursor.utf8.count <= (keyBytesMax + 2) / 3 * 4,
            cursor.utf8.allSatisfy({ isBase64URL($0) })
        else { throw .badRequest("cursor is not a cursor this node gave (\"next\" of a list answer)") }
        var text = String(cursor.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while text.utf8.count % 4 != 0 { text.append("=") }
        guard let data = Data(base64Encoded: text), let key = String(validating: Array(data), as: UTF8.self),
            (1...keyBytesMax).contains(key.utf8.count), key.utf8.starts(with: prefix.utf8)
        else { throw .badRequest("cursor does not name a key with this prefix; pass the \"next\" of the previous answer") }
        return key
    }

    private static func isBase64URL(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }
}

private func writeValue(_ value: [UInt8], into writer: inout JSONWriter) {
    writer.key("value")
    if String(validating: value, as: UTF8.self) != nil {
        writer.string(utf8: value)
    } else {
        writer.string(Data(value).base64EncodedString())
        writer.field("encoding", "base64")
    }
}

/// The body of `POST /set`. `value` and the compare-and-set `prevValue` are UTF-8 text, or
/// base64 when `encoding` is `"base64"` (the same convention as `GET /data` lists).
package struct SetBody: Decodable {
    var key: String
    var value: String?
    var delete: Bool?
    var encoding: String?
    var prevValue: String?
    var prevIndex: UInt64?

    package func writeRequest(options: HTTPOptions) throws(APIError) -> WriteRequest {
        let key = try checkedKey(key, bytesMax: options.keyBytesMax)
        let condition = try self.condition()
        switch (value, delete ?? false) {
        case (let value?, false):
            let bytes = try decodedValue(value, field: "value")
            guard bytes.count <= options.valueBytesMax else {
                throw .node(.valueTooLarge(bytes: bytes.count, limit: options.valueBytesMax))
            }
            return WriteRequest(key: key, operation: .put(value: bytes), condition: condition)
        case (nil, true):
            return WriteRequest(key: key, operation: .delete, condition: condition)
        case (.some, true):
            throw .badRequest("give either \"value\" or \"delete\": true, not both")
        case (nil, false):
            throw .badRequest("give \"value\" to put or \"delete\": true to delete")
        }
    }

    private func condition() throws(APIError) -> WriteRequest.Condition {
        switch (prevValue, prevIndex) {
        case (nil, nil): return .none
        case (let value?, nil): return .valueEquals(try decodedValue(value, field: "prevValue"))
        case (nil, let index?):
            guard index <= HTTPOptions.logIndexMax else {
                throw .badRequest("prevIndex must be an integer in 0...\(HTTPOptions.logIndexMax), not \(index)")
            }
            return .indexEquals(LogIndex(index))
        case (.some, .some): throw .badRequest("give prevValue or prevIndex, not both")
        }
    }

    private func decodedValue(_ text: String, field: String) throws(APIError) -> [UInt8] {
        switch encoding {
        case nil, "utf8", "utf-8": return Array(text.utf8)
        case "base64":
            guard let data = Data(base64Encoded: text) else { throw .badRequest("\(field) is not valid base64") }
            return Array(data)
        case let other?:
            throw .badRequest("encoding must be utf8 or base64, not \"\(other.prefix(40))\"")
        }
    }
}
