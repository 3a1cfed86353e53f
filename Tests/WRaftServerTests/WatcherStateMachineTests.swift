import KVStore
import RaftCore
import Testing

@testable import WRaftServer

/// The watcher's rules alone: the seam between history and live events, the queue's bounds,
/// compaction, and never splitting a revision.
@Suite struct WatcherStateMachineTests {
    static func event(_ revision: UInt64, _ key: String = "k", kind: KVEvent.Kind = .put) -> KVEvent {
        KVEvent(
            kind: kind, revision: revision,
            entry: KVEntry(
                key: Array(key.utf8), value: kind == .put ? [1] : [], createRevision: revision, modRevision: revision,
                version: 1, lease: 0, index: LogIndex(revision), term: Term(1)),
            previous: nil)
    }

    static func machine(_ phase: WatcherStateMachine.Phase, knownThrough: UInt64 = 0, eventsMax: Int = 100, bytesMax: Int = 1 << 20)
        -> WatcherStateMachine
    {
        WatcherStateMachine(phase: phase, knownThrough: knownThrough, queuedEventsMax: eventsMax, queuedBytesMax: bytesMax)
    }

    static func revisions(_ take: WatcherStateMachine.Take) -> [UInt64] {
        guard case .deliver(let events) = take else { return [] }
        return events.map(\.revision)
    }

    @Test func theSeamBetweenHistoryAndLiveRepeatsNothingAndLosesNothing() {
        var machine = Self.machine(.catchingUp(next: 3))
        // Published while the watcher reads its history: ignored, the history holds it.
        let r1 = machine.offer([Self.event(5)][...])
        #expect(!r1)
        let r2 = machine.take(eventsMax: 10, fannedOutThrough: 5)
        #expect(r2 == .readHistory(from: 3))
        // The first page did not reach the store's revision.
        machine.caughtUp([Self.event(3), Self.event(4)], readThrough: 4, isCurrent: false)
        let r3 = machine.take(eventsMax: 10, fannedOutThrough: 5)
        #expect(Self.revisions(r3) == [3, 4])
        let r4 = machine.take(eventsMax: 10, fannedOutThrough: 5)
        #expect(r4 == .readHistory(from: 5))
        // The last page reads through the store's revision (6) and the watcher goes live.
        machine.caughtUp([Self.event(5), Self.event(6)], readThrough: 6, isCurrent: true)
        #expect(machine.phase == .live(next: 7))
        // A publication of 5...7 still on its way through the hub: only 7 is new.
        let r5 = machine.offer([Self.event(5), Self.event(6), Self.event(7)][...])
        #expect(r5)
        let r6 = machine.take(eventsMax: 10, fannedOutThrough: 7)
        #expect(Self.revisions(r6) == [5, 6, 7])
        let r7 = machine.take(eventsMax: 10, fannedOutThrough: 7)
        #expect(r7 == .wait(seenThrough: 7))
    }

    @Test func aRevisionIsNeverSplitAcrossDeliveries() {
        var machine = Self.machine(.live(next: 1))
        let r8 = machine.offer([Self.event(1, "a"), Self.event(2, "a"), Self.event(2, "b"), Self.event(2, "c"), Self.event(3)][...])
        #expect(r8)
        let r9 = machine.take(eventsMax: 2, fannedOutThrough: 3)
        #expect(Self.revisions(r9) == [1, 2, 2, 2])
        let r10 = machine.take(eventsMax: 2, fannedOutThrough: 3)
        #expect(Self.revisions(r10) == [3])
    }

    @Test func aWatcherPastItsQueueIsEndedAndItsQueueFreed() {
        var machine = Self.machine(.live(next: 1), eventsMax: 3)
        let r11 = machine.offer([Self.event(1), Self.event(2)][...])
        #expect(r11)
        #expect(machine.queuedCount == 2)
        let r12 = machine.offer([Self.event(3), Self.event(4)][...])
        #expect(r12, "the reader is woken to learn it ended")
        #expect(machine.queuedCount == 0 && machine.queuedBytes == 0)
        let r13 = machine.take(eventsMax: 10, fannedOutThrough: 4)
        #expect(r13 == .end(.tooSlow(queuedEventsMax: 3, queuedBytesMax: 1 << 20)))
        let r14 = machine.take(eventsMax: 10, fannedOutThrough: 4)
        #expect(r14 == .finished)
        let r15 = machine.offer([Self.event(5)][...])
        #expect(!r15, "nothing is queued after the end")
    }

    @Test func oneLargeEventIsTakenIntoAnEmptyQueueButNotBeyondTheByteBound() {
        var machine = Self.machine(.live(next: 1), bytesMax: 10)
        let r16 = machine.offer([Self.event(1)][...])
        #expect(r16)
        #expect(machine.queuedCount == 1, "an empty queue takes one event whatever its size")
        let r17 = machine.offer([Self.event(2)][...])
        #expect(r17)
        let r18 = machine.take(eventsMax: 10, fannedOutThrough: 2)
        #expect(r18 == .end(.tooSlow(queuedEventsMax: 100, queuedBytesMax: 10)))
    }

    @Test func compactionEndsOnlyWatchersThatNeedWhatIsGone() {
        var behind = Self.machine(.live(next: 5))
        var ahead = Self.machine(.live(next: 9))
        var reading = Self.machine(.catchingUp(next: 2))
        let r19 = behind.historyCompacted(through: 7)
        #expect(r19)
        let r20 = ahead.historyCompacted(through: 7)
        #expect(!r20)
        let r21 = reading.historyCompacted(through: 7)
        #expect(r21)
        let r22 = behind.take(eventsMax: 1, fannedOutThrough: 7)
        #expect(r22 == .end(.compacted(compactRevision: 7)))
        let r23 = reading.take(eventsMax: 1, fannedOutThrough: 7)
        #expect(r23 == .end(.compacted(compactRevision: 7)))
        let r24 = ahead.take(eventsMax: 1, fannedOutThrough: 7)
        #expect(r24 == .wait(seenThrough: 7))
    }

    @Test func progressReportsWhatTheWatcherHasSeenNotWhatItWaitsFor() {
        // A watch from a future revision has seen only what the store had when it opened.
        var future = Self.machine(.live(next: 100), knownThrough: 10)
        let r25 = future.take(eventsMax: 1, fannedOutThrough: 0)
        #expect(r25 == .wait(seenThrough: 10))
        let r26 = future.take(eventsMax: 1, fannedOutThrough: 12)
        #expect(r26 == .wait(seenThrough: 12))
        let r27 = future.offer([Self.event(50)][...])
        #expect(!r27, "below its start: not delivered")
    }

    @Test func queuedEventsAreDeliveredBeforeTheEndOfAClosedWatch() {
        var machine = Self.machine(.live(next: 1))
        let r28 = machine.offer([Self.event(1)][...])
        #expect(r28)
        let r29 = machine.close()
        #expect(r29)
        let r30 = machine.take(eventsMax: 10, fannedOutThrough: 1)
        #expect(Self.revisions(r30) == [1])
        let r31 = machine.take(eventsMax: 10, fannedOutThrough: 1)
        #expect(r31 == .end(.closed))
    }
}
