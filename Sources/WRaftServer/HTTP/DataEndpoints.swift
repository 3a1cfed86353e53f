#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import KVStore
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
        let lease = try query.leaseID("lease") ?? 0
        let write = WriteRequest(
            key: key, operation: .put(value: Array(body.readableBytesView)), condition: condition, lease: lease)
        return try await perform(write, deadline: deadline)
    }

    /// `DELETE /data/{key}`.
    nonisolated(nonsending) func deleteValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let condition = try writeCondition(query)
        let deadline = try options.deadline(query)
        return try await perform(WriteRequest(key: key, operation: .delete, condition: condition), deadline: deadline)
    }

    /// `GET /data/{key}?revision=N`: the raw value, with the index and term that last modified
    /// it and its revision fields in headers.
    nonisolated(nonsending) func getValue(rawKey: Substring, _ query: QueryParameters) async throws(APIError) -> Response {
        let key = try parseKey(rawPath: rawKey, bytesMax: options.keyBytesMax)
        let revision = try query.revision("revision")
        let consistency = try readConsistency(query)
        let deadline = try options.deadline(query)
        let found = try await call { () async throws(NodeError) in
            try await service.readEntry(key: Array(key.utf8), revision: revision, consistency: consistency, deadline: deadline)
        }
        guard let entry = found.entry else {
            var response = errorResponse(for: .node(.notFound(message: "no key \"\(key.prefix(100))\"")))
            response.headers[HTTPHeader.revision] = String(found.revision)
            return response
        }
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        headers[HTTPHeader.raftIndex] = String(entry.index.rawValue)
        headers[HTTPHeader.raftTerm] = String(entry.term.rawValue)
        headers[HTTPHeader.revision] = String(found.revision)
        headers[HTTPHeader.createRevision] = String(entry.createRevision)
        headers[HTTPHeader.modRevision] = String(entry.modRevision)
        headers[HTTPHeader.version] = String(entry.version)
        headers[HTTPHeader.lease] = String(entry.lease)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: entry.value)))
    }

    /// `GET /data?prefix=P` or `?start=S&end=E` (end exclusive, absent: to the last key), with
    /// `limit`, `cursor` (the `next` of the previous page) and `revision` (to page through one
    /// revision, pass the `revision` of the first page).
    nonisolated(nonsending) func listValues(_ query: QueryParameters) async throws(APIError) -> Response {
        let prefix = try query.string("prefix")
        let start = try query.string("start")
        let end = try query.string("end")
        for (name, text) in [("prefix", prefix), ("start", start), ("end", end)] {
            guard let text, text.utf8.count > options.keyBytesMax else { continue }
            throw .badKey("\(name) is \(text.utf8.count) bytes; keys are at most \(options.keyBytesMax)")
        }
        let range: KVKeyRange
        switch (prefix, start) {
        case (let prefix?, nil):
            guard end == nil else { throw .badRequest("give prefix, or start and end, not both") }
            range = .prefix(Array(prefix.utf8))
        case (nil, let start):
            range = KVKeyRange(start: Array((start ?? "").utf8), end: end.map { Array($0.utf8) })
        case (.some, .some):
            throw .badRequest("give prefix, or start and end, not both")
        }
        let limit = try query.integer("limit", in: 1...options.listLimitMax) ?? options.listLimitDefault
        let after = try query.string("cursor").map { cursor throws(APIError) in
            let key = try ListCursor.key(decoding: cursor, prefix: prefix ?? "", keyBytesMax: options.keyBytesMax)
            guard range.contains(Array(key.utf8)) else { throw .badRequest("cursor does not name a key of this range") }
            return Array(key.utf8)
        }
        let revision = try query.revision("revision")
        let consistency = try readConsistency(query)
        let deadline = try options.deadline(query)
        let outcome = try await call { () async throws(NodeError) in
            try await service.readRange(
                range, after: after, revision: revision, limit: limit, consistency: consistency, deadline: deadline)
        }
        var response = jsonResponse(.ok, listJSON(outcome, bytesMax: options.listBytesMax))
        response.headers[HTTPHeader.revision] = String(outcome.revision)
        return response
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
        var response = jsonResponse(.ok, outcome.encodedJSON())
        if let revision = outcome.revision { response.headers[HTTPHeader.revision] = String(revision) }
        return response
    }
}

/// The custom headers of `GET /data/{key}`.
enum HTTPHeader {
    static let raftIndex = headerName(RaftHeader.index)
    static let raftTerm = headerName(RaftHeader.term)
    static let revision = headerName(RevisionHeader.revision)
    static let createRevision = headerName(RevisionHeader.createRevision)
    static let modRevision = headerName(RevisionHeader.modRevision)
    static let version = headerName(RevisionHeader.version)
    static let lease = headerName(RevisionHeader.lease)
    static let compactRevision = headerName(RevisionHeader.compactRevision)
    static let lastEventID = headerName("Last-Event-ID")

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
func listJSON(_ outcome: RangeOutcome, bytesMax: Int) -> ByteBuffer {
    var encodedItems: [ByteBuffer] = []
    // 64: the object's own keys and brackets.
    var bytes = 64
    var lastKey: String?
    var isCut = false
    for entry in outcome.entries {
        let key = String(decoding: entry.key, as: UTF8.self)
        let encoded = ListView.Item.encodedJSON(
            key: key, value: entry.value, index: entry.index.rawValue,
            revisions: (entry.createRevision, entry.modRevision, entry.version, entry.lease))
        // 300: room for the closing fields and a cursor of the longest key.
        if lastKey != nil, bytes + encoded.readableBytes + 300 > bytesMax {
            isCut = true
            break
        }
        encodedItems.append(encoded)
        bytes += encoded.readableBytes + 1
        lastKey = key
    }
    let hasMore = isCut || outcome.hasMore
    let next = hasMore ? lastKey.map { ListCursor.encode(key: $0) } : nil
    return ListView.encodedJSON(encodedItems: encodedItems, more: hasMore, next: next, revision: outcome.revision)
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
