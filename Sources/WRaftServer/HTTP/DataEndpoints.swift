#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import RaftCore
import WRaftAPI

// The key-value endpoints: PUT/GET/DELETE /data/{key}, GET /data, POST /set.

extension APIResponder {
    /// `PUT /data/{key}`: the body is the raw value (at most `valueBytesMax` bytes).
    nonisolated(nonsending) func putValue(rawKey: Substring, _ query: QueryParameters, _ request: Request) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let condition = try writeCondition(query)
        let deadline = try options.deadline(query)
        let limit = options.valueBytesMax
        let body = try await readBody(request, limit: limit) { bytes in .node(.valueTooLarge(bytes: bytes, limit: limit)) }
        let write = WriteRequest(key: key, operation: .put(value: Array(body.readableBytesView)), condition: condition)
        return try await perform(write, deadline: deadline)
    }

    /// `DELETE /data/{key}`.
    nonisolated(nonsending) func deleteValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let condition = try writeCondition(query)
        let deadline = try options.deadline(query)
        return try await perform(WriteRequest(key: key, operation: .delete, condition: condition), deadline: deadline)
    }

    /// `GET /data/{key}`: the raw value, with the index and term that last modified it.
    nonisolated(nonsending) func getValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
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
    nonisolated(nonsending) func listValues(_ query: QueryParameters) async throws(APIError) -> Response {
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
    nonisolated(nonsending) func setValue(_ request: Request) async throws(APIError) -> Response {
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
    private nonisolated(nonsending) func perform(_ write: WriteRequest, deadline: ContinuousClock.Instant) async throws(APIError) -> Response {
        let outcome = try await call { () async throws(NodeError) in
            try await service.write(write, deadline: deadline)
        }
        return jsonResponse(.ok, outcome.encodedJSON())
    }
}

/// The custom headers of `GET /data/{key}`.
enum HTTPHeader {
    static let raftIndex = headerName(RaftHeader.index)
    static let raftTerm = headerName(RaftHeader.term)

    private static func headerName(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else {
            preconditionFailure("HTTPHeader: \(name) is a valid header field name")
        }
        return field
    }
}

/// `{"items": [{"key","value","index"}], "more": bool, "next"?: cursor}` (`ListView`). Items stop
/// before the JSON would pass `bytesMax` bytes (the first item always goes in, so a client
/// paging with `next` always progresses); `more` is then true, and `next` names the last key
/// written.
func listJSON(_ outcome: ListOutcome, bytesMax: Int) -> ByteBuffer {
    var encodedItems: [ByteBuffer] = []
    // 64: the object's own keys and brackets.
    var bytes = 64
    var lastKey: String?
    var isCut = false
    for item in outcome.items {
        let encoded = ListView.Item.encodedJSON(key: item.key, value: item.value, index: item.index)
        // 300: room for the closing fields and a cursor of the longest key.
        if lastKey != nil, bytes + encoded.readableBytes + 300 > bytesMax {
            isCut = true
            break
        }
        encodedItems.append(encoded)
        bytes += encoded.readableBytes + 1
        lastKey = item.key
    }
    let hasMore = isCut || outcome.hasMore
    let next = hasMore ? lastKey.map { ListCursor.encode(key: $0) } : nil
    return ListView.encodedJSON(encodedItems: encodedItems, more: hasMore, next: next)
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

extension SetBody {
    /// The checked write the body asks for.
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
        case ListView.Item.base64:
            guard let data = Data(base64Encoded: text) else { throw .badRequest("\(field) is not valid base64") }
            return Array(data)
        case let other?:
            throw .badRequest("encoding must be utf8 or base64, not \"\(other.prefix(40))\"")
        }
    }
}
