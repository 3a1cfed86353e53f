/// Why bytes could not be decoded as a command or a snapshot. Decoding never crashes on bad
/// input: every length is bounded and checked before anything is allocated.
public enum KVCodecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes end before the value being read.
    case truncated(field: String)
    /// The format version is not one this build reads.
    case unsupportedVersion(UInt8)
    /// A snapshot does not start with the snapshot magic.
    case badMagic
    /// A tag byte names no known case.
    case unknownTag(field: String, tag: UInt8)
    /// A length or count exceeds its bound.
    case lengthOutOfBounds(field: String, length: UInt64, bytesMax: UInt64)
    /// Bytes remain after a complete value.
    case trailingBytes(count: Int)
    /// A snapshot's CRC32C does not match its contents.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// The bytes decode but describe an impossible state (keys out of order, duplicates...).
    case invalidContent(String)

    public var description: String {
        switch self {
        case .truncated(let field): return "truncated input while reading \(field)"
        case .unsupportedVersion(let version): return "unsupported format version \(version)"
        case .badMagic: return "not a KVStore snapshot (bad magic)"
        case .unknownTag(let field, let tag): return "unknown \(field) tag \(tag)"
        case .lengthOutOfBounds(let field, let length, let bytesMax):
            return "\(field) length \(length) exceeds its bound \(bytesMax)"
        case .trailingBytes(let count): return "\(count) unexpected trailing bytes"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch (stored \(stored), computed \(computed))"
        case .invalidContent(let why): return "invalid content: \(why)"
        }
    }
}
