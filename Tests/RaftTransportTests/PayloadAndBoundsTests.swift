import NIOCore
import RaftCore
import Testing
import WRaftSupport

@testable import RaftTransport

@Suite struct FramePayloadTests {
    @Test func snapshotChunkRoundTrips() throws {
        let chunk = SnapshotChunk(
            sender: NodeID(0xABCD), transferID: 42, totalBytes: 10, offset: 0,
            message: ByteBuffer(bytes: [1, 2, 3]), data: ByteBuffer(bytes: [4, 5, 6, 7]))
        var buffer = ByteBuffer()
        chunk.write(to: &buffer)
        let decoded = try SnapshotChunk(reading: &buffer)
        #expect(decoded.sender == NodeID(0xABCD))
        #expect(decoded.transferID == 42)
        #expect(decoded.totalBytes == 10)
        #expect(decoded.isFirst)
        #expect(!decoded.isLast)
        #expect(Array(decoded.message.readableBytesView) == [1, 2, 3])
        #expect(Array(decoded.data.readableBytesView) == [4, 5, 6, 7])
    }

    @Test func snapshotChunkThatOverrunsItsTotalIsRefused() {
        var buffer = ByteBuffer()
        SnapshotChunk(
            sender: 1, transferID: 1, totalBytes: 5, offset: 3, message: ByteBuffer(), data: ByteBuffer(bytes: [1, 2, 3])
        ).write(to: &buffer)
        #expect(throws: PayloadError.self) { try SnapshotChunk(reading: &buffer) }
    }

    @Test func onlyTheFirstChunkCarriesTheMessage() {
        var buffer = ByteBuffer()
        SnapshotChunk(
            sender: 1, transferID: 1, totalBytes: 5, offset: 2, message: ByteBuffer(bytes: [9]), data: ByteBuffer(bytes: [1])
        ).write(to: &buffer)
        #expect(throws: PayloadError.self) { try SnapshotChunk(reading: &buffer) }
    }

    @Test func truncatedPayloadsAreRefused() {
        var chunk = ByteBuffer(bytes: [0, 0, 0])
        #expect(throws: PayloadError.truncated(.snapshotChunk)) { try SnapshotChunk(reading: &chunk) }
        var ack = ByteBuffer(bytes: [0, 0, 0, 0, 0, 0, 0, 1])
        #expect(throws: PayloadError.truncated(.snapshotAck)) { try SnapshotAck(reading: &ack) }
        var control = ByteBuffer(bytes: [1])
        #expect(throws: PayloadError.truncated(.controlRequest)) {
            try ControlFrame(reading: &control, kind: .controlRequest)
        }
    }

    @Test func controlFrameRoundTrips() throws {
        var buffer = ByteBuffer()
        ControlFrame(correlationID: 77, status: .overloaded, body: [5, 6]).write(to: &buffer)
        let decoded = try ControlFrame(reading: &buffer, kind: .controlResponse)
        #expect(decoded == ControlFrame(correlationID: 77, status: .overloaded, body: [5, 6]))
    }

    @Test func controlFrameWithUnknownStatusIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt64(1))
        buffer.writeInteger(UInt8(99))
        #expect(throws: PayloadError.invalid(.controlResponse, "unknown status 99")) {
            try ControlFrame(reading: &buffer, kind: .controlResponse)
        }
    }

    @Test func snapshotAckRoundTrips() throws {
        var buffer = ByteBuffer()
        SnapshotAck(transferID: 9, isAccepted: true).write(to: &buffer)
        #expect(try SnapshotAck(reading: &buffer) == SnapshotAck(transferID: 9, isAccepted: true))
    }
}

@Suite struct OutboxTests {
    private func frame(bytes: Int) -> QueuedFrame {
        QueuedFrame(bytes: ByteBuffer(repeating: 0, count: bytes), kindName: "append")
    }

    @Test func refusesPastTheMessageBound() {
        var outbox = Outbox(messagesMax: 3, bytesMax: 1000)
        var accepted: [Bool] = []
        for _ in 0..<5 { accepted.append(outbox.append(frame(bytes: 10))) }
        #expect(accepted == [true, true, true, false, false])
        #expect(outbox.count == 3)
        #expect(outbox.bytes == 30)
    }

    @Test func refusesPastTheByteBoundButTakesWhatFits() {
        var outbox = Outbox(messagesMax: 100, bytesMax: 100)
        let accepted = [60, 41, 40, 1].map { bytes in outbox.append(frame(bytes: bytes)) }
        #expect(accepted == [true, false, true, false])
        #expect(outbox.bytes == 100)
    }

    @Test func popsInOrderAndReleasesBytes() {
        var outbox = Outbox(messagesMax: 10, bytesMax: 100)
        _ = outbox.append(frame(bytes: 1))
        _ = outbox.append(frame(bytes: 2))
        let first = outbox.popFirst()
        #expect(first?.bytes.readableBytes == 1)
        #expect(outbox.bytes == 2)
        let removed = outbox.removeAll()
        #expect(removed.map(\.bytes.readableBytes) == [2])
        #expect(outbox.isEmpty && outbox.bytes == 0)
        let none = outbox.popFirst()
        #expect(none == nil)
    }
}

@Suite struct PeerAddressTests {
    @Test func parsesHostAndPort() throws {
        #expect(try HostPort(raftAddress: "127.0.0.1:10002") == HostPort(host: "127.0.0.1", port: 10002))
        #expect(try HostPort(raftAddress: "node-1.local:1") == HostPort(host: "node-1.local", port: 1))
        #expect(try HostPort(raftAddress: "[::1]:65535") == HostPort(host: "::1", port: 65535))
        #expect(HostPort(host: "::1", port: 5).description == "[::1]:5")
    }

    @Test(arguments: ["", "host", "host:", ":80", "host:0", "host:65536", "host:http", "::1:80", "[]:80"])
    func refusesMalformedAddresses(_ text: String) {
        #expect(throws: TransportError.invalidAddress(text)) { try HostPort(raftAddress: text) }
    }
}

@Suite struct TransportOptionsTests {
    @Test func defaultsAreValidAndFitTheLargestAppend() throws {
        let options = TransportOptions()
        try options.validate()
        // 1 MiB of message bytes plus one 1 MiB value, with room for headers.
        #expect(options.frameBytesMax > (2 << 20) + 4096)
    }

    @Test func refusesBoundsThatCannotWork() {
        var tooSmallFrame = TransportOptions()
        tooSmallFrame.frameBytesMax = 100
        #expect(throws: TransportError.self) { try tooSmallFrame.validate() }

        var outboxSmallerThanFrame = TransportOptions()
        outboxSmallerThanFrame.outboxBytesMax = outboxSmallerThanFrame.frameBytesMax - 1
        #expect(throws: TransportError.self) { try outboxSmallerThanFrame.validate() }

        var chunkLargerThanFrame = TransportOptions()
        chunkLargerThanFrame.snapshotChunkBytes = chunkLargerThanFrame.frameBytesMax
        #expect(throws: TransportError.self) { try chunkLargerThanFrame.validate() }

        var backoffInverted = TransportOptions()
        backoffInverted.reconnectBackoffMax = .milliseconds(1)
        #expect(throws: TransportError.self) { try backoffInverted.validate() }

        var noOutbox = TransportOptions()
        noOutbox.outboxMessagesMax = 0
        #expect(throws: TransportError.self) { try noOutbox.validate() }
    }
}
