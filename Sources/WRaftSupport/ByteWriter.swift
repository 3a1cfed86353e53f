/// Appends little-endian integers and length-prefixed byte strings: the writer matching
/// `ByteReader`.
public struct ByteWriter: Sendable {
    /// What has been written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty writer that reserves room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends `value`'s bytes, least significant first.
    public mutating func write<Value: FixedWidthInteger & UnsignedInteger>(_ value: Value) {
        for shift in stride(from: 0, to: Value.bitWidth, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    /// A 32-bit length followed by the bytes.
    public mutating func writeLengthPrefixed(_ value: some Collection<UInt8>) {
        // Every caller bounds its byte strings far below 4 GiB (keys, values, addresses).
        precondition(value.count <= Int(UInt32.max), "ByteWriter: length-prefixed bytes fit a 32-bit length")
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends the bytes as they are.
    public mutating func write(contentsOf value: some Sequence<UInt8>) {
        bytes.append(contentsOf: value)
    }
}
