import NIOCore
import RaftCodec
import RaftCore
import Testing
import WRaftBenchmarks

@Suite struct CodecRoundTripTests {
    @Test(arguments: everyPayload)
    func everyPayloadCaseRoundTrips(payload: Payload) throws {
        let message = Message(from: 1, to: 2, term: 5, payload: payload)
        var buffer = ByteBuffer()
        buffer.writeRaftMessage(message)
        #expect(buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == RaftCodec.formatVersion)
        #expect(try buffer.readRaftMessage() == message)
        #expect(buffer.readableBytes == 0)
    }

    @Test func everyTypeRoundTrips() throws {
        let entry = Entry(term: 3, index: 9, kind: .membership, data: [9, 8, 7])
        let hardState = HardState(term: 4, votedFor: 2, commit: 8)
        let membership = Membership(voters: [3, 1, 2], learners: [9])
        let metadata = SnapshotMetadata(index: 8, term: 4, membership: membership, membershipContext: [1])
        let entries = [entry, Entry(term: 3, index: 10)]
        var buffer = ByteBuffer()
        buffer.writeRaftEntry(entry)
        buffer.writeHardState(hardState)
        buffer.writeHardState(HardState.initial)
        buffer.writeMembership(membership)
        buffer.writeMembership(.empty)
        buffer.writeSnapshotMetadata(metadata)
        buffer.writeSnapshotMetadata(.empty)
        buffer.writeRaftEntries(entries)
        buffer.writeRaftEntries([])

        #expect(try buffer.readRaftEntry() == entry)
        #expect(try buffer.readHardState() == hardState)
        #expect(try buffer.readHardState() == HardState.initial)
        #expect(try buffer.readMembership() == membership)
        #expect(try buffer.readMembership() == .empty)
        #expect(try buffer.readSnapshotMetadata() == metadata)
        #expect(try buffer.readSnapshotMetadata() == .empty)
        #expect(try buffer.readRaftEntries() == entries)
        #expect(try buffer.readRaftEntries() == [])
        #expect(buffer.readableBytes == 0)
    }

    @Test func encodedByteCountMatchesTheEncoding() {
        let entry = Entry(term: 1, index: 2, data: Array(repeating: 1, count: 37))
        var buffer = ByteBuffer()
        buffer.writeRaftEntries([entry, entry])
        #expect(buffer.readableBytes == 1 + 4 + 2 * RaftCodec.encodedByteCount(of: entry))
    }

    @Test func equalMembershipsEncodeToEqualBytes() {
        var first = ByteBuffer()
        var second = ByteBuffer()
        first.writeMembership(Membership(voters: [5, 1, 9, 3], learners: [7, 2]))
        second.writeMembership(Membership(voters: [9, 3, 1, 5], learners: [2, 7]))
        #expect(first == second)
    }

    @Test func randomMessagesRoundTrip() throws {
        let seeds = seedCount(default: 500)
        for seed in 0..<UInt64(seeds) {
            var random = RandomValues(seed: seed)
            let message = random.message()
            let hardState = random.hardState()
            let metadata = random.snapshotMetadata()
            let entries = random.entries()
            var buffer = ByteBuffer()
            buffer.writeRaftMessage(message)
            buffer.writeHardState(hardState)
            buffer.writeSnapshotMetadata(metadata)
            buffer.writeRaftEntries(entries)
            #expect(try buffer.readRaftMessage() == message, "seed=\(seed)")
            #expect(try buffer.readHardState() == hardState, "seed=\(seed)")
            #expect(try buffer.readSnapshotMetadata() == metadata, "seed=\(seed)")
            #expect(try buffer.readRaftEntries() == entries, "seed=\(seed)")
            #expect(buffer.readableBytes == 0, "seed=\(seed)")
        }
    }
}

@Suite struct CodecHostileInputTests {
    /// Every proper prefix of an encoding throws `truncated` and leaves the reader index alone.
    @Test(arguments: everyPayload)
    func truncationAtEveryOffsetThrows(payload: Payload) {
        var full = ByteBuffer()
        full.writeRaftMessage(Message(from: 1, to: 2, term: 5, payload: payload))
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: full.readerIndex, length: length) ?? ByteBuffer()
            #expect(throws: CodecError.truncated, "prefix length \(length)") {
                try prefix.readRaftMessage()
            }
            #expect(prefix.readableBytes == length)
        }
    }

    @Test func truncationOfEveryOtherTypeThrows() {
        let checks: [(String, (inout ByteBuffer) -> Void, (inout ByteBuffer) throws(CodecError) -> Void)] = [
            ("entry", { $0.writeRaftEntry(Entry(term: 1, index: 2, data: [1, 2, 3])) }, { (b) throws(CodecError) in _ = try b.readRaftEntry() }),
            ("entries", { $0.writeRaftEntries([Entry(term: 1, index: 2, data: [1])]) }, { (b) throws(CodecError) in _ = try b.readRaftEntries() }),
            ("hardState", { $0.writeHardState(HardState(term: 1, votedFor: 3, commit: 2)) }, { (b) throws(CodecError) in _ = try b.readHardState() }),
            ("membership", { $0.writeMembership(Membership(voters: [1], learners: [2])) }, { (b) throws(CodecError) in _ = try b.readMembership() }),
            (
                "snapshotMetadata",
                { $0.writeSnapshotMetadata(SnapshotMetadata(index: 1, term: 1, membership: .empty, membershipContext: [1])) },
                { (b) throws(CodecError) in _ = try b.readSnapshotMetadata() }
            ),
        ]
        for (name, write, read) in checks {
            var full = ByteBuffer()
            write(&full)
            for length in 0..<full.readableBytes {
                var prefix = full.getSlice(at: 0, length: length) ?? ByteBuffer()
                #expect(throws: CodecError.truncated, "\(name) prefix length \(length)") {
                    try read(&prefix)
                }
            }
        }
    }

    @Test func unknownVersionAndTagsAreRefused() {
        var buffer = ByteBuffer()
        buffer.writeRaftMessage(Message(from: 1, to: 2, term: 3, payload: .timeoutNow))
        var wrongVersion = buffer
        wrongVersion.setInteger(UInt8(2), at: wrongVersion.readerIndex)
        #expect(throws: CodecError.unknownVersion(2)) { try wrongVersion.readRaftMessage() }

        var wrongTag = buffer
        wrongTag.setInteger(UInt8(200), at: wrongTag.readerIndex + 25)
        #expect(throws: CodecError.unknownTag("Payload", 200)) { try wrongTag.readRaftMessage() }

        var entry = ByteBuffer()
        entry.writeRaftEntry(Entry(term: 1, index: 1))
        entry.setInteger(UInt8(9), at: entry.readerIndex + 17)
        #expect(throws: CodecError.unknownTag("Entry.Kind", 9)) { try entry.readRaftEntry() }
    }

    @Test func impossibleValuesAreInvalid() {
        // A node that is both voter and learner.
        var overlap = ByteBuffer()
        overlap.writeInteger(RaftCodec.formatVersion)
        overlap.writeMultipleIntegers(UInt32(1), UInt64(4), UInt32(1), UInt64(4))
        #expect(throws: CodecError.self) { try overlap.readMembership() }

        var duplicate = ByteBuffer()
        duplicate.writeInteger(RaftCodec.formatVersion)
        duplicate.writeMultipleIntegers(UInt32(2), UInt64(4), UInt64(4), UInt32(0))
        #expect(throws: CodecError.invalid("Membership.voters: nodes not in strictly ascending order")) {
            try duplicate.readMembership()
        }

        var badPresence = ByteBuffer()
        badPresence.writeInteger(RaftCodec.formatVersion)
        badPresence.writeMultipleIntegers(UInt64(1), UInt8(7), UInt64(0))
        #expect(throws: CodecError.invalid("HardState.votedFor: presence byte 7")) { try badPresence.readHardState() }

        var badFlags = ByteBuffer()
        badFlags.writeRaftMessage(Message(from: 1, to: 2, term: 3, payload: .voteResponse(VoteResponse(isGranted: true, isPreVote: true))))
        badFlags.setInteger(UInt8(0x80), at: badFlags.writerIndex - 1)
        #expect(throws: CodecError.self) { try badFlags.readRaftMessage() }
    }

    /// A declared count of four billion entries in a tiny buffer is `truncated` at once (no
    /// allocation sized by the input).
    @Test func hugeDeclaredCountsAreTruncated() {
        var entries = ByteBuffer()
        entries.writeInteger(RaftCodec.formatVersion)
        entries.writeInteger(UInt32.max)
        entries.writeRepeatingByte(0, count: 64)
        #expect(throws: CodecError.truncated) { try entries.readRaftEntries() }

        var data = ByteBuffer()
        data.writeInteger(RaftCodec.formatVersion)
        data.writeMultipleIntegers(UInt64(1), UInt64(1), UInt8(0), UInt32.max)
        data.writeRepeatingByte(0, count: 64)
        #expect(throws: CodecError.truncated) { try data.readRaftEntry() }
    }

    /// Random bytes, and valid encodings with random bytes changed, never crash the decoders;
    /// whatever does decode re-encodes to exactly the bytes it was read from (the encoding is
    /// canonical, so nothing is silently reinterpreted).
    @Test func randomGarbageNeverCrashes() {
        let seeds = seedCount(default: 2000)
        for seed in 0..<UInt64(seeds) {
            var random = RandomValues(seed: seed)
            var buffer = ByteBuffer()
            if random.bool() {
                buffer.writeBytes(random.bytes(countMax: 200))
            } else {
                buffer.writeRaftMessage(random.message())
                for _ in 0..<Int.random(in: 1...4, using: &random.generator) where buffer.readableBytes > 0 {
                    let offset = Int.random(in: 0..<buffer.readableBytes, using: &random.generator)
                    buffer.setInteger(UInt8.random(in: 0...255, using: &random.generator), at: offset)
                }
            }
            for mismatch in decodeAndReencodeEverything(buffer) {
                Issue.record("seed=\(seed): \(mismatch) decoded but re-encoded differently")
            }
        }
    }

    /// Tries every decoder on a copy of `buffer`; returns the names of those that decoded a value
    /// whose encoding differs from the bytes consumed.
    private func decodeAndReencodeEverything(_ buffer: ByteBuffer) -> [String] {
        var mismatches: [String] = []
        func check<Value>(
            _ name: String, _ read: (inout ByteBuffer) throws(CodecError) -> Value,
            _ write: (inout ByteBuffer, Value) -> Void
        ) {
            var copy = buffer
            guard let value = try? read(&copy) else { return }
            let consumed = buffer.getSlice(at: buffer.readerIndex, length: buffer.readableBytes - copy.readableBytes)
            var reencoded = ByteBuffer()
            write(&reencoded, value)
            if consumed != reencoded { mismatches.append(name) }
        }
        check("message", { (b) throws(CodecError) in try b.readRaftMessage() }, { $0.writeRaftMessage($1) })
        check("entries", { (b) throws(CodecError) in try b.readRaftEntries() }, { $0.writeRaftEntries($1) })
        check("entry", { (b) throws(CodecError) in try b.readRaftEntry() }, { $0.writeRaftEntry($1) })
        check("hardState", { (b) throws(CodecError) in try b.readHardState() }, { $0.writeHardState($1) })
        check("membership", { (b) throws(CodecError) in try b.readMembership() }, { $0.writeMembership($1) })
        check(
            "snapshotMetadata", { (b) throws(CodecError) in try b.readSnapshotMetadata() },
            { $0.writeSnapshotMetadata($1) })
        return mismatches
    }
}

@Suite struct CodecBenchmarkFunctionTests {
    @Test func codecBenchmarkMeasuresTheWholeBatch() {
        let result = runCodecBenchmark(entries: 100, entryBytes: 50, rounds: 2)
        #expect(result.encodedBytes == 1 + 4 + 100 * (RaftCodec.entryHeaderByteCount + 50))
        #expect(result.decodeMegabytesPerSecond > 0)
        #expect(result.description.contains("CRC32C"))
    }
}
