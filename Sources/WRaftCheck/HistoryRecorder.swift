import Linearizability
import Synchronization
import WRaftSupport

/// Records operations as concurrent clients invoke and complete them, with times from one
/// monotonic clock started with the run. Safe to share between tasks.
public final class HistoryRecorder: Sendable {
    private struct State {
        var operations: [HistoryOperation] = []
    }

    private let state = Mutex(State())
    private let start: ContinuousClock.Instant

    public init(start: ContinuousClock.Instant = .now) {
        self.start = start
    }

    /// Nanoseconds since the recorder's start.
    public var nowNs: UInt64 {
        // A negative duration (never expected from a monotonic clock) reads as 0.
        UInt64(clamping: (ContinuousClock.now - start).inNanoseconds)
    }

    /// Records the invocation of an operation now; returns its id for `complete`.
    public func invoke(
        process: Int, key: String, kind: HistoryOperation.Kind, value: String? = nil, expected: String? = nil
    ) -> Int {
        let invokeNs = nowNs
        return state.withLock { state in
            let id = state.operations.count + 1
            state.operations.append(
                HistoryOperation(
                    id: id, process: process, key: key, kind: kind, value: value, expected: expected, invokeNs: invokeNs,
                    completeNs: nil, outcome: .unknown))
            return id
        }
    }

    /// Records the completion of operation `id` now, with its outcome (and a read's value).
    public func complete(_ id: Int, outcome: HistoryOperation.Outcome, readValue: String? = nil) {
        let completeNs = nowNs
        state.withLock { state in
            let position = id - 1
            precondition(state.operations.indices.contains(position), "HistoryRecorder: completes an invoked operation")
            precondition(state.operations[position].completeNs == nil, "HistoryRecorder: an operation completes once")
            state.operations[position].completeNs = completeNs
            state.operations[position].outcome = outcome
            state.operations[position].readValue = readValue
        }
    }

    /// Every operation so far, in invocation order (incomplete ones as unknown).
    public var operations: [HistoryOperation] {
        state.withLock { $0.operations }
    }

    public var count: Int { state.withLock { $0.operations.count } }
}
