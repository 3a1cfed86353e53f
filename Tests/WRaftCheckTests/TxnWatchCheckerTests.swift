import Linearizability
import Testing

import WRaftCheck

/// `TxnWatchChecker` on hand-made records: a correct run passes, and each kind of broken
/// watcher or transaction history is caught (the checker must be able to fail).
@Suite struct TxnWatchCheckerTests {
    static func put(
        _ id: Int, process: Int, _ key: String, _ value: String, expected: UInt64, _ invokeNs: UInt64, _ completeNs: UInt64?,
        _ outcome: HistoryOperation.Outcome, revision: UInt64? = nil, observed: UInt64? = nil
    ) -> CASOperation {
        CASOperation(
            id: id, process: process, key: key, kind: .put, value: value, expectedModRevision: expected, invokeNs: invokeNs,
            completeNs: completeNs, outcome: outcome, revision: revision, observedModRevision: observed)
    }

    /// Six transactions on two keys: acknowledged puts, a failed compare, a delete whose answer
    /// was lost (it applied), and a put that re-creates the key.
    static let operations: [CASOperation] = [
        put(1, process: 0, "tw/a", "v1", expected: 0, 0, 10, .ok, revision: 2),
        put(2, process: 1, "tw/a", "v2", expected: 0, 5, 15, .compareFailed, revision: 2, observed: 2),
        put(3, process: 1, "tw/a", "v3", expected: 2, 20, 30, .ok, revision: 3),
        CASOperation(id: 4, process: 0, key: "tw/a", kind: .delete, value: nil, expectedModRevision: 3, invokeNs: 25, completeNs: nil, outcome: .unknown),
        put(5, process: 2, "tw/b", "w1", expected: 0, 22, 28, .ok, revision: 4),
        put(6, process: 2, "tw/a", "v4", expected: 0, 40, 50, .ok, revision: 6),
        // Answered "failed" (it did not apply) and absent from the stream: fine.
        put(7, process: 3, "tw/b", "w2", expected: 4, 41, 45, .failed),
    ]

    static let events: [WatchedEvent] = [
        WatchedEvent(revision: 2, key: "tw/a", isPut: true, value: "v1"),
        WatchedEvent(revision: 3, key: "tw/a", isPut: true, value: "v3"),
        WatchedEvent(revision: 4, key: "tw/b", isPut: true, value: "w1"),
        WatchedEvent(revision: 5, key: "tw/a", isPut: false, value: ""),
        WatchedEvent(revision: 6, key: "tw/a", isPut: true, value: "v4"),
    ]

    static func watchers(_ second: [WatchedEvent] = events, seenThrough: UInt64 = 6) -> [WatcherLog] {
        [
            WatcherLog(watcher: 0, fromRevision: 1, events: events, seenThrough: 6, connections: 1),
            WatcherLog(watcher: 1, fromRevision: 1, events: second, seenThrough: seenThrough, connections: 3),
        ]
    }

    static func check(_ operations: [CASOperation] = operations, _ watchers: [WatcherLog] = watchers()) -> TxnWatchVerdict {
        TxnWatchChecker.check(operations: operations, watchers: watchers, finalRevision: 6)
    }

    @Test func aCorrectRunPasses() {
        let verdict = Self.check()
        #expect(verdict.isPassed, "\(verdict.problems)")
        #expect(verdict.eventCount == 5 && verdict.acknowledgedCount == 4 && verdict.compareFailedCount == 1)
        #expect(verdict.unknownApplied == 1 && verdict.watcherCount == 2 && verdict.reconnects == 2)
    }

    @Test func aWatcherThatSkipsAnEventIsCaught() {
        let skipping = Self.events.filter { $0.revision != 4 }
        let verdict = Self.check(Self.operations, Self.watchers(skipping))
        #expect(!verdict.isPassed)
        #expect(verdict.problems.contains { $0.contains("watcher 1: missed 1 revision(s)") && $0.contains("first 4") }, "\(verdict.problems)")
    }

    @Test func aWatcherThatRepeatsOrReordersIsCaught() {
        var repeating = Self.events
        repeating.insert(Self.events[1], at: 2)
        let repeated = Self.check(Self.operations, Self.watchers(repeating))
        #expect(repeated.problems.contains { $0.contains("revision 3 after 3") }, "\(repeated.problems)")

        var reordered = Self.events
        reordered.swapAt(1, 2)
        let swapped = Self.check(Self.operations, Self.watchers(reordered))
        #expect(swapped.problems.contains { $0.contains("revision 3 after 4") }, "\(swapped.problems)")
    }

    @Test func aWatcherThatStopsShortOrDisagreesIsCaught() {
        let short = Self.check(Self.operations, Self.watchers(Array(Self.events.prefix(3)), seenThrough: 4))
        #expect(short.problems.contains { $0.contains("saw through revision 4, not the final 6") }, "\(short.problems)")

        var other = Self.events
        other[2].value = "forged"
        let disagreeing = Self.check(Self.operations, Self.watchers(other))
        #expect(disagreeing.problems.contains { $0.contains("watcher 1: revision 4 is put tw/b=forged") }, "\(disagreeing.problems)")
    }

    @Test func anAcknowledgedWriteMissingFromTheStreamIsCaught() {
        let lost = Array(Self.events.prefix(4))
        let verdict = TxnWatchChecker.check(
            operations: Self.operations,
            watchers: [
                WatcherLog(watcher: 0, fromRevision: 1, events: lost, seenThrough: 6, connections: 1)
            ], finalRevision: 6)
        #expect(verdict.problems.contains { $0.contains("operation 6") && $0.contains("which no watcher saw") }, "\(verdict.problems)")
    }

    @Test func anEventNoClientWroteOrAFailedOneWroteIsCaught() {
        var stray = Self.events
        stray.append(WatchedEvent(revision: 7, key: "tw/b", isPut: true, value: "nobody"))
        let strayVerdict = TxnWatchChecker.check(
            operations: Self.operations,
            watchers: [WatcherLog(watcher: 0, fromRevision: 1, events: stray, seenThrough: 7, connections: 1)], finalRevision: 7)
        #expect(strayVerdict.problems.contains { $0.contains("revision 7 (put tw/b=nobody) is no client's write") }, "\(strayVerdict.problems)")

        var failedButApplied = Self.events
        failedButApplied.append(WatchedEvent(revision: 7, key: "tw/b", isPut: true, value: "w2"))
        let failedVerdict = TxnWatchChecker.check(
            operations: Self.operations,
            watchers: [WatcherLog(watcher: 0, fromRevision: 1, events: failedButApplied, seenThrough: 7, connections: 1)],
            finalRevision: 7)
        #expect(failedVerdict.problems.contains { $0.contains("operation 7") && $0.contains("answered failed") }, "\(failedVerdict.problems)")
    }

    @Test func aBrokenCompareIsCaught() {
        // Applied although the key's mod revision was 2, not the 1 it compared.
        var operations = Self.operations
        operations[2].expectedModRevision = 1
        let applied = Self.check(operations)
        #expect(applied.problems.contains { $0.contains("operation 3") && $0.contains("mod revision before it was 2") }, "\(applied.problems)")

        // A compare that failed although the key held the expected revision.
        operations = Self.operations
        operations[1].expectedModRevision = 2
        let failed = Self.check(operations)
        #expect(failed.problems.contains { $0.contains("operation 2") && $0.contains("the expected 2") }, "\(failed.problems)")
    }

    @Test func anOrderAgainstRealTimeIsCaught() {
        // Operation 5 (revision 4) completed before operation 3 (revision 3) began.
        var operations = Self.operations
        operations[4].invokeNs = 1
        operations[4].completeNs = 4
        let verdict = Self.check(operations)
        #expect(verdict.problems.contains { $0.contains("real time: operation 5") && $0.contains("operation 3") }, "\(verdict.problems)")
    }
}
