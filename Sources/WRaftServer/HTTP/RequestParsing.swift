#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import KVStore
import RaftCore
import WRaftAPI
import WRaftSupport

// Turning the parts of a request (path, query, body) into checked values, or `APIError`s.

/// Percent-decodes `text` (RFC 3986). With `plusIsSpace` a `+` decodes to a space, as HTML
/// forms and most HTTP clients encode query strings; in paths a `+` is itself. Nil when a `%`
/// is not followed by two hex digits.
func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "%"):
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        case UInt8(ascii: "+") where plusIsSpace:
            bytes.append(UInt8(ascii: " "))
        default:
            bytes.append(byte)
        }
    }
    return bytes
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// The key of `/data/{key}`: everything after `/data/`, percent-decoded as one string, so a key
/// may contain `/` (written as is or as `%2F`). It must be 1 to `bytesMax` bytes of UTF-8.
package func parseKey(rawPath: Substring, bytesMax: Int) throws(APIError) -> String {
    guard !rawPath.isEmpty else { throw .badKey("the key is empty; keys are 1 to \(bytesMax) bytes of UTF-8") }
    // Fast path: nothing to decode.
    if !rawPath.utf8.contains(UInt8(ascii: "%")) {
        return try checkedKey(String(rawPath), bytesMax: bytesMax)
    }
    guard let bytes = percentDecoded(rawPath, plusIsSpace: false) else {
        throw .badKey("the key has a malformed percent-encoding")
    }
    guard let key = String(validating: bytes, as: UTF8.self) else {
        throw .badKey("the key is not valid UTF-8")
    }
    return try checkedKey(key, bytesMax: bytesMax)
}

/// Checks a key's length in bytes: 1...bytesMax.
func checkedKey(_ key: String, bytesMax: Int) throws(APIError) -> String {
    let count = key.utf8.count
    guard count >= 1 else { throw .badKey("the key is empty; keys are 1 to \(bytesMax) bytes of UTF-8") }
    guard count <= bytesMax else { throw .badKey("the key is \(count) bytes; the limit is \(bytesMax)") }
    return key
}

/// The decoded `name=value` pairs of a query string. Repeated names: the first wins.
package struct QueryParameters {
    private var pairs: [(name: Substring, value: Substring)] = []

    package init(_ query: String?) {
        guard let query, !query.isEmpty else { return }
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = part.firstIndex(of: "=") {
                pairs.append((part[..<equals], part[part.index(after: equals)...]))
            } else {
                pairs.append((part, ""))
            }
        }
    }

    /// The raw bytes of a parameter, percent-decoded; nil when absent.
    package func bytes(_ name: String) throws(APIError) -> [UInt8]? {
        guard let raw = pairs.first(where: { $0.name == name })?.value else { return nil }
        guard let bytes = percentDecoded(raw, plusIsSpace: true) else {
            throw .badRequest("query parameter \(name) has a malformed percent-encoding")
        }
        return bytes
    }

    /// A parameter as UTF-8 text; nil when absent.
    package func string(_ name: String) throws(APIError) -> String? {
        guard let bytes = try bytes(name) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .badRequest("query parameter \(name) is not valid UTF-8")
        }
        return text
    }

    /// A decimal integer parameter within `range`; nil when absent.
    package func integer(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw .badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), not \"\(text.prefix(40))\"")
        }
        return value
    }

    /// A log index parameter (`from`, `prevIndex`) in `0...HTTPOptions.logIndexMax`; nil when
    /// absent. The bound leaves room above any index a client names, so no arithmetic on it
    /// can overflow.
    package func logIndex(_ name: String) throws(APIError) -> LogIndex? {
        guard let text = try string(name) else { return nil }
        guard let value = UInt64(text), value <= HTTPOptions.logIndexMax else {
            throw .badRequest("\(name) must be an integer in 0...\(HTTPOptions.logIndexMax), not \"\(text.prefix(40))\"")
        }
        return LogIndex(value)
    }
}

extension HTTPOptions {
    /// The deadline of a request: now plus `?timeoutMs=` (within bounds) or the default.
    func deadline(_ query: QueryParameters) throws(APIError) -> ContinuousClock.Instant {
        let timeoutMs = try query.integer("timeoutMs", in: timeoutMsMin...timeoutMsMax) ?? defaultTimeoutMs
        return ContinuousClock.now.advanced(by: .milliseconds(timeoutMs))
    }
}

/// `?consistency=linearizable|local` (default linearizable).
package func readConsistency(_ query: QueryParameters) throws(APIError) -> ReadConsistency {
    guard let text = try query.string("consistency") else { return .linearizable }
    guard let consistency = ReadConsistency(rawValue: text) else {
        throw .badRequest("consistency must be linearizable or local, not \"\(text)\"")
    }
    return consistency
}

/// `?prevValue=V` or `?prevIndex=N` (not both).
package func writeCondition(_ query: QueryParameters) throws(APIError) -> WriteRequest.Condition {
    let previousValue = try query.bytes("prevValue")
    let previousIndex = try query.logIndex("prevIndex")
    switch (previousValue, previousIndex) {
    case (nil, nil): return .none
    case (let value?, nil): return .valueEquals(value)
    case (nil, let index?): return .indexEquals(index)
    case (.some, .some): throw .badRequest("give prevValue or prevIndex, not both")
    }
}

/// Reads a request body of at most `limit` bytes. A declared `Content-Length` over the limit is
/// refused before reading anything; a body that grows past it is refused as soon as it does, so
/// no request buffers more than `limit` bytes.
nonisolated(nonsending) func readBody(_ request: Request, limit: Int, tooLarge: (Int) -> APIError) async throws(APIError) -> ByteBuffer {
    if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
        throw tooLarge(declared)
    }
    // A small body usually arrives as one chunk: keep that buffer instead of copying it.
    var collected: ByteBuffer?
    do {
        for try await chunk in request.body {
            let total = (collected?.readableBytes ?? 0) + chunk.readableBytes
            guard total <= limit else { throw tooLarge(total) }
            if collected == nil {
                collected = chunk
            } else {
                var chunk = chunk
                collected?.writeBuffer(&chunk)
            }
        }
    } catch let error as APIError {
        throw error
    } catch {
        throw .badRequest("the request body could not be read: \(error)")
    }
    return collected ?? ByteBuffer()
}

/// Decodes a JSON request body; an empty body decodes as `{}` when `emptyIsObject`.
package func decodeJSON<Body: Decodable>(_ type: Body.Type, from buffer: ByteBuffer, emptyIsObject: Bool = false) throws(APIError) -> Body {
    let data = buffer.readableBytes == 0 && emptyIsObject ? Data("{}".utf8) : Data(buffer.readableBytesView)
    do {
        return try JSONDecoder().decode(Body.self, from: data)
    } catch let DecodingError.keyNotFound(key, _) {
        throw .badJSON("the body lacks the field \"\(key.stringValue)\"")
    } catch let DecodingError.typeMismatch(_, context) {
        throw .badJSON("a field has the wrong type at \(codingPathText(context.codingPath))")
    } catch let DecodingError.valueNotFound(_, context) {
        throw .badJSON("a field is null at \(codingPathText(context.codingPath))")
    } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
        // A number that does not fit the field's type (JSONDecoder refuses it; never a trap).
        throw .badRequest("\(codingPathText(context.codingPath)) is out of range or malformed")
    } catch {
        throw .badJSON("the body is not valid JSON of the expected shape")
    }
}

private func codingPathText(_ path: [any CodingKey]) -> String {
    path.isEmpty ? "the top level" : path.map(\.stringValue).joined(separator: ".")
}

/// A raft address `host:port` as `/connect` takes it.
package func checkedRaftAddress(_ address: String) throws(APIError) -> String {
    // The one set of address rules (`HostPort`), which also bounds the length.
    guard (try? HostPort(parsing: address)) != nil else {
        throw .badRequest("peer must be a raft address host:port, not \"\(address.prefix(300))\"")
    }
    return address
}

/// A member id in its hex form.
package func parseNodeID(_ text: String, field: String) throws(APIError) -> NodeID {
    guard let id = NodeID(hex: text) else {
        throw .badRequest("\(field) must be a member id (1 to 16 hex digits), not \"\(text.prefix(40))\"")
    }
    return id
}

extension QueryParameters {
    /// A revision parameter in `0...KVStore.revisionMax` (0: the current revision); nil when
    /// absent.
    package func revision(_ name: String) throws(APIError) -> UInt64? {
        guard let text = try string(name) else { return nil }
        guard let value = UInt64(text), value <= KVStore.revisionMax else {
            throw .node(
                .refused(code: .badRevision, message: "\(name) must be an integer in 0...\(KVStore.revisionMax), not \"\(text.prefix(40))\""))
        }
        return value
    }

    /// A lease id parameter in `0...Int64.max` (0: no lease); nil when absent.
    package func leaseID(_ name: String) throws(APIError) -> Int64? {
        guard let text = try string(name) else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw .node(.refused(code: .badLease, message: "\(name) must be a lease id in 0...\(Int64.max), not \"\(text.prefix(40))\""))
        }
        return value
    }
}
