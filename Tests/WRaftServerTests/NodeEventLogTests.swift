import RaftCore
import Testing

@testable import WRaftServer

/// The event ring behind `GET /events`: replay after a sequence, a lapped reader, the sampler.
@Suite struct NodeEventLogTests {
    private func makeLog() -> NodeEventLog { NodeEventLog(tickMs: 10, heartbeatMs: 100, electionTimeoutMs: 300) }

    @Test func aFullRingReplaysItsOldestOnwardAndReportsALappedReader() {
        let log = makeLog()
        let total = NodeEventLog.ringCapacity + 100
        for index in 1...total { log.record(.applied(index: LogIndex(UInt64(index)))) }
        let held = log.heldSequences
        #expect(held.oldest == 101 && held.newest == UInt64(total))
        // A reader that already read the oldest held onward gets what follows, in order.
        let next = log.events(after: held.oldest, limit: 3)
        #expect(!next.isLapped && next.events.map(\.sequence) == [held.oldest + 1, held.oldest + 2, held.oldest + 3])
        // A reader behind the ring is told so (the stream then ends with `lagged`).
        #expect(log.events(after: 50, limit: 3).isLapped)
        // Opening at the oldest held (what a stream without `since` does) is not lapped.
        #expect(!log.events(after: held.oldest - 1, limit: 1).isLapped)
    }

    @Test func messagesAreRecordedOnlyWhileAStreamIsOpenAndSampled() {
        let log = makeLog()
        let message = Message(from: NodeID(1), to: NodeID(2), term: Term(3), payload: .heartbeat(HeartbeatRequest(commit: .zero)))
        log.recordMessage(message, isSent: true)
        #expect(log.lastSequence == 0)
        #expect(log.openStream())
        for _ in 0..<1_000 { log.recordMessage(message, isSent: true) }
        // One window's worth at most (the test runs well within a few windows).
        #expect(log.lastSequence >= 1 && log.lastSequence < 1_000)
        log.closeStream()
        #expect(!log.isWatched)
        for _ in 0..<NodeEventLog.streamsMax { #expect(log.openStream()) }
        #expect(!log.openStream())
    }
}
