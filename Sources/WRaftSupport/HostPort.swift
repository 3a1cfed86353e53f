/// A `host:port` address, parsed by the one set of rules every WRaft address follows: the raft
/// addresses peers dial, the HTTP addresses clients dial, and the member addresses that travel
/// in control messages and membership entries.
///
/// Rules: at most `textBytesMax` UTF-8 bytes; the port is the text after the last `:`, 1 to 5
/// ASCII digits with a value in 1...65535; the host is either an IPv6 address in brackets
/// (`[::1]:80`: hex digits, `:` and `.` inside, at least one `:`) or a DNS name or IPv4 address
/// (letters, digits, `-`, `.`, `_`; not starting with `-` or `.`) of 1 to `hostBytesMax` bytes.
/// An IPv6 host without brackets is refused: its last group could not be told from the port.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// The host, without brackets (`::1`, `node-1.example.com`, `127.0.0.1`).
    public var host: String
    /// Invariant: in 1...65535 when parsed.
    public var port: Int

    /// A DNS name's limit (RFC 1035), which also bounds a bracketed IPv6 address.
    public static let hostBytesMax = 253
    /// The longest text a `host:port` may be: the host, IPv6 brackets, the colon and 5 digits.
    public static let textBytesMax = hostBytesMax + 2 + 1 + 5

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text` by the rules above; throws why it is not a `host:port`.
    public init(parsing text: some StringProtocol) throws(HostPortError) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.textBytesMax else { throw .tooLong(bytes: utf8.count) }
        guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")) else { throw .missingPort }
        self.port = try Self.port(utf8[(colon + 1)...])
        self.host = try Self.host(utf8[..<colon])
    }

    /// `host:port`, with an IPv6 host in brackets.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func port(_ digits: ArraySlice<UInt8>) throws(HostPortError) -> Int {
        guard !digits.isEmpty else { throw .missingPort }
        // Digits only (no sign, no spaces) and at most 5 of them, so the value cannot overflow.
        guard digits.count <= 5, digits.allSatisfy(isDigit) else { throw .portOutOfRange }
        let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (1...65_535).contains(value) else { throw .portOutOfRange }
        return value
    }

    private static func host(_ bytes: ArraySlice<UInt8>) throws(HostPortError) -> String {
        guard !bytes.isEmpty else { throw .emptyHost }
        if bytes.first == UInt8(ascii: "[") {
            guard bytes.count >= 2, bytes.last == UInt8(ascii: "]") else { throw .malformedIPv6 }
            let inner = bytes.dropFirst().dropLast()
            guard inner.contains(UInt8(ascii: ":")),
                inner.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { throw .malformedIPv6 }
            return String(decoding: inner, as: UTF8.self)
        }
        guard bytes.count <= hostBytesMax else { throw .tooLong(bytes: bytes.count) }
        guard !bytes.contains(UInt8(ascii: ":")) else { throw .unbracketedIPv6 }
        guard bytes.allSatisfy(isHostNameByte), bytes.first != UInt8(ascii: "-"), bytes.first != UInt8(ascii: ".")
        else { throw .malformedHost }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
    }
}

/// Why a text is not a `host:port`.
public enum HostPortError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Longer than `HostPort.textBytesMax` (or its host longer than `HostPort.hostBytesMax`).
    case tooLong(bytes: Int)
    /// No `:port` at the end.
    case missingPort
    /// The port is not 1 to 5 digits with a value in 1...65535.
    case portOutOfRange
    /// Nothing before the colon.
    case emptyHost
    /// A host with a byte outside letters, digits, `-`, `.`, `_`, or starting with `-` or `.`.
    case malformedHost
    /// An IPv6 address without brackets.
    case unbracketedIPv6
    /// Brackets around something that is not an IPv6 address.
    case malformedIPv6

    public var description: String {
        switch self {
        case .tooLong(let bytes): "\(bytes) bytes are too long for a host:port"
        case .missingPort: "no :port"
        case .portOutOfRange: "the port is not a number in 1...65535"
        case .emptyHost: "no host"
        case .malformedHost: "the host is not a DNS name or IPv4 address"
        case .unbracketedIPv6: "an IPv6 host goes in brackets, as in [::1]:80"
        case .malformedIPv6: "the bracketed host is not an IPv6 address"
        }
    }
}
