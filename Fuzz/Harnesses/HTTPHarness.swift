import Foundation
import NIOCore
import RaftCore
import WRaftAPI
import WRaftServer

/// The HTTP layer's request parsing, driven directly (no socket): the key of `/data/{key}`, query
/// strings, and the JSON bodies of `/set`, `/connect`, `/members/remove` and `/op/*`. The first
/// input byte picks the parser; the rest is its input.
///
/// Properties, for every input:
/// - every parser returns a value or throws `APIError` (a 4xx), never traps;
/// - a parsed key is 1 to `keyBytesMax` bytes; a key without `%` is itself; any key, percent-
///   encoded the way clients do, parses back to itself;
/// - query numbers land in their declared range; a `prevValue` of any bytes, percent-encoded,
///   decodes back to exactly those bytes;
/// - a `/set` body that is accepted yields a key and a value within their limits;
/// - an accepted raft address has a port in 1...65535 and at most 300 bytes; an accepted
///   member id prints and parses back to itself.
package enum HTTPHarness: FuzzHarness {
    package static let name = "HTTP"

    enum Parser: UInt8, CaseIterable {
        case key, query, setBody, raftAddress, nodeID, clusterBodies
    }

    static let options = HTTPOptions()

    package static func check(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        let text = String(decoding: bytes, as: UTF8.self)
        switch Parser.allCases[Int(selector) % Parser.allCases.count] {
        case .key: try checkKey(text, bytes: bytes)
        case .query: try checkQuery(text, bytes: bytes)
        case .setBody: try checkSetBody(bytes)
        case .raftAddress:
            guard let address = try? checkedRaftAddress(text) else { return }
            let port = address.split(separator: ":").last.flatMap { Int($0) }
            try require(
                self, address == text && address.utf8.count <= 300 && port.map { (1...65_535).contains($0) } == true,
                "an accepted raft address is the input, at most 300 bytes, with a port in 1...65535", address)
        case .nodeID:
            guard let id = try? parseNodeID(text, field: "id") else { return }
            try require(self, (try? parseNodeID(id.description, field: "id")) == id, "a member id parses back from its printed form")
        case .clusterBodies:
            // Decoding only: each body's fields are checked by the parsers above.
            let buffer = ByteBuffer(bytes: bytes)
            _ = try? decodeJSON(ConnectBody.self, from: buffer, emptyIsObject: true)
            _ = try? decodeJSON(MemberIDBody.self, from: buffer, emptyIsObject: true)
            _ = try? decodeJSON(IsolateBody.self, from: buffer, emptyIsObject: true)
            _ = try? decodeJSON(DelayBody.self, from: buffer, emptyIsObject: true)
            _ = try? decodeJSON(DropBody.self, from: buffer, emptyIsObject: true)
            _ = try? decodeJSON(TransferBody.self, from: buffer, emptyIsObject: true)
        }
    }

    static func checkKey(_ text: String, bytes: [UInt8]) throws(PropertyViolation) {
        if let key = try? parseKey(rawPath: Substring(text), bytesMax: options.keyBytesMax) {
            try require(
                self, (1...options.keyBytesMax).contains(key.utf8.count), "a parsed key is 1 to keyBytesMax bytes",
                "\(key.utf8.count) bytes")
            if !text.contains("%") {
                try require(self, key == text, "a key without percent-encoding is itself")
            }
        }
        // The input's bytes as a key (when they are one), encoded as clients encode paths.
        guard let key = String(validating: bytes, as: UTF8.self), (1...options.keyBytesMax).contains(bytes.count)
        else { return }
        let parsed = try? parseKey(rawPath: Substring(percentEncoded(bytes)), bytesMax: options.keyBytesMax)
        try require(self, parsed == key, "a percent-encoded key parses back to itself", "\(bytes.count) bytes")
    }

    static func checkQuery(_ text: String, bytes: [UInt8]) throws(PropertyViolation) {
        let query = QueryParameters(text)
        if let limit = try? query.integer("limit", in: 1...options.listLimitMax) {
            try require(self, (1...options.listLimitMax).contains(limit), "an integer parameter lies in its range", "\(limit)")
        }
        _ = try? query.logIndex("from")
        _ = try? query.string("prefix")
        _ = try? readConsistency(query)
        _ = try? writeCondition(query)
        // Any bytes as a compare-and-set value survive the query encoding.
        let encoded = QueryParameters("timeoutMs=100&prevValue=" + percentEncoded(bytes) + "&prevValue=ignored")
        let condition = try? writeCondition(encoded)
        try require(
            self, condition == WriteRequest.Condition.valueEquals(bytes), "a percent-encoded prevValue decodes to its bytes",
            "\(bytes.count) bytes, got \(String(describing: condition))")
    }

    static func checkSetBody(_ bytes: [UInt8]) throws(PropertyViolation) {
        guard let body = try? decodeJSON(SetBody.self, from: ByteBuffer(bytes: bytes)),
            let write = try? body.writeRequest(options: options)
        else { return }
        try require(
            self, (1...options.keyBytesMax).contains(write.key.utf8.count), "an accepted /set key is within keyBytesMax")
        if case .put(let value) = write.operation {
            try require(self, value.count <= options.valueBytesMax, "an accepted /set value is within valueBytesMax")
        }
    }

    /// RFC 3986 percent-encoding of everything but unreserved characters (as clients encode).
    static func percentEncoded(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func seeds() -> [[UInt8]] {
        let inputs: [(Parser, String)] = [
            (.key, "user/42"), (.key, "caf%C3%A9%2Fmenu"), (.key, "a+b"),
            (.query, "prefix=us&limit=10&consistency=local"), (.query, "prevIndex=7&timeoutMs=500"),
            (.query, "prevValue=a+b%20c&from=18446744073709551615"),
            (.setBody, #"{"key":"k","value":"v"}"#), (.setBody, #"{"key":"k","delete":true,"prevIndex":3}"#),
            (.setBody, #"{"key":"k","value":"AAEC","encoding":"base64","prevValue":"dg=="}"#),
            (.raftAddress, "127.0.0.1:7001"), (.raftAddress, "[::1]:65535"),
            (.nodeID, "00000000000000ab"), (.nodeID, "ffffffffffffffff"),
            (.clusterBodies, #"{"peer":"127.0.0.1:7002"}"#), (.clusterBodies, #"{"id":"2"}"#),
            (.clusterBodies, #"{"peers":["1","2"]}"#), (.clusterBodies, #"{"ms":10,"jitterMs":5}"#),
            (.clusterBodies, #"{"rate":0.5}"#), (.clusterBodies, #"{"to":"3"}"#),
        ]
        return inputs.map { [$0.0.rawValue] + Array($0.1.utf8) }
    }
}
