/// What a decoder's own error type must be able to say about bytes that run short or out of
/// bounds, so `ByteReader` throws the caller's error type directly (typed throws, no mapping at
/// every read). An enum whose cases have these names and labels conforms with no code.
public protocol ByteDecodingError: Error {
    /// The bytes end before `field` does.
    static func truncated(field: String) -> Self
    /// `field`'s length or count, `length`, exceeds its bound `bytesMax`.
    static func lengthOutOfBounds(field: String, length: UInt64, bytesMax: UInt64) -> Self
    /// `count` bytes remain after a complete value.
    static func trailingBytes(count: Int) -> Self
}

/// Reads little-endian integers and length-prefixed byte strings from untrusted bytes: the one
/// reader of every binary format outside the NIO codec (KVStore commands and snapshots,
/// membership entries, address books). Every read is bounds-checked and throws `Failure`;
/// none traps, whatever the input.
///
/// Invariant: `bytes.startIndex <= position <= bytes.endIndex`.
///
/// Every member is `@inlinable`: the decoders are in other modules, and a generic reader they
/// cannot specialize reads each byte through `FixedWidthInteger`'s witnesses and throws through
/// `Failure`'s (KVCommand decoding runs on every replica for every write).
public struct ByteReader<Failure: ByteDecodingError> {
    @usableFromInline let bytes: ArraySlice<UInt8>
    @usableFromInline var offset: Int

    /// The index in `bytes` of the next byte to read.
    @inlinable public var position: Int { offset }

    /// A reader of `bytes[range]` (all of `bytes` when `range` is nil).
    @inlinable public init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        let range = range ?? bytes.indices
        precondition(
            range.lowerBound >= 0 && range.upperBound <= bytes.count,
            "ByteReader: the range to read lies inside the bytes")
        self.init(bytes[range])
    }

    /// A reader of `bytes`; positions are the slice's own indices.
    @inlinable public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.offset = bytes.startIndex
    }

    /// How many bytes are left to read.
    @inlinable public var remainingCount: Int { bytes.endIndex - position }

    /// Whether every byte has been read.
    @inlinable public var isAtEnd: Bool { position == bytes.endIndex }

    @inlinable public mutating func readUInt8(_ field: String) throws(Failure) -> UInt8 {
        try readInteger(UInt8.self, field)
    }

    @inlinable public mutating func readUInt16(_ field: String) throws(Failure) -> UInt16 {
        try readInteger(UInt16.self, field)
    }

    @inlinable public mutating func readUInt32(_ field: String) throws(Failure) -> UInt32 {
        try readInteger(UInt32.self, field)
    }

    @inlinable public mutating func readUInt64(_ field: String) throws(Failure) -> UInt64 {
        try readInteger(UInt64.self, field)
    }

    /// The next `count` bytes.
    @inlinable public mutating func readBytes(count: Int, _ field: String) throws(Failure) -> [UInt8] {
        guard count >= 0, count <= remainingCount else { throw .truncated(field: field) }
        defer { offset += count }
        return Array(bytes[position..<(position + count)])
    }

    /// A 32-bit length, checked against `bytesMax` before anything is read or allocated, then
    /// that many bytes.
    @inlinable public mutating func readLengthPrefixed(_ field: String, bytesMax: Int) throws(Failure) -> [UInt8] {
        let length = try readUInt32(field)
        guard length <= bytesMax else {
            throw .lengthOutOfBounds(field: field, length: UInt64(length), bytesMax: UInt64(max(bytesMax, 0)))
        }
        return try readBytes(count: Int(length), field)
    }

    /// A count of items, stored as a `Count`, that each take at least `itemBytesMin` bytes:
    /// checked against `countMax` and against what the remaining bytes could hold, so a forged
    /// count never makes a decoder reserve more than its input could fill.
    @inlinable public mutating func readCount<Count: FixedWidthInteger & UnsignedInteger>(
        _ field: String, encodedAs _: Count.Type, itemBytesMin: Int, countMax: Int
    ) throws(Failure) -> Int {
        let count = UInt64(try readInteger(Count.self, field))
        let possible = UInt64(max(0, min(countMax, remainingCount / max(itemBytesMin, 1))))
        guard count <= possible else { throw .lengthOutOfBounds(field: field, length: count, bytesMax: possible) }
        return Int(count)
    }

    /// Throws `trailingBytes` unless every byte has been read.
    @inlinable public func expectEnd() throws(Failure) {
        guard isAtEnd else { throw .trailingBytes(count: remainingCount) }
    }

    @inlinable mutating func readInteger<Value: FixedWidthInteger & UnsignedInteger>(
        _: Value.Type, _ field: String
    ) throws(Failure) -> Value {
        let byteCount = Value.bitWidth / 8
        guard byteCount <= remainingCount else { throw .truncated(field: field) }
        var value: Value = 0
        for offset in 0..<byteCount {
            value |= Value(bytes[position + offset]) << (offset * 8)
        }
        offset += byteCount
        return value
    }
}
