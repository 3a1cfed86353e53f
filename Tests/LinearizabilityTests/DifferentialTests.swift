import Foundation
import Testing

import Linearizability
import WRaftSupport

/// Every linearization tried by brute force: the plainest reading of the model, to check the
/// real search (and all its reductions) against on small histories.
struct BruteForceChecker {
    let operations: [HistoryOperation]

    func isLinearizable() -> Bool {
        let relevant = operations.filter { operation in
            operation.outcome != .failed && !(operation.kind == .read && operation.outcome == .unknown)
        }
        var placed = Array(repeating: false, count: relevant.count)
        return search(relevant, &placed, state: nil)
    }

    private func isMandatory(_ operation: HistoryOperation) -> Bool {
        operation.outcome == .ok || operation.outcome == .compareFailed
    }

    private func search(_ operations: [HistoryOperation], _ placed: inout [Bool], state: String?) -> Bool {
        if operations.indices.allSatisfy({ placed[$0] || !isMandatory(operations[$0]) }) { return true }
        for candidate in operations.indices where !placed[candidate] {
            // Every unplaced operation that completed before this one began must come first.
            let blocked = operations.indices.contains { other in
                !placed[other] && other != candidate && isMandatory(operations[other])
                    && (operations[other].completeNs ?? .max) < operations[candidate].invokeNs
            }
            if blocked { continue }
            guard let next = apply(operations[candidate], to: state) else { continue }
            placed[candidate] = true
            if search(operations, &placed, state: next) { return true }
            placed[candidate] = false
        }
        return false
    }

    /// The state after the operation, or nil when it cannot take effect in `state`.
    private func apply(_ operation: HistoryOperation, to state: String?) -> String?? {
        switch (operation.kind, operation.outcome) {
        case (.read, _): return operation.readValue == state ? .some(state) : nil
        case (.write, _): return .some(operation.value)
        case (.cas, .compareFailed): return state == operation.expected ? nil : .some(state)
        case (.cas, _): return state == operation.expected ? .some(operation.value) : nil
        }
    }
}

@Suite struct DifferentialTests {
    /// Random small histories (values mostly written once, every outcome, overlapping
    /// intervals, touching endpoints): the checker agrees with brute force on every one, and
    /// each failing window it reports is itself not linearizable.
    @Test func checkerAgreesWithBruteForce() {
        let count = ProcessInfo.processInfo.environment["WRAFT_TEST_SEEDS"].flatMap { Int($0) } ?? 3_000
        let checker = LinearizabilityChecker(limits: CheckLimits(timePerKeyMs: nil))
        var verdictCounts = [0, 0]
        for seed in 1...UInt64(max(count, 1)) {
            var generator = SplitMix64(seed: seed)
            let history = randomSmallHistory(generator: &generator)
            let expected = BruteForceChecker(operations: history).isLinearizable()
            let verdict = checker.check(key: "k", history)
            verdictCounts[expected ? 0 : 1] += 1
            switch verdict {
            case .linearizable:
                #expect(expected, "seed=\(seed): checker says linearizable, brute force says not\n\(HistoryFile.encode(history))")
            case .notLinearizable(let window):
                #expect(!expected, "seed=\(seed): checker says not linearizable, brute force says it is\n\(HistoryFile.encode(history))")
                if !window.startsFromAnyValue {
                    #expect(!BruteForceChecker(operations: window.operations).isLinearizable(), "seed=\(seed): window passes")
                }
            case .unknown(let why):
                Issue.record("seed=\(seed): unknown (\(why))")
            }
        }
        // Both verdicts are well represented, or the comparison proves little.
        #expect(verdictCounts[0] > count / 10 && verdictCounts[1] > count / 10, "\(verdictCounts)")
    }

    private func randomSmallHistory(generator: inout SplitMix64) -> [HistoryOperation] {
        let operationCount = Int.random(in: 1...7, using: &generator)
        let values = ["a", "b", "c", "d", "e", "f", "g"]
        var nextValue = 0
        var operations: [HistoryOperation] = []
        for id in 1...operationCount {
            // Times on a coarse grid so intervals often touch and overlap.
            let invokeNs = UInt64.random(in: 0...10, using: &generator)
            let completeNs = invokeNs + UInt64.random(in: 0...6, using: &generator)
            let outcomeRoll = Int.random(in: 0..<10, using: &generator)
            let outcome: HistoryOperation.Outcome = outcomeRoll < 6 ? .ok : (outcomeRoll < 8 ? .unknown : .failed)
            let known: UInt64? = outcome == .unknown ? nil : completeNs
            // Mostly fresh values (as checks write them), sometimes a repeated one.
            func writtenValue() -> String? {
                if Int.random(in: 0..<8, using: &generator) == 0 { return nil }
                if Int.random(in: 0..<6, using: &generator) == 0 || nextValue >= values.count {
                    return values[Int.random(in: 0..<values.count, using: &generator)]
                }
                nextValue += 1
                return values[nextValue - 1]
            }
            func seenValue() -> String? {
                let pool = [nil] + values.prefix(max(nextValue, 1)).map { Optional($0) }
                return pool[Int.random(in: 0..<pool.count, using: &generator)]
            }
            switch Int.random(in: 0..<3, using: &generator) {
            case 0:
                operations.append(
                    .read(id: id, process: id, key: "k", invokeNs: invokeNs, completeNs: known, outcome: outcome, readValue: seenValue()))
            case 1:
                operations.append(
                    .write(id: id, process: id, key: "k", value: writtenValue(), invokeNs: invokeNs, completeNs: known, outcome: outcome))
            default:
                let casOutcome: HistoryOperation.Outcome =
                    outcome == .ok && Bool.random(using: &generator) ? .compareFailed : outcome
                operations.append(
                    .cas(
                        id: id, process: id, key: "k", expected: seenValue(), value: writtenValue(), invokeNs: invokeNs,
                        completeNs: known, outcome: casOutcome))
            }
        }
        return operations
    }
}
