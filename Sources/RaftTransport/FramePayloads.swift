import NIOCore
import RaftCore

/// Why a frame's payload could not be parsed. The connection carrying it is closed.
package enum PayloadError: Error, Equatable, CustomStringConvertible {
    case truncated(FrameKind)
    case invalid(FrameKind, String)

    package var description: String {
        switch self {
        case .truncated(let kind): return "\(kind) payload is truncated"
        case .invalid(let kind, let why): return "invalid \(kind) payload: \(why)"
        }
    }
}

/// The payload of a `snapshotChunk` frame:
/// `[sender u64][transfer id u64][total bytes u64][offset u64][message bytes u32][message][data]`.
///
/// The first chunk (offset 0) carries the encoded `installSnapshot` message; later chunks carry
/// none. Chunks of one transfer travel in order on one connection.
package struct SnapshotChunk {
    var sender: NodeID
    var transferID: UInt64
    var totalBytes: UInt64
    var offset: UInt64
    var message: ByteBuffer
    var data: ByteBuffer

    package static let headerBytes = 8 * 4 + 4

    var isFirst: Bool { offset == 0 }
    var isLast: Bool { offset + UInt64(data.readableBytes) == totalBytes }

    package func write(to buffer: inout ByteBuffer) {
        Self.write(
            sender: sender, transferID: transferID, totalBytes: totalBytes, offset: offset, message: message,
            data: data.readableBytesView, to: &buffer)
    }

    /// Writes a chunk straight from the snapshot's bytes (one copy, into the frame).
    package static func write(
        sender: NodeID, transferID: UInt64, totalBytes: UInt64, offset: UInt64, message: ByteBuffer,
        data: some Collection<UInt8>, to buffer: inout ByteBuffer
    ) {
        var message = message
        buffer.writeInteger(sender.rawValue)
        buffer.writeInteger(transferID)
        buffer.writeInteger(totalBytes)
        buffer.writeInteger(offset)
        buffer.writeInteger(UInt32(message.readableBytes))
        buffer.writeBuffer(&message)
        buffer.writeBytes(data)
    }

    init(sender: NodeID, transferID: UInt64, totalBytes: UInt64, offset: UInt64, message: ByteBuffer, data: ByteBuffer) {
        self.sender = sender
        self.transferID = transferID
        self.totalBytes = totalBytes
        self.offset = offset
        self.message = message
        self.data = data
    }

    package init(reading buffer: inout ByteBuffer) throws(PayloadError) {
        guard let sender = buffer.readInteger(as: UInt64.self),
            let transferID = buffer.readInteger(as: UInt64.self),
            let totalBytes = buffer.readInteger(as: UInt64.self),
            let offset = buffer.readInteger(as: UInt64.self),
            let messageBytes = buffer.readInteger(as: UInt32.self),
            let message = buffer.readSlice(length: Int(messageBytes))
        else { throw .truncated(.snapshotChunk) }
        let data = buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer()
        guard offset <= totalBytes, UInt64(data.readableBytes) <= totalBytes - offset else {
            throw .invalid(.snapshotChunk, "chunk at \(offset) of \(data.readableBytes) bytes overruns \(totalBytes)")
        }
        guard (offset == 0) == (messageBytes > 0) else {
            throw .invalid(.snapshotChunk, "exactly the first chunk carries the message")
        }
        self.init(
            sender: NodeID(sender), transferID: transferID, totalBytes: totalBytes, offset: offset,
            message: message, data: data)
    }
}

/// The payload of a `snapshotAck` frame: `[transfer id u64][accepted u8]`.
package struct SnapshotAck: Equatable {
    var transferID: UInt64
    /// True when the snapshot was delivered to the receiver's `incoming` stream.
    var isAccepted: Bool

    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(transferID)
        buffer.writeInteger(UInt8(isAccepted ? 1 : 0))
    }

    package init(transferID: UInt64, isAccepted: Bool) {
        self.transferID = transferID
        self.isAccepted = isAccepted
    }

    package init(reading buffer: inout ByteBuffer) throws(PayloadError) {
        guard let transferID = buffer.readInteger(as: UInt64.self), let accepted = buffer.readInteger(as: UInt8.self)
        else { throw .truncated(.snapshotAck) }
        self.init(transferID: transferID, isAccepted: accepted == 1)
    }
}

/// The payload of a control frame.
/// Request: `[correlation id u64][status u8 = 0][body]`; response: `[correlation id u64][status u8][body]`.
package struct ControlFrame: Equatable {
    /// The outcome of a control request, as the responder reports it.
    package enum Status: UInt8 {
        case ok = 0
        case noHandler = 1
        case overloaded = 2
        case tooLarge = 3
    }

    var correlationID: UInt64
    var status: Status
    var body: [UInt8]

    static let headerBytes = 8 + 1

    package func write(to buffer: inout ByteBuffer) {
        buffer.writeInteger(correlationID)
        buffer.writeInteger(status.rawValue)
        buffer.writeBytes(body)
    }

    package init(correlationID: UInt64, status: Status, body: [UInt8]) {
        self.correlationID = correlationID
        self.status = status
        self.body = body
    }

    package init(reading buffer: inout ByteBuffer, kind: FrameKind) throws(PayloadError) {
        guard let correlationID = buffer.readInteger(as: UInt64.self), let statusByte = buffer.readInteger(as: UInt8.self)
        else { throw .truncated(kind) }
        guard let status = Status(rawValue: statusByte) else { throw .invalid(kind, "unknown status \(statusByte)") }
        self.init(correlationID: correlationID, status: status, body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }
}
