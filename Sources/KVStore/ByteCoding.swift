import WRaftSupport

/// The reader of KVStore's formats: WRaftSupport's `ByteReader`, throwing `KVCodecError`.
typealias KVByteReader = ByteReader<KVCodecError>

// KVCodecError's cases `truncated`, `lengthOutOfBounds` and `trailingBytes` are exactly what
// the shared reader throws.
extension KVCodecError: ByteDecodingError {}

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
