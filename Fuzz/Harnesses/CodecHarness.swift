import NIOCore
import RaftCodec
import RaftCore

/// RaftCodec's top-level decoders: messages, one entry, entry batches, hard state, membership,
/// snapshot metadata. The first input byte picks the decoder; the rest is its input.
///
/// Properties, for every input:
/// - a decoder either returns a value or throws `CodecError`, and when it throws, the reader
///   index is where it was (the documented contract);
/// - it never reads past the bytes given;
/// - the encoding is canonical: re-encoding a decoded value gives exactly the bytes consumed;
/// - an entry batch's count fits its bytes (no count sizes an allocation the bytes cannot back).
package enum CodecHarness: FuzzHarness {
    package static let name = "Codec"

    /// The decoders, in selector order.
    enum Decoder: UInt8, CaseIterable {
        case message, entry, entries, hardState, membership, snapshotMetadata
    }

    package static func check(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let decoder = Decoder.allCases[Int(selector) % Decoder.allCases.count]
        var buffer = ByteBuffer(bytes: input.dropFirst())
        let given = buffer.readableBytes
        switch decoder {
        case .message:
            try roundTrip(decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readRaftMessage() }) {
                $0.writeRaftMessage($1)
            }
        case .entry:
            try roundTrip(decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readRaftEntry() }) {
                $0.writeRaftEntry($1)
            }
        case .entries:
            let entries = try roundTrip(decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readRaftEntries() }) {
                $0.writeRaftEntries($1)
            }
            if let entries {
                try require(
                    self, entries.count * RaftCodec.entryHeaderByteCount <= given,
                    "an entry count is backed by the bytes given", "\(entries.count) entries from \(given) bytes")
            }
        case .hardState:
            try roundTrip(decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readHardState() }) {
                $0.writeHardState($1)
            }
        case .membership:
            let membership = try roundTrip(
                decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readMembership() }
            ) { $0.writeMembership($1) }
            if let membership {
                try require(
                    self, membership.voters.isDisjoint(with: membership.learners),
                    "a decoded membership keeps voters and learners disjoint")
            }
        case .snapshotMetadata:
            try roundTrip(
                decoder, &buffer, given, read: { (b) throws(CodecError) in try b.readSnapshotMetadata() }
            ) { $0.writeSnapshotMetadata($1) }
        }
    }

    /// Decodes one value and checks the reader-index contract and the canonical round trip.
    /// Returns the value, or nil when the decoder refused the input.
    @discardableResult
    private static func roundTrip<Value: Equatable>(
        _ decoder: Decoder, _ buffer: inout ByteBuffer, _ given: Int,
        read: (inout ByteBuffer) throws(CodecError) -> Value, write: (inout ByteBuffer, Value) -> Void
    ) throws(PropertyViolation) -> Value? {
        let original = buffer
        let value: Value
        do {
            value = try read(&buffer)
        } catch {
            try require(
                self, buffer.readerIndex == original.readerIndex,
                "a refused input leaves the reader index where it was",
                "\(decoder): \(error); reader index moved \(original.readerIndex) -> \(buffer.readerIndex)")
            return nil
        }
        let consumed = buffer.readerIndex - original.readerIndex
        try require(self, consumed >= 0 && consumed <= given, "a decoder reads only the bytes given", "\(decoder): \(consumed) of \(given)")
        var encoded = ByteBuffer()
        write(&encoded, value)
        let consumedBytes = original.getBytes(at: original.readerIndex, length: consumed) ?? []
        try require(
            self, Array(encoded.readableBytesView) == consumedBytes,
            "a decoded value re-encodes to exactly the bytes it was read from",
            "\(decoder): read \(consumed) bytes, re-encoded \(encoded.readableBytes)")
        var again = encoded
        let decodedAgain = try? read(&again)
        try require(self, decodedAgain == value, "a re-encoded value decodes to itself", "\(decoder)")
        return value
    }

    package static func seeds() -> [[UInt8]] {
        var seeds: [[UInt8]] = []
        func add(_ decoder: Decoder, _ write: (inout ByteBuffer) -> Void) {
            var buffer = ByteBuffer()
            write(&buffer)
            seeds.append([decoder.rawValue] + Array(buffer.readableBytesView))
        }
        for message in Samples.messages { add(.message) { $0.writeRaftMessage(message) } }
        for entry in Samples.entries { add(.entry) { $0.writeRaftEntry(entry) } }
        add(.entries) { $0.writeRaftEntries(Samples.entries) }
        add(.entries) { $0.writeRaftEntries([Entry]()) }
        for hardState in Samples.hardStates { add(.hardState) { $0.writeHardState(hardState) } }
        add(.membership) { $0.writeMembership(Samples.membership) }
        add(.membership) { $0.writeMembership(.empty) }
        add(.snapshotMetadata) { $0.writeSnapshotMetadata(Samples.snapshot) }
        add(.snapshotMetadata) { $0.writeSnapshotMetadata(.empty) }
        return seeds
    }
}
