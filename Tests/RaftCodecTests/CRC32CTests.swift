import RaftCodec
import Testing
import WRaftSupport

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) appendix B.4 test patterns.
        #expect(CRC32C.checksum([UInt8](repeating: 0x00, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func nonContiguousCollectionMatchesArray() {
        let bytes = Array("The quick brown fox jumps over the lazy dog".utf8)
        let lazyBytes = bytes.lazy.map { $0 }
        #expect(CRC32C.checksum(lazyBytes) == CRC32C.checksum(bytes))
        #expect(CRC32C.checksum(bytes) == 0x2262_0404)
    }

    @Test func matchesBitwiseReferenceOnRandomInputsAndChains() {
        let seeds = seedCount(default: 200)
        for seed in 0..<UInt64(seeds) {
            var random = RandomValues(seed: seed)
            let bytes = random.bytes(countMax: 200)
            let split = Int.random(in: 0...bytes.count, using: &random.generator)
            let whole = CRC32C.checksum(bytes)
            let chained = bytes[split...].withUnsafeBytes { tail in
                CRC32C.checksum(tail, seed: CRC32C.checksum(bytes[..<split]))
            }
            #expect(whole == bitwiseReference(bytes), "seed=\(seed)")
            #expect(chained == whole, "seed=\(seed)")
        }
    }

    /// The textbook one-bit-at-a-time CRC-32C, to check the sliced implementation against.
    private func bitwiseReference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
        }
        return ~crc
    }
}
