import Testing
import WRaftSupport

/// A decoder error that records what the reader said, to check which case it threw.
private enum TestError: ByteDecodingError, Equatable {
    case truncated(field: String)
    case lengthOutOfBounds(field: String, length: UInt64, bytesMax: UInt64)
    case trailingBytes(count: Int)
}

private typealias Reader = ByteReader<TestError>

@Suite struct ByteWriterTests {
    @Test func integersAreLittleEndian() {
        var writer = ByteWriter()
        writer.write(UInt8(0xAB))
        writer.write(UInt16(0x0102))
        writer.write(UInt32(0x0304_0506))
        writer.write(UInt64(0x0708_090A_0B0C_0D0E))
        #expect(writer.bytes == [0xAB, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0E, 0x0D, 0x0C, 0x0B, 0x0A, 0x09, 0x08, 0x07])
    }

    @Test func lengthPrefixedBytesCarryA32BitLength() {
        var writer = ByteWriter()
        writer.writeLengthPrefixed([9, 8, 7])
        writer.write(contentsOf: [1, 2])
        #expect(writer.bytes == [3, 0, 0, 0, 9, 8, 7, 1, 2])
    }
}

@Suite struct ByteReaderTests {
    @Test func readsWhatTheWriterWrote() throws {
        var writer = ByteWriter()
        writer.write(UInt8(1))
        writer.write(UInt16.max)
        writer.write(UInt32(7))
        writer.write(UInt64.max - 1)
        writer.writeLengthPrefixed(Array("key".utf8))
        var reader = Reader(writer.bytes)
        #expect(try reader.readUInt8("a") == 1)
        #expect(try reader.readUInt16("b") == .max)
        #expect(try reader.readUInt32("c") == 7)
        #expect(try reader.readUInt64("d") == .max - 1)
        #expect(try reader.readLengthPrefixed("e", bytesMax: 3) == Array("key".utf8))
        #expect(reader.isAtEnd)
        try reader.expectEnd()
    }

    @Test func everyShortReadThrowsTruncatedAndLeavesThePositionAlone() {
        for (count, read) in [(1, 0), (2, 1), (4, 3), (8, 7)] {
            var reader = Reader([UInt8](repeating: 0, count: read))
            let field = "field\(count)"
            #expect(throws: TestError.truncated(field: field)) {
                switch count {
                case 1: _ = try reader.readUInt8(field)
                case 2: _ = try reader.readUInt16(field)
                case 4: _ = try reader.readUInt32(field)
                default: _ = try reader.readUInt64(field)
                }
            }
            #expect(reader.remainingCount == read)
        }
        var reader = Reader([1, 2])
        #expect(throws: TestError.truncated(field: "b")) { try reader.readBytes(count: 3, "b") }
        #expect(throws: TestError.truncated(field: "n")) { try reader.readBytes(count: -1, "n") }
    }

    @Test func aLengthAboveItsBoundIsRefusedBeforeReading() {
        var reader = Reader([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: TestError.lengthOutOfBounds(field: "v", length: 0xFFFF_FFFF, bytesMax: 16)) {
            try reader.readLengthPrefixed("v", bytesMax: 16)
        }
        // Within the bound but longer than the input: truncated, never a trap.
        var short = Reader([5, 0, 0, 0, 1, 2])
        #expect(throws: TestError.truncated(field: "v")) { try short.readLengthPrefixed("v", bytesMax: 16) }
    }

    @Test func aCountIsBoundedByItsMaximumAndByTheBytesLeft() throws {
        // A count of 3 items of at least 8 bytes, with 24 bytes left: accepted.
        var writer = ByteWriter()
        writer.write(UInt32(3))
        writer.write(contentsOf: [UInt8](repeating: 0, count: 24))
        var reader = Reader(writer.bytes)
        #expect(try reader.readCount("ids", encodedAs: UInt32.self, itemBytesMin: 8, countMax: 10) == 3)
        // Only 23 bytes left: the bytes could hold 2 items.
        var shortWriter = ByteWriter()
        shortWriter.write(UInt32(3))
        shortWriter.write(contentsOf: [UInt8](repeating: 0, count: 23))
        var short = Reader(shortWriter.bytes)
        #expect(throws: TestError.lengthOutOfBounds(field: "ids", length: 3, bytesMax: 2)) {
            try short.readCount("ids", encodedAs: UInt32.self, itemBytesMin: 8, countMax: 10)
        }
        // A forged 64-bit count, far above the maximum.
        var forged = ByteWriter()
        forged.write(UInt64.max)
        forged.write(contentsOf: [UInt8](repeating: 0, count: 100))
        var forgedReader = Reader(forged.bytes)
        #expect(throws: TestError.lengthOutOfBounds(field: "keys", length: .max, bytesMax: 4)) {
            try forgedReader.readCount("keys", encodedAs: UInt64.self, itemBytesMin: 1, countMax: 4)
        }
    }

    @Test func trailingBytesAreReported() throws {
        var reader = Reader([1, 2, 3])
        _ = try reader.readUInt8("a")
        #expect(throws: TestError.trailingBytes(count: 2)) { try reader.expectEnd() }
    }

    @Test func aRangeOrASliceReadsOnlyItsBytes() throws {
        let bytes: [UInt8] = [9, 1, 0, 9]
        var ranged = Reader(bytes, range: 1..<3)
        #expect(try ranged.readUInt16("x") == 1)
        #expect(ranged.isAtEnd)
        var sliced = Reader(bytes[1..<3])
        #expect(sliced.position == 1, "positions are the slice's own indices")
        #expect(try sliced.readBytes(count: 2, "x") == [1, 0])
        #expect(throws: TestError.truncated(field: "y")) { try sliced.readUInt8("y") }
    }

    @Test func arbitraryInputNeverTraps() {
        var random = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            let bytes = (0..<random.int(in: 0...24)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var reader = Reader(bytes)
            // Reads until the first error; any outcome but a trap is fine, and the position
            // never passes the end.
            do throws(TestError) {
                while true {
                    switch random.next(below: 6) {
                    case 0: _ = try reader.readUInt8("a")
                    case 1: _ = try reader.readUInt32("b")
                    case 2: _ = try reader.readUInt64("c")
                    case 3: _ = try reader.readLengthPrefixed("d", bytesMax: 8)
                    case 4: _ = try reader.readCount("e", encodedAs: UInt16.self, itemBytesMin: 2, countMax: 4)
                    default: try reader.expectEnd()
                    }
                }
            } catch {
                #expect(reader.remainingCount >= 0)
            }
        }
    }
}
