import NIOCore

/// One encoded frame waiting in an outbox, with the kind of message it carries (for metrics).
struct QueuedFrame {
    var bytes: ByteBuffer
    var kindName: String
}

/// The encoded frames waiting to be written to one peer, bounded in count and bytes. When
/// full, new frames are refused (the caller drops them; Raft retries), never waited for.
///
/// Invariant: `count <= messagesMax` and `bytes <= bytesMax`; `bytes` is the sum of the
/// readable bytes of the queued frames.
struct Outbox {
    let messagesMax: Int
    let bytesMax: Int
    private var frames: CircularBuffer<QueuedFrame> = []
    private(set) var bytes = 0

    init(messagesMax: Int, bytesMax: Int) {
        precondition(messagesMax >= 1 && bytesMax >= 1, "Outbox: bounds are positive")
        self.messagesMax = messagesMax
        self.bytesMax = bytesMax
    }

    var count: Int { frames.count }
    var isEmpty: Bool { frames.isEmpty }

    /// Queues `frame` unless that would pass a bound; returns whether it was queued.
    mutating func append(_ frame: QueuedFrame) -> Bool {
        let frameBytes = frame.bytes.readableBytes
        guard frames.count < messagesMax, frameBytes <= bytesMax - bytes else { return false }
        frames.append(frame)
        bytes += frameBytes
        return true
    }

    /// Removes and returns the oldest frame.
    mutating func popFirst() -> QueuedFrame? {
        guard let frame = frames.popFirst() else { return nil }
        bytes -= frame.bytes.readableBytes
        precondition(bytes >= 0, "Outbox: byte count never goes negative")
        return frame
    }

    /// Removes and returns every frame.
    mutating func removeAll() -> CircularBuffer<QueuedFrame> {
        defer {
            frames.removeAll()
            bytes = 0
        }
        return frames
    }
}
