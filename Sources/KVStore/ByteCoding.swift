/// Appends little-endian integers and length-prefixed byte strings to a buffer.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func write(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func write(_ value: UInt16) {
        writeLittleEndian(UInt64(value), byteCount: 2)
    }

    mutating func write(_ value: UInt32) {
        writeLittleEndian(UInt64(value), byteCount: 4)
    }

    mutating func write(_ value: UInt64) {
        writeLittleEndian(value, byteCount: 8)
    }

    /// A 32-bit length followed by the bytes.
    mutating func writeLengthPrefixed(_ value: [UInt8]) {
        // Every caller bounds its byte strings far below 4 GiB (keys, values, magic).
        precondition(value.count <= Int(UInt32.max), "ByteWriter: length-prefixed bytes fit a 32-bit length")
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func write(contentsOf value: [UInt8]) {
        bytes.append(contentsOf: value)
    }

    private mutating func writeLittleEndian(_ value: UInt64, byteCount: Int) {
        for shift in stride(from: 0, to: byteCount * 8, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}

/// Reads what `ByteWriter` wrote, throwing on every shortfall instead of trapping.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var position: Int

    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        self.position = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
    }

    /// One past the last readable byte.
    private let end: Int

    var remainingCount: Int { end - position }

    mutating func readUInt8(_ field: String) throws(KVCodecError) -> UInt8 {
        UInt8(try readLittleEndian(byteCount: 1, field))
    }

    mutating func readUInt16(_ field: String) throws(KVCodecError) -> UInt16 {
        UInt16(try readLittleEndian(byteCount: 2, field))
    }

    mutating func readUInt32(_ field: String) throws(KVCodecError) -> UInt32 {
        UInt32(try readLittleEndian(byteCount: 4, field))
    }

    mutating func readUInt64(_ field: String) throws(KVCodecError) -> UInt64 {
        try readLittleEndian(byteCount: 8, field)
    }

    /// A 32-bit length, checked against `bytesMax` and the bytes left, then the bytes.
    mutating func readLengthPrefixed(_ field: String, bytesMax: Int) throws(KVCodecError) -> [UInt8] {
        let length = try readUInt32(field)
        guard length <= bytesMax else {
            throw .lengthOutOfBounds(field: field, length: UInt64(length), bytesMax: UInt64(bytesMax))
        }
        return try readBytes(count: Int(length), field)
    }

    mutating func readBytes(count: Int, _ field: String) throws(KVCodecError) -> [UInt8] {
        guard count <= remainingCount else { throw .truncated(field: field) }
        let result = Array(bytes[position..<(position + count)])
        position += count
        return result
    }

    /// Reads a count of items that each take at least `itemBytesMin` bytes, so a forged count
    /// can never make the decoder reserve more than the input could hold.
    mutating func readCount(_ field: String, itemBytesMin: Int, countMax: Int) throws(KVCodecError) -> Int {
        let count = try readUInt64(field)
        let possible = UInt64(min(countMax, remainingCount / max(itemBytesMin, 1)))
        guard count <= possible else {
            throw .lengthOutOfBounds(field: field, length: count, bytesMax: possible)
        }
        return Int(count)
    }

    func expectEnd() throws(KVCodecError) {
        guard remainingCount == 0 else { throw .trailingBytes(count: remainingCount) }
    }

    private mutating func readLittleEndian(byteCount: Int, _ field: String) throws(KVCodecError) -> UInt64 {
        guard byteCount <= remainingCount else { throw .truncated(field: field) }
        var value: UInt64 = 0
        for offset in 0..<byteCount {
            value |= UInt64(bytes[position + offset]) << UInt64(offset * 8)
        }
        position += byteCount
        return value
    }
}

/// CRC-32C (Castagnoli), the checksum of KVStore snapshots.
enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
        }
        return crc
    }

    static func checksum(_ bytes: [UInt8], range: Range<Int>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for index in range {
                crc = table[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
