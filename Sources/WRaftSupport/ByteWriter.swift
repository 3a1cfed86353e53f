/// Appends little-endian integers and length-prefixed byte strings: the writer matching
/// `ByteReader`.
///
/// `@inlinable`, like `ByteReader`: callers are in other modules, and unspecialized the generic
/// `write` shifted through `FixedWidthInteger`'s witnesses byte by byte, and
/// `writeLengthPrefixed` appended a value one element at a time through `Collection`'s
/// (KVCommand.encoded(), on every write). Specialized in the caller, a `[UInt8]` is one copy.
public struct ByteWriter: Sendable {
    @usableFromInline var storage: [UInt8] = []

    /// What has been written so far.
    @inlinable public var bytes: [UInt8] { storage }

    /// An empty writer that reserves room for `capacity` bytes.
    @inlinable public init(capacity: Int = 0) {
        storage.reserveCapacity(capacity)
    }

    /// Appends `value`'s bytes, least significant first.
    @inlinable public mutating func write<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) {
        for shift in stride(from: 0, to: Value.bitWidth, by: 8) {
            storage.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    /// A 32-bit length followed by the bytes.
    @inlinable public mutating func writeLengthPrefixed(_ value: some Collection<UInt8>) {
        // Every caller bounds its byte strings far below 4 GiB (keys, values, addresses).
        precondition(value.count <= Int(UInt32.max), "ByteWriter: length-prefixed bytes fit a 32-bit length")
        write(UInt32(value.count))
        storage.append(contentsOf: value)
    }

    /// Appends the bytes as they are.
    @inlinable public mutating func write(contentsOf value: some Sequence<UInt8>) {
        storage.append(contentsOf: value)
    }
}
