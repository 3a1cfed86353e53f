import NIOCore
import RaftCore

/// The binary encoding of Raft values, shared by the write-ahead log and the peer wire.
///
/// ## Why an explicit codec and not protobuf
/// - No dependency beyond NIOCore (which the transport uses anyway) and no generated code to
///   keep in step with the Swift types: the encoder is the only schema.
/// - Full control of allocation: values are written straight into a caller's `ByteBuffer`
///   (one buffer per WAL batch or per outgoing frame) and read with fixed-width integer loads;
///   an entry's payload is the only allocation decoding makes.
/// - Full control of bounds: every count and length read from input is checked against the
///   bytes that remain before anything is allocated, so hostile input cannot make us reserve
///   gigabytes, and decoding arbitrary bytes throws a `CodecError` instead of crashing.
///
/// ## Format (version 1)
/// Integers are fixed width, big-endian (NIO's default, network order). Booleans are packed
/// into flag bytes whose unknown bits are refused. Optionals are a presence byte (0 or 1) and
/// the value. Sets are a `u32` count and their elements in strictly ascending order. The
/// encoding is canonical: a value has exactly one encoding, and decoders refuse any other. Byte arrays are a `u32` length and the bytes.
///
/// Every top-level encoding (`writeRaftMessage`, `writeRaftEntry`, `writeRaftEntries`,
/// `writeHardState`, `writeSnapshotMetadata`, `writeMembership`) starts with the format
/// version byte `RaftCodec.formatVersion`; values nested inside one (the entries of an append,
/// the metadata of an install-snapshot) are written without their own version byte.
///
/// ```
/// Entry            term u64, index u64, kind u8, data length u32, data
/// Entries          count u32, Entry...
/// HardState        term u64, votedFor present u8 [node u64], commit u64
/// Membership       voter count u32, voter u64..., learner count u32, learner u64...
/// SnapshotMetadata index u64, term u64, Membership, context length u32, context
/// Message          from u64, to u64, term u64, payload tag u8, payload fields (see PayloadTag)
/// ```
///
/// Every term and index is at most `Term.wireMax` / `LogIndex.wireMax` (2^48): decoders refuse
/// a larger one as `invalid`, so neither a peer nor a damaged file can hand the core a number
/// whose arithmetic could trap or whose term would leave no room for elections.
///
/// On a thrown error the buffer's reader index is left where it was before the call.
public enum RaftCodec {
    /// The format version written by this build, and the only one it reads.
    public static let formatVersion: UInt8 = 1

    /// Bytes an entry takes in the encoding besides its data.
    public static let entryHeaderByteCount = 8 + 8 + 1 + 4

    /// The exact number of bytes `entry` takes inside an encoded batch or message.
    public static func encodedByteCount(of entry: Entry) -> Int {
        entryHeaderByteCount + entry.data.count
    }
}

// MARK: - Primitives shared by the encoders in this module.

extension ByteBuffer {
    /// Runs `body`; when it throws, puts the reader index back where it was.
    @inlinable
    mutating func readAtomically<Value>(
        _ body: (inout ByteBuffer) throws(CodecError) -> Value
    ) throws(CodecError) -> Value {
        let start = readerIndex
        do {
            return try body(&self)
        } catch {
            moveReaderIndex(to: start)
            throw error
        }
    }

    /// Reads a versioned value: the format version, then `body`; all or nothing (on a thrown
    /// error the reader index is put back, as `readAtomically` does).
    @inlinable
    mutating func readVersioned<Value>(
        _ body: (inout ByteBuffer) throws(CodecError) -> Value
    ) throws(CodecError) -> Value {
        try readAtomically { (buffer) throws(CodecError) in
            try buffer.readVersion()
            return try body(&buffer)
        }
    }

    @inlinable
    mutating func readVersion() throws(CodecError) {
        let version = try readUInt8()
        guard version == RaftCodec.formatVersion else { throw .unknownVersion(version) }
    }

    @inlinable
    mutating func readUInt8() throws(CodecError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .truncated }
        return value
    }

    @inlinable
    mutating func readUInt32() throws(CodecError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .truncated }
        return value
    }

    @inlinable
    mutating func readUInt64() throws(CodecError) -> UInt64 {
        guard let value = readInteger(as: UInt64.self) else { throw .truncated }
        return value
    }

    /// Reads a `u64` term, refusing one above `Term.wireMax` (the rule is beside `Term.wireMax`).
    @inlinable
    mutating func readTerm(of field: String) throws(CodecError) -> Term {
        let value = try readUInt64()
        guard value <= Term.wireMax.rawValue else { throw .invalid("\(field): term \(value) above the bound \(Term.wireMax)") }
        return Term(value)
    }

    /// Reads a `u64` log index, refusing one above `LogIndex.wireMax`.
    @inlinable
    mutating func readIndex(of field: String) throws(CodecError) -> LogIndex {
        let value = try readUInt64()
        guard value <= LogIndex.wireMax.rawValue else {
            throw .invalid("\(field): index \(value) above the bound \(LogIndex.wireMax)")
        }
        return LogIndex(value)
    }

    /// Reads a flag byte, refusing bits outside `allowed`.
    @inlinable
    mutating func readFlags(allowed: UInt8, of type: String) throws(CodecError) -> UInt8 {
        let flags = try readUInt8()
        guard flags & ~allowed == 0 else { throw .invalid("\(type): unknown flag bits \(flags)") }
        return flags
    }

    @inlinable
    mutating func readPresence(of type: String) throws(CodecError) -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let other: throw .invalid("\(type): presence byte \(other)")
        }
    }

    /// Writes a `u32` length and the bytes. Precondition: fewer than 4 GiB.
    @inlinable
    mutating func writeLengthPrefixedBytes(_ bytes: [UInt8]) {
        precondition(bytes.count <= Int(UInt32.max), "RaftCodec: byte array length fits in u32")
        writeInteger(UInt32(truncatingIfNeeded: bytes.count))
        writeBytes(bytes)
    }

    /// Reads a `u32` length and that many bytes; a length beyond the readable bytes is `truncated`.
    @inlinable
    mutating func readLengthPrefixedBytes() throws(CodecError) -> [UInt8] {
        let length = Int(try readUInt32())
        guard length <= readableBytes, let bytes = readBytes(length: length) else { throw .truncated }
        return bytes
    }

    /// Reads a `u32` element count whose elements take at least `elementBytesMin` bytes each;
    /// a count that cannot fit in the readable bytes is `truncated` (so it never sizes an allocation).
    @inlinable
    mutating func readCount(elementBytesMin: Int) throws(CodecError) -> Int {
        let count = Int(try readUInt32())
        guard count <= readableBytes / elementBytesMin else { throw .truncated }
        return count
    }
}
