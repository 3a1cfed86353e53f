import Foundation
import Testing

import Linearizability
import WRaftSupport

private let checker = LinearizabilityChecker(limits: CheckLimits(timePerKeyMs: nil))

private func verdict(_ history: HistoryBuilder) -> KeyVerdict {
    checker.check(key: history.key, history.operations)
}

private func failureWindow(_ history: HistoryBuilder) -> FailureWindow? {
    if case .notLinearizable(let window) = verdict(history) { return window }
    return nil
}

@Suite struct LinearizableHistoryTests {
    @Test func emptyAndSequentialHistories() {
        #expect(verdict(HistoryBuilder()) == .linearizable)
        var history = HistoryBuilder()
        history.read(nil, 0, 1)
        history.write("a", 2, 3)
        history.read("a", 4, 5)
        history.cas("a", "b", 6, 7)
        history.cas("a", "c", 8, 9, .compareFailed)
        history.read("b", 10, 11)
        history.write(nil, 12, 13)
        history.read(nil, 14, 15)
        #expect(verdict(history) == .linearizable)
    }

    /// Overlapping writes may take effect in either order, and overlapping reads may see either.
    @Test func concurrentWritesAndReads() {
        var history = HistoryBuilder()
        history.write("a", 0, 10, p: 1)
        history.write("b", 1, 9, p: 2)
        history.read("a", 2, 12, p: 3)
        history.read("b", 11, 13, p: 4)  // b took effect after a ...
        history.read("b", 14, 15, p: 3)
        #expect(verdict(history) == .linearizable)

        var other = HistoryBuilder()
        other.write("a", 0, 10, p: 1)
        other.read("b", 3, 4, p: 3)  // ... or b first, seen mid-flight
        other.write("b", 1, 9, p: 2)
        other.read("a", 11, 12, p: 3)
        #expect(verdict(other) == .linearizable)
    }

    @Test func readConcurrentWithWriteMaySeeOldOrNew() {
        for seen in [nil, "x"] as [String?] {
            var history = HistoryBuilder()
            history.write("x", 0, 10, p: 1)
            history.read(seen, 5, 6, p: 2)
            #expect(verdict(history) == .linearizable)
        }
    }

    /// Operations that touch at an instant are concurrent: that never flags a correct store.
    @Test func touchingOperationsCountAsConcurrent() {
        var history = HistoryBuilder()
        history.write("a", 0, 5)
        history.read(nil, 5, 6, p: 1)
        #expect(verdict(history) == .linearizable)
    }

    @Test func unknownWriteThatTookEffect() {
        var history = HistoryBuilder()
        history.write("a", 0, nil, p: 1, .unknown)
        history.read("a", 100, 101, p: 2)
        history.read("a", 200, 201, p: 2)
        #expect(verdict(history) == .linearizable)
    }

    @Test func unknownWriteThatNeverTookEffect() {
        var history = HistoryBuilder()
        history.write("a", 0, nil, p: 1, .unknown)
        history.read(nil, 100, 101, p: 2)
        history.write("b", 110, 120, p: 2)
        history.read("b", 200, 201, p: 2)
        #expect(verdict(history) == .linearizable)
    }

    /// An unknown write may take effect long after it was invoked, even after later writes.
    @Test func unknownWriteTakingEffectLate() {
        var history = HistoryBuilder()
        history.write("a", 0, nil, p: 1, .unknown)
        history.read(nil, 10, 11, p: 2)
        history.write("b", 20, 21, p: 2)
        history.read("b", 30, 31, p: 2)
        history.read("a", 40, 41, p: 2)
        #expect(verdict(history) == .linearizable)
    }

    @Test func unknownCasEitherWay() {
        var tookEffect = HistoryBuilder()
        tookEffect.write("a", 0, 1)
        tookEffect.cas("a", "b", 2, nil, p: 1, .unknown)
        tookEffect.read("b", 10, 11, p: 2)
        #expect(verdict(tookEffect) == .linearizable)

        var never = HistoryBuilder()
        never.write("a", 0, 1)
        never.cas("a", "b", 2, nil, p: 1, .unknown)
        never.read("a", 10, 11, p: 2)
        #expect(verdict(never) == .linearizable)
    }

    @Test func failedAndUnknownReadsAreIgnored() {
        var history = HistoryBuilder()
        history.write("a", 0, 1)
        history.write("zzz", 2, 3, p: 1, .failed)
        history.read("zzz", 4, nil, p: 2, .unknown)
        history.read("a", 5, 6)
        #expect(verdict(history) == .linearizable)
    }

    @Test func keysAreCheckedIndependently() {
        var first = HistoryBuilder()
        first.key = "x"
        first.write("1", 0, 1)
        first.read("1", 2, 3)
        var second = HistoryBuilder()
        second.key = "y"
        second.read(nil, 0, 1)
        second.write("2", 2, 3)
        let result = checker.check(second.operations + first.operations)
        #expect(result.isLinearizable)
        #expect(result.verdicts.map(\.key) == ["x", "y"])
    }
}

@Suite struct BrokenHistoryTests {
    @Test func staleReadAfterCompletedWrite() throws {
        var history = HistoryBuilder()
        history.write("1", 0, 10, p: 1)
        history.write("2", 20, 30, p: 1)
        history.read("1", 40, 50, p: 2)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 3)
        // The first write is not needed to show the problem.
        #expect(window.operations.map(\.id) == [2, 3])
        #expect(window.startsFromAnyValue)
    }

    @Test func readOfAbsentAfterAcknowledgedWrite() throws {
        var history = HistoryBuilder()
        history.read(nil, 0, 1, p: 2)
        history.write("a", 2, 3, p: 1)
        history.read(nil, 4, 5, p: 2)
        history.read("a", 6, 7, p: 3)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 3)
        #expect(window.operations.map(\.id) == [2, 3])
    }

    /// An acknowledged write vanishes: later reads see the value from before it.
    @Test func lostAcknowledgedWrite() throws {
        var history = HistoryBuilder()
        history.write("a", 0, 5, p: 1)
        history.read("a", 6, 7, p: 2)
        history.write("b", 10, 20, p: 1)
        history.read("b", 21, 22, p: 3)
        history.read("a", 30, 31, p: 2)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 5)
        #expect(window.operations.map(\.id).contains(5))
        #expect(window.operations.count <= 3)
    }

    @Test func casSucceededOnWrongValue() throws {
        var history = HistoryBuilder()
        history.write("a", 0, 1)
        history.write("b", 2, 3)
        history.cas("a", "c", 4, 5, p: 1)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 3)
        #expect(window.operations.map(\.id) == [2, 3])
    }

    @Test func casFailedWhenItShouldHaveSucceeded() throws {
        var history = HistoryBuilder()
        history.write("a", 0, 1)
        history.cas("a", "b", 2, 3, p: 1, .compareFailed)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 2)
        #expect(!window.startsFromAnyValue || window.operations.count == 2)
    }

    @Test func twoCasFromSameValueBothSucceed() throws {
        var history = HistoryBuilder()
        history.write("a", 0, 1)
        history.cas("a", "b", 2, 10, p: 1)
        history.cas("a", "c", 3, 11, p: 2)
        #expect(failureWindow(history) != nil)
    }

    /// An unknown write cannot take effect before it was invoked.
    @Test func unknownWriteSeenBeforeItsInvocation() throws {
        var history = HistoryBuilder()
        history.read("a", 0, 5, p: 2)
        history.write("a", 10, nil, p: 1, .unknown)
        let window = try #require(failureWindow(history))
        #expect(window.lastOperation.id == 1)
    }

    /// Values that no one wrote can never be read.
    @Test func readOfUnwrittenValue() {
        var history = HistoryBuilder()
        history.write("a", 0, 1)
        history.read("b", 2, 3)
        #expect(failureWindow(history) != nil)
    }

    @Test func onlyTheBrokenKeyIsFlagged() {
        var good = HistoryBuilder()
        good.key = "good"
        good.write("1", 0, 1)
        good.read("1", 2, 3)
        var bad = HistoryBuilder()
        bad.key = "bad"
        bad.write("1", 0, 1)
        bad.read(nil, 2, 3)
        let result = checker.check(good.operations + bad.operations)
        #expect(!result.isLinearizable)
        #expect(result.hasViolation)
        #expect(result.verdict(for: "good") == .linearizable)
        if case .notLinearizable = result.verdict(for: "bad") {} else { Issue.record("bad key not flagged") }
    }

    /// The window is a real witness: checked on its own (from any start value when cut), it fails.
    @Test func windowIsItselfNotLinearizable() throws {
        var history = HistoryBuilder()
        for step in 0..<30 {
            let t = UInt64(step) * 10
            history.write("v\(step)", t, t + 6, p: step % 3)
            history.read("v\(step)", t + 7, t + 9, p: 3)
        }
        history.read("v3", 400, 401, p: 4)
        let window = try #require(failureWindow(history))
        #expect(window.operations.count <= 3)
        #expect(window.lastOperation.id == history.operations.count)
        let recheck = checker.check(key: "k", window.operations)
        if window.startsFromAnyValue {
            // With the absent start the window may fail for more reasons, but it must still fail.
            #expect(recheck != .linearizable)
        } else {
            #expect(recheck == .notLinearizable(window))
        }
    }
}

@Suite struct CheckerBoundsTests {
    @Test func malformedOperationsGiveUnknown() {
        var history = HistoryBuilder()
        history.write("a", 10, 5)
        if case .unknown(let why) = verdict(history) {
            #expect(why.contains("completes before"))
        } else {
            Issue.record("expected unknown")
        }
        var missing = HistoryBuilder()
        missing.read("a", 0, nil, .ok)
        if case .unknown = verdict(missing) {} else { Issue.record("expected unknown") }
    }

    /// Concurrent unknown CAS operations whose values are read make the search space grow
    /// exponentially: the budgets turn that into `.unknown` rather than a hang.
    @Test func budgetsGiveUnknownInsteadOfHanging() {
        var history = HistoryBuilder()
        history.write("start", 0, 1)
        for process in 0..<30 {
            history.cas("start", "w\(process)", 2 + UInt64(process), nil, p: process, .unknown)
            history.write("start", 2 + UInt64(process), nil, p: 100 + process, .unknown)
        }
        for step in 0..<30 {
            history.read("w\(step)", 100 + UInt64(step) * 2, 101 + UInt64(step) * 2, p: 200)
        }
        history.read("never", 1_000, 1_001, p: 200)
        let bySteps = LinearizabilityChecker(limits: CheckLimits(stepsPerKeyMax: 10_000, timePerKeyMs: nil))
        let result = bySteps.check(key: "k", history.operations)
        guard case .unknown(let why) = result else {
            Issue.record("expected unknown, got \(result)")
            return
        }
        #expect(why.contains("steps"))
        let byMemory = LinearizabilityChecker(limits: CheckLimits(cacheEntriesMax: 1_000, timePerKeyMs: nil))
        let memoryResult = byMemory.check(key: "k", history.operations)
        guard case .unknown(let memoryWhy) = memoryResult else {
            Issue.record("expected unknown, got \(memoryResult)")
            return
        }
        #expect(memoryWhy.contains("memo cache"))
        let byTime = LinearizabilityChecker(limits: CheckLimits(timePerKeyMs: 200))
        if case .unknown(let timeWhy) = byTime.check(key: "k", history.operations) {
            #expect(timeWhy.contains("time") || timeWhy.contains("memo cache"))
        } else {
            Issue.record("expected unknown within the time budget")
        }
    }

    /// Timed-out writes whose values nobody saw are interchangeable: hundreds of them in flight
    /// do not make the search exponential, and the verdict is still exact.
    @Test func manyTimedOutWritesStayTractable() {
        var history = HistoryBuilder()
        for process in 0..<300 {
            history.write("lost\(process)", UInt64(process), nil, p: process, .unknown)
        }
        history.write("seen", 400, 401, p: 1_000)
        history.read("seen", 402, 403, p: 1_000)
        history.read(nil, 404, 405, p: 1_000)  // impossible: nothing deletes after "seen"
        let tight = LinearizabilityChecker(limits: CheckLimits(stepsPerKeyMax: 2_000_000, timePerKeyMs: nil))
        guard case .notLinearizable(let window) = tight.check(key: "k", history.operations) else {
            Issue.record("expected a violation")
            return
        }
        #expect(window.lastOperation.id == history.operations.count)
        history.operations.removeLast()
        history.read("lost7", 406, 407, p: 1_000)  // a late timed-out write took effect: fine
        #expect(tight.check(key: "k", history.operations) == .linearizable)
    }

    /// A performance sanity check (not timed): a few thousand operations from concurrent
    /// clients over a few keys, with unknown outcomes mixed in, finish with a verdict.
    @Test func thousandsOfOperationsFinish() {
        let seed: UInt64 = 42
        var generator = SplitMix64(seed: seed)
        let history = simulatedHistory(operationCount: 4_000, clients: 10, keys: 3, generator: &generator)
        let result = LinearizabilityChecker().check(history)
        #expect(result.isLinearizable, "seed=\(seed)")
        #expect(result.verdicts.count == 3)
    }

    /// Randomized: histories of a simulated linearizable register pass, and the same histories
    /// with one read corrupted to a stale value are flagged (when the stale value is impossible).
    @Test func randomHistoriesFromACorrectRegisterPass() {
        let count = ProcessInfo.processInfo.environment["WRAFT_TEST_SEEDS"].flatMap { Int($0) } ?? 20
        for seed in 1...UInt64(max(count, 1)) {
            var generator = SplitMix64(seed: seed)
            let history = simulatedHistory(operationCount: 300, clients: 5, keys: 2, generator: &generator)
            let result = checker.check(history)
            #expect(result.isLinearizable, "seed=\(seed)")
        }
    }

    /// Randomized: one read in a large correct history is made stale (it returns a value that
    /// was definitely overwritten before it began), and the checker must flag that key.
    @Test func randomStaleReadsAreFlagged() {
        let count = ProcessInfo.processInfo.environment["WRAFT_TEST_SEEDS"].flatMap { Int($0) } ?? 8
        var flagged = 0
        for seed in 1...UInt64(max(count, 1)) {
            var generator = SplitMix64(seed: seed)
            var history = simulatedHistory(operationCount: 600, clients: 6, keys: 2, generator: &generator)
            guard let (readIndex, staleValue) = staleReadCandidate(in: history, generator: &generator) else { continue }
            history[readIndex].readValue = staleValue
            let verdict = checker.check(key: history[readIndex].key, history.filter { $0.key == history[readIndex].key })
            guard case .notLinearizable(let window) = verdict else {
                Issue.record("seed=\(seed): stale read \(history[readIndex].id) not flagged: \(verdict)")
                continue
            }
            flagged += 1
            #expect(window.lastOperation.id == history[readIndex].id, "seed=\(seed)")
            #expect(window.operations.contains(history[readIndex]), "seed=\(seed)")
        }
        #expect(flagged > 0)
    }
}

/// A completed read and a value it cannot see: written by a completed write W, overwritten by
/// a completed write W2 that began after W ended, both before the read began.
func staleReadCandidate(in history: [HistoryOperation], generator: inout SplitMix64) -> (Int, String)? {
    let reads = history.indices.filter { history[$0].kind == .read && history[$0].outcome == .ok }
    for readIndex in reads.shuffled(using: &generator) {
        let read = history[readIndex]
        let writes = history.filter {
            $0.key == read.key && $0.kind == .write && $0.outcome == .ok && ($0.completeNs ?? .max) < read.invokeNs
        }
        for old in writes {
            let overwritten = writes.contains { $0.invokeNs > (old.completeNs ?? .max) }
            if overwritten, let value = old.value, value != read.readValue { return (readIndex, value) }
        }
    }
    return nil
}

/// Simulates clients against a correct register: each operation takes effect at a random
/// instant inside its interval; some outcomes are hidden (unknown), some reads return 404.
func simulatedHistory(operationCount: Int, clients: Int, keys: Int, generator: inout SplitMix64) -> [HistoryOperation] {
    struct Pending {
        var operation: HistoryOperation
        var effectNs: UInt64
    }
    var values: [String: String] = [:]
    var freeAtNs = Array(repeating: UInt64(0), count: clients)
    var planned: [Pending] = []
    var nextValue = 0
    for id in 1...operationCount {
        let process = Int.random(in: 0..<clients, using: &generator)
        let invokeNs = freeAtNs[process] + UInt64.random(in: 0...2_000_000, using: &generator)
        let durationNs = UInt64.random(in: 100_000...8_000_000, using: &generator)
        let effectNs = invokeNs + UInt64.random(in: 0...durationNs, using: &generator)
        freeAtNs[process] = invokeNs + durationNs + 1
        let key = "key\(Int.random(in: 0..<keys, using: &generator))"
        let operation: HistoryOperation
        switch Int.random(in: 0..<3, using: &generator) {
        case 0:
            operation = .read(id: id, process: process, key: key, invokeNs: invokeNs, completeNs: invokeNs + durationNs, readValue: nil)
        case 1:
            nextValue += 1
            operation = .write(id: id, process: process, key: key, value: "v\(nextValue)", invokeNs: invokeNs, completeNs: invokeNs + durationNs)
        default:
            nextValue += 1
            operation = .cas(
                id: id, process: process, key: key, expected: "v\(Int.random(in: max(1, nextValue - 5)...nextValue, using: &generator))",
                value: "v\(nextValue)", invokeNs: invokeNs, completeNs: invokeNs + durationNs)
        }
        planned.append(Pending(operation: operation, effectNs: effectNs))
    }
    // Apply in effect order to fill in what each operation observed.
    var history: [HistoryOperation] = []
    for var pending in planned.sorted(by: { $0.effectNs < $1.effectNs }) {
        let key = pending.operation.key
        let hidesOutcome = Int.random(in: 0..<15, using: &generator) == 0
        switch pending.operation.kind {
        case .read:
            pending.operation.readValue = values[key]
        case .write:
            values[key] = pending.operation.value
        case .cas:
            if values[key] == pending.operation.expected {
                values[key] = pending.operation.value
            } else {
                pending.operation.outcome = .compareFailed
            }
        }
        if hidesOutcome {
            pending.operation.outcome = .unknown
            pending.operation.completeNs = nil
        }
        history.append(pending.operation)
    }
    return history.sorted { $0.id < $1.id }
}
