/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of iSCSI, ext4 and
/// most write-ahead logs. Software slicing-by-8: eight table lookups per 8 input bytes.
///
/// `seed` is the checksum of the bytes before these ones, so checksums chain:
/// `checksum(b, seed: checksum(a)) == checksum(a + b)`.
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `seed` (the checksum of preceding bytes, 0 at the start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        Self.tables.withUnsafeBufferPointer { tables in
            crc = update(crc, bytes, tables)
        }
        return ~crc
    }

    /// The checksum of `bytes` (contiguous collections are read in place, others copied once).
    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    private static let polynomial: UInt32 = 0x82F6_3B78

    /// Eight 256-entry tables laid end to end: `tables[k * 256 + b]` is the CRC contribution of
    /// byte `b` followed by `k` zero bytes.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) == 1 ? (crc >> 1) ^ polynomial : crc >> 1
            }
            tables[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(slice - 1) * 256 + byte]
                tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    private static func update(
        _ start: UInt32, _ bytes: UnsafeRawBufferPointer, _ tables: UnsafeBufferPointer<UInt32>
    ) -> UInt32 {
        var crc = start
        var offset = 0
        let count = bytes.count
        while count - offset >= 8 {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            let low = UInt32(truncatingIfNeeded: word) ^ crc
            let high = UInt32(truncatingIfNeeded: word >> 32)
            crc = tables[7 * 256 + Int(low & 0xFF)]
                ^ tables[6 * 256 + Int((low >> 8) & 0xFF)]
                ^ tables[5 * 256 + Int((low >> 16) & 0xFF)]
                ^ tables[4 * 256 + Int(low >> 24)]
                ^ tables[3 * 256 + Int(high & 0xFF)]
                ^ tables[2 * 256 + Int((high >> 8) & 0xFF)]
                ^ tables[1 * 256 + Int((high >> 16) & 0xFF)]
                ^ tables[Int(high >> 24)]
            offset += 8
        }
        while offset < count {
            let byte = UInt32(bytes[offset])
            crc = (crc >> 8) ^ tables[Int((crc ^ byte) & 0xFF)]
            offset += 1
        }
        return crc
    }
}
