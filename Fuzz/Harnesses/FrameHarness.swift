import NIOCore
import RaftCodec
import RaftCore
import RaftTransport

/// The raft port's byte stream: `FrameDecoder`, then each frame's payload by its kind (a Raft
/// message, a snapshot chunk, a snapshot ack, a control request or response).
///
/// The input is the stream, as a peer would send it. Properties:
/// - the decoder never reads past the bytes received, returns frames whose declared length is
///   within `frameBytesMax`, and refuses the rest with a `FrameError`;
/// - while a frame is incomplete, its buffer is sized by the bytes received, not by the length
///   the sender declared;
/// - a frame re-encodes (`writeFrame`) to exactly the bytes it was cut from;
/// - the same stream split into small reads gives the same frames and the same outcome (the
///   decoder's result does not depend on how TCP delivers the bytes);
/// - each payload either decodes or is refused with a typed error; a decoded Raft message or
///   snapshot chunk re-encodes to exactly its payload; a chunk never claims data past its
///   declared total; a decoded ack or control frame survives a round trip unchanged.
package enum FrameHarness: FuzzHarness {
    package static let name = "Frames"

    /// A small bound, so a hostile length prefix is exercised without megabyte buffers.
    static let frameBytesMax = 1 << 16

    /// The property a partial frame broke before the FrameDecoder fix of issue 8.
    package static let partialFrameBufferProperty =
        "a partial frame's buffer grows with the bytes received, not with its declared length"
    /// Capacity a partial frame may hold regardless of the bytes received.
    static let partialFrameSlackBytes = 4_096

    /// How a stream ended: after its last complete frame (nil), or with an error.
    struct Outcome: Equatable {
        var frames: [Frame]
        var consumedBytes: Int
        var error: FrameError?
    }

    package static func check(_ input: [UInt8]) throws(PropertyViolation) {
        let whole = try decodeStream(input, readBytes: max(input.count, 1))
        // Small reads, as a slow sender or a congested link would deliver them.
        let readBytes = input.count % 7 + 1
        let split = try decodeStream(input, readBytes: readBytes)
        try require(
            self, split == whole, "the frames do not depend on how the stream is split into reads",
            "whole: \(whole.frames.count) frames, \(String(describing: whole.error)); "
                + "reads of \(readBytes): \(split.frames.count) frames, \(String(describing: split.error))")
        var offset = 0
        for frame in whole.frames {
            var encoded = ByteBuffer()
            encoded.writeFrame(kind: frame.kind, clusterID: frame.clusterID, payload: frame.payload)
            let original = Array(input[offset..<min(input.count, offset + encoded.readableBytes)])
            try require(
                self, Array(encoded.readableBytesView) == original,
                "a frame re-encodes to exactly the bytes it was cut from", "frame at \(offset)")
            offset += encoded.readableBytes
            try checkPayload(of: frame)
        }
        try require(self, offset == whole.consumedBytes, "the frames account for every byte consumed")
    }

    /// Feeds `input` to a decoder in reads of `readBytes`, decoding after each read as NIO's
    /// `ByteToMessageHandler` does, and at the end as on EOF.
    static func decodeStream(_ input: [UInt8], readBytes: Int) throws(PropertyViolation) -> Outcome {
        var decoder = FrameDecoder(frameBytesMax: frameBytesMax)
        var buffer = ByteBuffer()
        var outcome = Outcome(frames: [], consumedBytes: 0, error: nil)
        var received = 0
        func drain(atEOF: Bool) throws(PropertyViolation) -> Bool {
            while true {
                let before = buffer.readerIndex
                let frame: Frame?
                do {
                    frame = atEOF ? try decoder.decodeLast(buffer: &buffer, seenEOF: true) : try decoder.decode(buffer: &buffer)
                } catch let error as FrameError {
                    outcome.error = error
                    return false
                } catch {
                    throw PropertyViolation(harness: name, property: "the frame decoder throws only FrameError", detail: "\(error)")
                }
                guard let frame else {
                    try require(self, buffer.readerIndex == before, "a decoder that needs more bytes consumes none")
                    // A peer that declares a large frame and sends little must cost little.
                    try require(
                        self, buffer.capacity <= max(2 * buffer.writerIndex, partialFrameSlackBytes),
                        partialFrameBufferProperty,
                        "\(buffer.readableBytes) bytes buffered, capacity \(buffer.capacity)")
                    return true
                }
                let length = Frame.headerBytes + frame.payload.readableBytes
                try require(
                    self, length <= frameBytesMax, "a decoded frame's length is within frameBytesMax", "\(length)")
                try require(
                    self, buffer.readerIndex - before == Frame.lengthPrefixBytes + length,
                    "a frame consumes exactly its length prefix and its length",
                    "consumed \(buffer.readerIndex - before), length \(length)")
                outcome.consumedBytes += buffer.readerIndex - before
                try require(
                    self, outcome.consumedBytes <= received, "the decoder reads only the bytes received",
                    "\(outcome.consumedBytes) of \(received)")
                outcome.frames.append(frame)
            }
        }
        var start = 0
        while start < input.count {
            let end = min(input.count, start + readBytes)
            buffer.writeBytes(input[start..<end])
            received = end
            start = end
            guard try drain(atEOF: false) else { return outcome }
        }
        _ = try drain(atEOF: true)
        return outcome
    }

    static func checkPayload(of frame: Frame) throws(PropertyViolation) {
        let payload = Array(frame.payload.readableBytesView)
        switch frame.kind {
        case .raftMessage:
            guard let message = try? MessageCoding.decode(frame.payload, kind: frame.kind) else { return }
            var encoded = ByteBuffer()
            encoded.writeRaftMessage(message)
            try require(
                self, Array(encoded.readableBytesView) == payload, "a decoded Raft message re-encodes to its payload")
        case .snapshotChunk:
            var buffer = frame.payload
            guard let chunk = try? SnapshotChunk(reading: &buffer) else { return }
            try require(self, buffer.readableBytes == 0, "a snapshot chunk consumes its whole payload")
            var encoded = ByteBuffer()
            chunk.write(to: &encoded)
            try require(self, Array(encoded.readableBytesView) == payload, "a snapshot chunk re-encodes to its payload")
            // Read the header independently of the decoder: offset, total and data must agree.
            guard let (_, _, totalBytes, offset, messageBytes) = frame.payload.getMultipleIntegers(
                at: frame.payload.readerIndex, as: (UInt64, UInt64, UInt64, UInt64, UInt32).self)
            else {
                throw PropertyViolation(harness: name, property: "an accepted chunk has a whole header", detail: "")
            }
            let dataBytes = UInt64(payload.count - SnapshotChunk.headerBytes - Int(messageBytes))
            try require(
                self, offset <= totalBytes && dataBytes <= totalBytes - offset,
                "an accepted chunk's data lies within its declared total", "offset \(offset) data \(dataBytes) total \(totalBytes)")
        case .snapshotAck:
            var buffer = frame.payload
            guard let ack = try? SnapshotAck(reading: &buffer) else { return }
            var encoded = ByteBuffer()
            ack.write(to: &encoded)
            try require(self, (try? SnapshotAck(reading: &encoded)) == ack, "a snapshot ack survives a round trip")
        case .controlRequest, .controlResponse:
            var buffer = frame.payload
            guard let control = try? ControlFrame(reading: &buffer, kind: frame.kind) else { return }
            try require(self, buffer.readableBytes == 0, "a control frame consumes its whole payload")
            var encoded = ByteBuffer()
            control.write(to: &encoded)
            try require(self, Array(encoded.readableBytesView) == payload, "a control frame re-encodes to its payload")
        }
    }

    package static func seeds() -> [[UInt8]] {
        let allocator = ByteBufferAllocator()
        var seeds: [[UInt8]] = []
        var all = ByteBuffer()
        for message in Samples.messages {
            let frame = MessageCoding.frame(message, clusterID: 0x1234, allocator: allocator)
            seeds.append(Array(frame.readableBytesView))
            var copy = frame
            all.writeBuffer(&copy)
        }
        var chunks: [ByteBuffer] = []
        let messageBytes = MessageCoding.encode(Samples.messages[7], allocator: allocator)
        for (offset, data, message) in [
            (UInt64(0), [UInt8](repeating: 7, count: 32), messageBytes), (UInt64(32), [UInt8](repeating: 8, count: 16), ByteBuffer()),
        ] {
            var payload = ByteBuffer()
            SnapshotChunk.write(
                sender: NodeID(1), transferID: 5, totalBytes: 48, offset: offset, message: message, data: data, to: &payload)
            var frame = ByteBuffer()
            frame.writeFrame(kind: .snapshotChunk, clusterID: 0x1234, payload: payload)
            chunks.append(frame)
        }
        seeds.append(Array(chunks[0].readableBytesView) + Array(chunks[1].readableBytesView))
        var ack = ByteBuffer()
        SnapshotAck(transferID: 5, isAccepted: true).write(to: &ack)
        var ackFrame = ByteBuffer()
        ackFrame.writeFrame(kind: .snapshotAck, clusterID: 0x1234, payload: ack)
        seeds.append(Array(ackFrame.readableBytesView))
        for kind in [FrameKind.controlRequest, .controlResponse] {
            var control = ByteBuffer()
            ControlFrame(correlationID: 42, status: .ok, body: Array(#"{"merge":{"members":[]}}"#.utf8)).write(to: &control)
            var frame = ByteBuffer()
            frame.writeFrame(kind: kind, clusterID: 0, payload: control)
            seeds.append(Array(frame.readableBytesView))
        }
        seeds.append(Array(all.readableBytesView))
        return seeds
    }
}
