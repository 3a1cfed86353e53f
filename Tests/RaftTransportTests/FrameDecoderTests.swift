import NIOCore
import Testing

@testable import RaftTransport

/// The frame decoder, driven by NIO's own single-step processor (the driver `ByteToMessageHandler`
/// uses), fed reads the way a socket delivers them.
@Suite struct FrameDecoderTests {
    let frameBytesMax = 64 << 10

    private func makeProcessor() -> NIOSingleStepByteToMessageProcessor<FrameDecoder> {
        NIOSingleStepByteToMessageProcessor(FrameDecoder(frameBytesMax: frameBytesMax))
    }

    private func frameBytes(kind: FrameKind, clusterID: UInt64, payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(kind: kind, clusterID: clusterID, payload: ByteBuffer(bytes: payload))
        return buffer
    }

    @Test func writesTheDocumentedLayout() {
        let buffer = frameBytes(kind: .controlRequest, clusterID: 0x0102_0304_0506_0708, payload: [0xAA, 0xBB])
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 11, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0xAA, 0xBB])
    }

    @Test func waitsForMoreDataUntilAFrameIsComplete() throws {
        let processor = makeProcessor()
        let whole = frameBytes(kind: .raftMessage, clusterID: 7, payload: Array(repeating: 9, count: 100))
        var frames: [Frame] = []
        // Every prefix shorter than the frame yields nothing.
        try processor.process(buffer: whole.getSlice(at: 0, length: 3)!) { frames.append($0) }
        #expect(frames.isEmpty)
        try processor.process(buffer: whole.getSlice(at: 3, length: 10)!) { frames.append($0) }
        #expect(frames.isEmpty)
        try processor.process(buffer: whole.getSlice(at: 13, length: whole.readableBytes - 14)!) { frames.append($0) }
        #expect(frames.isEmpty)
        try processor.process(buffer: whole.getSlice(at: whole.readableBytes - 1, length: 1)!) { frames.append($0) }
        #expect(frames.count == 1)
        #expect(frames.first?.kind == .raftMessage)
        #expect(frames.first?.clusterID == 7)
        #expect(frames.first.map { Array($0.payload.readableBytesView) } == Array(repeating: 9, count: 100))
    }

    @Test func decodesFramesSplitByteByByte() throws {
        let processor = makeProcessor()
        var stream = frameBytes(kind: .snapshotAck, clusterID: 1, payload: [1, 2, 3])
        var second = frameBytes(kind: .controlResponse, clusterID: 2, payload: [])
        stream.writeBuffer(&second)
        var frames: [Frame] = []
        for offset in 0..<stream.readableBytes {
            try processor.process(buffer: stream.getSlice(at: offset, length: 1)!) { frames.append($0) }
        }
        #expect(frames.map(\.kind) == [.snapshotAck, .controlResponse])
        #expect(frames.map(\.clusterID) == [1, 2])
        #expect(frames.last?.payload.readableBytes == 0)
    }

    @Test func decodesSeveralFramesFromOneRead() throws {
        let processor = makeProcessor()
        var stream = ByteBuffer()
        for index in 0..<5 {
            var frame = frameBytes(kind: .raftMessage, clusterID: UInt64(index), payload: [UInt8(index)])
            stream.writeBuffer(&frame)
        }
        // Plus the first half of a sixth frame, which must wait.
        let sixth = frameBytes(kind: .raftMessage, clusterID: 5, payload: [5, 5, 5, 5])
        stream.writeImmutableBuffer(sixth.getSlice(at: 0, length: 8)!)
        var frames: [Frame] = []
        try processor.process(buffer: stream) { frames.append($0) }
        #expect(frames.map(\.clusterID) == [0, 1, 2, 3, 4])
        try processor.process(buffer: sixth.getSlice(at: 8, length: sixth.readableBytes - 8)!) { frames.append($0) }
        #expect(frames.map(\.clusterID) == [0, 1, 2, 3, 4, 5])
    }

    @Test func rejectsAnOversizedLengthBeforeItsBytesArrive() throws {
        let processor = makeProcessor()
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(frameBytesMax + 1))
        #expect(throws: FrameError.oversized(length: frameBytesMax + 1, max: frameBytesMax)) {
            try processor.process(buffer: prefix) { _ in Issue.record("no frame expected") }
        }
    }

    /// A prefix declaring a frame of 8 MiB followed by one byte used to reserve the whole 8 MiB
    /// in the connection's buffer; now the buffer holds what arrived, not what was promised.
    @Test func aDeclaredLengthReservesNothing() throws {
        var decoder = FrameDecoder(frameBytesMax: 8 << 20)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(8 << 20))
        buffer.writeInteger(FrameKind.raftMessage.rawValue)
        let capacityBefore = buffer.capacity
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.capacity == capacityBefore)
        #expect(buffer.capacity < 64 << 10)
    }

    @Test func acceptsAFrameOfExactlyTheMaximumLength() throws {
        let processor = makeProcessor()
        let payload = [UInt8](repeating: 1, count: frameBytesMax - Frame.headerBytes)
        var frames: [Frame] = []
        try processor.process(buffer: frameBytes(kind: .raftMessage, clusterID: 0, payload: payload)) { frames.append($0) }
        #expect(frames.first?.payload.readableBytes == payload.count)
    }

    @Test func rejectsALengthTooSmallForTheHeader() {
        let processor = makeProcessor()
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(Frame.headerBytes - 1))
        #expect(throws: FrameError.undersized(length: Frame.headerBytes - 1)) {
            try processor.process(buffer: bytes) { _ in }
        }
    }

    @Test func rejectsAnUnknownKind() {
        let processor = makeProcessor()
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(Frame.headerBytes))
        bytes.writeInteger(UInt8(200))
        bytes.writeInteger(UInt64(0))
        #expect(throws: FrameError.unknownKind(200)) {
            try processor.process(buffer: bytes) { _ in }
        }
    }

    @Test func reportsAStreamThatEndsInsideAFrame() throws {
        let processor = makeProcessor()
        let whole = frameBytes(kind: .raftMessage, clusterID: 0, payload: [1, 2, 3])
        try processor.process(buffer: whole.getSlice(at: 0, length: 6)!) { _ in }
        #expect(throws: FrameError.truncated(bufferedBytes: 6)) {
            try processor.finishProcessing(seenEOF: true) { _ in }
        }
    }

    @Test func endsCleanlyAtAFrameBoundary() throws {
        let processor = makeProcessor()
        var frames: [Frame] = []
        try processor.process(buffer: frameBytes(kind: .raftMessage, clusterID: 0, payload: [1])) { frames.append($0) }
        try processor.finishProcessing(seenEOF: true) { frames.append($0) }
        #expect(frames.count == 1)
    }
}
