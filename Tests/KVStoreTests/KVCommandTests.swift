import RaftCore
import Testing

import KVStore
import WRaftSupport

@Suite struct KVCommandTests {
    static let samples: [KVCommand] = [
        KVCommand(id: .init(client: 1, sequence: 1), operation: .put(key: Array("k".utf8), value: [], condition: .none)),
        KVCommand(
            id: .init(client: .max, sequence: .max),
            operation: .put(key: Array("key".utf8), value: [0, 1, 255], condition: .valueEquals([9, 9]))),
        KVCommand(
            id: .init(client: 7, sequence: 3),
            operation: .put(key: [0xFF, 0], value: Array(repeating: 7, count: 300), condition: .indexEquals(.zero))),
        KVCommand(id: .init(client: 7, sequence: 4), operation: .delete(key: Array("k".utf8), condition: .none)),
        KVCommand(id: .init(client: 2, sequence: 9), operation: .delete(key: [1], condition: .indexEquals(42))),
        KVCommand(id: .init(client: 2, sequence: 10), operation: .delete(key: [1], condition: .valueEquals([]))),
    ]

    @Test(arguments: samples)
    func roundTrips(command: KVCommand) throws {
        #expect(command.isWithinBounds)
        let decoded = try KVCommand(decoding: command.encoded())
        #expect(decoded == command)
    }

    @Test func boundsAreEnforcedBothWays() throws {
        let longKey = KVCommand(
            id: .init(client: 1, sequence: 1),
            operation: .put(key: Array(repeating: 1, count: KVCommand.keyBytesMax + 1), value: [], condition: .none))
        #expect(!longKey.isWithinBounds)
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: longKey.encoded()) }

        let emptyKey = KVCommand(id: .init(client: 1, sequence: 1), operation: .delete(key: [], condition: .none))
        #expect(!emptyKey.isWithinBounds)
        #expect(throws: KVCodecError.invalidContent("empty key")) { try KVCommand(decoding: emptyKey.encoded()) }

        let bigValue = KVCommand(
            id: .init(client: 1, sequence: 1),
            operation: .put(key: [1], value: Array(repeating: 0, count: KVCommand.valueBytesMax + 1), condition: .none))
        #expect(!bigValue.isWithinBounds)
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: bigValue.encoded()) }

        let largest = KVCommand(
            id: .init(client: 1, sequence: 1),
            operation: .put(
                key: Array(repeating: 1, count: KVCommand.keyBytesMax),
                value: Array(repeating: 0, count: KVCommand.valueBytesMax), condition: .none))
        #expect(largest.isWithinBounds)
        #expect(try KVCommand(decoding: largest.encoded()) == largest)
    }

    @Test func everyTruncationThrows() {
        for command in Self.samples {
            let bytes = command.encoded()
            for length in 0..<bytes.count {
                #expect(throws: KVCodecError.self) { try KVCommand(decoding: Array(bytes[..<length])) }
            }
            #expect(throws: KVCodecError.trailingBytes(count: 1)) { try KVCommand(decoding: bytes + [0]) }
        }
    }

    @Test func badVersionAndTagsThrow() {
        var bytes = Self.samples[0].encoded()
        bytes[0] = 3
        #expect(throws: KVCodecError.unsupportedVersion(3)) { try KVCommand(decoding: bytes) }
        bytes = Self.samples[0].encoded()
        bytes[17] = 9
        #expect(throws: KVCodecError.unknownTag(field: "request", tag: 9)) { try KVCommand(decoding: bytes) }
        bytes = Self.samples[0].encoded()
        // A put ends with its condition tag, then the lease id (8 bytes).
        bytes[bytes.count - 9] = 3
        #expect(throws: KVCodecError.unknownTag(field: "condition", tag: 3)) { try KVCommand(decoding: bytes) }
    }

    @Test func forgedLengthsThrowWithoutAllocating() {
        // Version, id, put tag, then a key length of 4 GiB - 1 with nothing behind it.
        var bytes: [UInt8] = [1] + Array(repeating: 0, count: 16) + [1]
        bytes += [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: bytes) }
        // A key length within bounds but beyond the input.
        bytes = [1] + Array(repeating: 0, count: 16) + [1, 0x00, 0x04, 0, 0, 1, 2]
        #expect(throws: KVCodecError.truncated(field: "key")) { try KVCommand(decoding: bytes) }
    }

    /// Random garbage and random mutations of valid commands never crash the decoder; whatever
    /// decodes re-encodes to the same bytes (the encoding is canonical).
    @Test func garbageNeverCrashes() {
        for seed in testSeeds(defaultCount: 20) {
            var generator = SplitMix64(seed: seed)
            for _ in 0..<500 {
                var bytes: [UInt8]
                if Bool.random(using: &generator) {
                    let length = Int.random(in: 0..<64, using: &generator)
                    bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                } else {
                    bytes = Self.samples[Int.random(in: 0..<Self.samples.count, using: &generator)].encoded()
                    for _ in 0..<Int.random(in: 1...3, using: &generator) {
                        let position = Int.random(in: 0..<bytes.count, using: &generator)
                        bytes[position] = UInt8.random(in: 0...255, using: &generator)
                    }
                }
                if let command = try? KVCommand(decoding: bytes) {
                    #expect(command.encoded() == bytes, "seed=\(seed)")
                }
            }
        }
    }
}
