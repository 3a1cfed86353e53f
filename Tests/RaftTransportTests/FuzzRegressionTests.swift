import NIOCore
import Testing

@testable import RaftTransport

/// Inputs found by the frame fuzz target (Fuzz/FuzzFrames), fixed here for good.
@Suite struct FuzzRegressionTests {
    /// FuzzFrames, property "a partial frame's buffer grows with the bytes received, not with its
    /// declared length" (issue 8: partial frames are kept in a buffer reserved to the declared
    /// length). The input: a length prefix declaring a frame just under `frameBytesMax`, and ten
    /// bytes of it. A peer that sends that much must not make the node hold megabytes; the
    /// decoder now lets the buffer grow only with the bytes that arrive.
    @Test func partialFrameDoesNotReserveItsDeclaredLength() throws {
        let frameBytesMax = 8 << 20
        var decoder = FrameDecoder(frameBytesMax: frameBytesMax)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(frameBytesMax - 1))
        buffer.writeInteger(FrameKind.raftMessage.rawValue)
        buffer.writeBytes([UInt8](repeating: 0, count: 9))
        let frame = try decoder.decode(buffer: &buffer)
        #expect(frame == nil)
        #expect(buffer.readableBytes == 14)
        #expect(buffer.capacity <= 64 << 10, "capacity \(buffer.capacity) for 14 bytes received")
    }
}
