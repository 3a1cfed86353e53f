/// Why bytes could not be decoded into a Raft value. Every case describes the input, never a
/// bug: decoding arbitrary bytes throws one of these and never crashes.
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ended before the value did (including a declared length or count larger than
    /// the bytes that remain).
    case truncated
    /// The encoding starts with a format version this build does not know.
    case unknownVersion(UInt8)
    /// A tag byte that names no case of the type given (for example `"Payload"`).
    case unknownTag(String, UInt8)
    /// The bytes are well-formed but describe an impossible value.
    case invalid(String)
    /// A checksum over the bytes did not match the one stored with them.
    case checksumMismatch(expected: UInt32, actual: UInt32)

    public var description: String {
        switch self {
        case .truncated:
            return "truncated input"
        case .unknownVersion(let version):
            return "unknown format version \(version)"
        case .unknownTag(let type, let tag):
            return "unknown \(type) tag \(tag)"
        case .invalid(let why):
            return "invalid encoding: \(why)"
        case .checksumMismatch(let expected, let actual):
            return "checksum mismatch: expected \(hex(expected)), computed \(hex(actual))"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
