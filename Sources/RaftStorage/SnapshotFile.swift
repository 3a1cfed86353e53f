import NIOCore
import RaftCodec
import RaftCore
import WRaftSupport

/// The format of a snapshot file, `snapshot-<index as 16 hex digits>.snap`:
/// `magic "WRAFTSNP"`, format version u8, snapshot metadata (RaftCodec), data length u64, the
/// data, and a CRC-32C u32 of every byte before it.
enum SnapshotFile {
    static let magic: [UInt8] = Array("WRAFTSNP".utf8)
    static let formatVersion: UInt8 = 1

    static func name(index: LogIndex) -> String {
        "snapshot-\(hex(index.rawValue)).snap"
    }

    /// The index in a snapshot file name, or nil for any other name.
    static func index(fromName name: String) -> LogIndex? {
        guard name.count == 30, name.hasPrefix("snapshot-"), name.hasSuffix(".snap"),
            let value = UInt64(name.dropFirst(9).prefix(16), radix: 16)
        else { return nil }
        return LogIndex(value)
    }

    static func encode(_ metadata: SnapshotMetadata, data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: data.count + 256)
        buffer.writeBytes(magic)
        buffer.writeInteger(formatVersion)
        buffer.writeSnapshotMetadata(metadata)
        buffer.writeInteger(UInt64(data.count))
        buffer.writeBytes(data)
        let checksum = buffer.withUnsafeReadableBytes { CRC32C.checksum($0) }
        buffer.writeInteger(checksum)
        return buffer
    }

    /// Decodes and verifies a snapshot file's bytes.
    static func decode(_ file: ByteBuffer, path: String) throws(StorageError) -> (SnapshotMetadata, [UInt8]) {
        var buffer = file
        guard buffer.readableBytes >= magic.count + 1 + 8 + 4 else {
            throw .corruptSnapshot(file: path, reason: "only \(buffer.readableBytes) bytes")
        }
        let bodyLength = buffer.readableBytes - 4
        let computed = buffer.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<bodyLength])) }
        let stored = buffer.getInteger(at: buffer.readerIndex + bodyLength, as: UInt32.self) ?? 0
        guard computed == stored else {
            throw .corruptSnapshot(file: path, reason: CodecError.checksumMismatch(expected: stored, actual: computed).description)
        }
        guard buffer.readBytes(length: magic.count) == magic else {
            throw .corruptSnapshot(file: path, reason: "not a snapshot file (bad magic)")
        }
        guard let version = buffer.readInteger(as: UInt8.self), version == formatVersion else {
            throw .corruptSnapshot(file: path, reason: "unknown snapshot format version")
        }
        do {
            let metadata = try buffer.readSnapshotMetadata()
            guard let length = buffer.readInteger(as: UInt64.self), length == UInt64(buffer.readableBytes - 4),
                let data = buffer.readBytes(length: Int(length))
            else { throw CodecError.invalid("data length does not match the file size") }
            return (metadata, data)
        } catch {
            throw .corruptSnapshot(file: path, reason: "\(error)")
        }
    }
}
