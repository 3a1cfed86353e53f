import NIOCore

/// What a frame carries.
package enum FrameKind: UInt8, Sendable, CaseIterable {
    /// One encoded Raft `Message`.
    case raftMessage = 1
    /// A piece of a snapshot transfer (`SnapshotChunk`).
    case snapshotChunk = 2
    /// A control request (`ControlFrame`): opaque bytes with a correlation id.
    case controlRequest = 3
    /// The answer to a control request.
    case controlResponse = 4
    /// The receiver's verdict on a completed snapshot transfer (`SnapshotAck`).
    case snapshotAck = 5
}

/// One unit on the wire: `[length u32][kind u8][cluster id u64][payload]`, big-endian, where
/// `length` counts the bytes after itself (kind, cluster id and payload).
package struct Frame: Sendable, Equatable {
    package var kind: FrameKind
    /// The sender's cluster id; 0 when the sender does not know it yet.
    package var clusterID: UInt64
    package var payload: ByteBuffer

    init(kind: FrameKind, clusterID: UInt64, payload: ByteBuffer) {
        self.kind = kind
        self.clusterID = clusterID
        self.payload = payload
    }

    /// The bytes of the length prefix.
    package static let lengthPrefixBytes = 4
    /// The bytes after the length prefix that every frame carries: kind and cluster id.
    package static let headerBytes = 1 + 8

    /// The value of the length prefix for a payload of `payloadBytes`.
    static func length(payloadBytes: Int) -> Int { headerBytes + payloadBytes }
}

/// Why a byte stream is not a valid sequence of frames. The connection carrying it is closed.
package enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length prefix exceeds `frameBytesMax`.
    case oversized(length: Int, max: Int)
    /// The length prefix is too small to hold the kind and cluster id.
    case undersized(length: Int)
    /// The kind byte names no known frame kind.
    case unknownKind(UInt8)
    /// The stream ended in the middle of a frame.
    case truncated(bufferedBytes: Int)

    package var description: String {
        switch self {
        case .oversized(let length, let max): return "frame of \(length) bytes exceeds frameBytesMax \(max)"
        case .undersized(let length): return "frame length \(length) is below the \(Frame.headerBytes)-byte header"
        case .unknownKind(let kind): return "unknown frame kind \(kind)"
        case .truncated(let bytes): return "stream ended inside a frame (\(bytes) bytes buffered)"
        }
    }
}

extension ByteBuffer {
    /// Appends one frame carrying `payload`. The caller checks the frame fits `frameBytesMax`.
    @discardableResult
    package mutating func writeFrame(kind: FrameKind, clusterID: UInt64, payload: ByteBuffer) -> Int {
        var payload = payload
        return writeFrame(kind: kind, clusterID: clusterID) { buffer in buffer.writeBuffer(&payload) }
    }

    /// Appends one frame whose payload `writePayload` writes in place (no intermediate copy);
    /// the length prefix is filled in afterwards. Returns the bytes written.
    @discardableResult
    mutating func writeFrame(
        kind: FrameKind, clusterID: UInt64, payload writePayload: (inout ByteBuffer) -> Void
    ) -> Int {
        let start = writerIndex
        writeInteger(UInt32(0))
        writeInteger(kind.rawValue)
        writeInteger(clusterID)
        writePayload(&self)
        let length = writerIndex - start - Frame.lengthPrefixBytes
        precondition(length <= Int(UInt32.max), "Frame: length fits the 32-bit prefix")
        setInteger(UInt32(length), at: start)
        return writerIndex - start
    }
}

/// Splits a byte stream into frames. It rejects an oversized length as soon as the prefix is
/// read, and never reserves memory for a declared length: a connection buffers only the bytes
/// it was actually sent.
package struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    package typealias InboundOut = Frame

    /// The largest acceptable length prefix.
    let frameBytesMax: Int

    package init(frameBytesMax: Int) {
        self.frameBytesMax = frameBytesMax
    }

    package mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self).map(Int.init) else {
            return nil
        }
        guard length <= frameBytesMax else { throw FrameError.oversized(length: length, max: frameBytesMax) }
        guard length >= Frame.headerBytes else { throw FrameError.undersized(length: length) }
        guard buffer.readableBytes >= Frame.lengthPrefixBytes + length else {
            // Nothing is reserved for the declared length: the buffer grows (by doubling) with
            // the bytes that actually arrive, so a prefix claiming 8 MiB followed by silence
            // costs what was sent, not what was promised.
            return nil
        }
        let kindByte: UInt8 = buffer.getInteger(at: buffer.readerIndex + Frame.lengthPrefixBytes) ?? 0
        guard let kind = FrameKind(rawValue: kindByte) else { throw FrameError.unknownKind(kindByte) }
        buffer.moveReaderIndex(forwardBy: Frame.lengthPrefixBytes + 1)
        // The readable-bytes check above guarantees these reads succeed.
        guard let clusterID = buffer.readInteger(as: UInt64.self),
            let payload = buffer.readSlice(length: length - Frame.headerBytes)
        else { preconditionFailure("FrameDecoder: a complete frame is buffered") }
        return Frame(kind: kind, clusterID: clusterID, payload: payload)
    }

    package mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        if let frame = try decode(buffer: &buffer) { return frame }
        if buffer.readableBytes > 0 { throw FrameError.truncated(bufferedBytes: buffer.readableBytes) }
        return nil
    }
}
