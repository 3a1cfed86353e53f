import NIOCore
import RaftCodec
import RaftCore

/// The one place the transport meets RaftCodec: a Raft message as a frame payload.
package enum MessageCoding {
    /// Encodes `message` as one complete `raftMessage` frame.
    package static func frame(_ message: Message, clusterID: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Frame.lengthPrefixBytes + Frame.headerBytes + estimatedBytes(message))
        buffer.writeFrame(kind: .raftMessage, clusterID: clusterID) { payload in
            payload.writeRaftMessage(message)
        }
        return buffer
    }

    /// Encodes `message` alone (for the first chunk of a snapshot transfer).
    package static func encode(_ message: Message, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: estimatedBytes(message))
        buffer.writeRaftMessage(message)
        return buffer
    }

    /// About the bytes `message` takes, encoded or in memory: enough to size a buffer so that
    /// encoding rarely grows it, and to account for what waits in `incoming`.
    static func estimatedBytes(_ message: Message) -> Int {
        let fixedBytes = 64
        switch message.payload {
        case .append(let request): return fixedBytes + request.entries.reduce(0) { $0 + $1.byteCount }
        case .propose(let entries): return fixedBytes + entries.reduce(0) { $0 + $1.byteCount }
        case .installSnapshot(let metadata):
            let membersBytes = 8 * (metadata.membership.voters.count + metadata.membership.learners.count)
            return fixedBytes + membersBytes + metadata.membershipContext.count
        case .voteRequest, .voteResponse, .appendResponse, .heartbeat, .heartbeatResponse, .timeoutNow,
            .readIndexRequest, .readIndexResponse:
            return fixedBytes
        }
    }

    /// Decodes a payload holding exactly one message.
    package static func decode(_ payload: ByteBuffer, kind: FrameKind) throws -> Message {
        var payload = payload
        let message = try payload.readRaftMessage()
        guard payload.readableBytes == 0 else {
            throw PayloadError.invalid(kind, "\(payload.readableBytes) bytes after the message")
        }
        return message
    }
}
