import Synchronization

@testable import WRaftServer

/// A clock that moves only when a test says so: `advance(by:)` walks time forward to each
/// sleeper's deadline in turn, earliest first (ties in the order they went to sleep), and wakes
/// it. A runtime on this clock ticks exactly as often as the test advances it, so "ten election
/// timeouts pass" takes no real time and does not depend on how loaded the machine is.
///
/// It starts at the real now, so deadlines written on the real clock (the tests' `deadline()`)
/// stay in the future until the test advances past them.
final class ManualClock: RuntimeClock, Sendable {
    private struct Sleeper {
        let order: UInt64
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: ContinuousClock.Instant
        var sleepers: [UInt64: Sleeper] = [:]
        var nextOrder: UInt64 = 0
        /// Counts every sleep that registered, so that `advance` can tell a woken loop went back
        /// to sleep (its step is done).
        var registrations: UInt64 = 0
    }

    private let state: Mutex<State>

    /// How long (real time) `advance` waits for a woken sleeper to go back to sleep before it
    /// moves on: a woken task that ends instead (a retry that succeeded) must not hang the test.
    let settleTimeout: Duration

    init(start: ContinuousClock.Instant = .now, settleTimeout: Duration = .seconds(1)) {
        state = Mutex(State(now: start))
        self.settleTimeout = settleTimeout
    }

    var now: ContinuousClock.Instant { state.withLock { $0.now } }

    /// How many tasks sleep on this clock now.
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: ContinuousClock.Instant) async throws {
        let order = state.withLock { state in
            defer { state.nextOrder += 1 }
            return state.nextOrder
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Decision { case wait, due, cancelled }
                // Decided under the lock, as the cancellation handler is: a sleep cancelled before
                // it registered sees the task's flag here; one cancelled after is found there.
                let decision = state.withLock { state -> Decision in
                    if Task.isCancelled { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers[order] = Sleeper(order: order, deadline: deadline, continuation: continuation)
                    state.registrations += 1
                    return .wait
                }
                switch decision {
                case .wait: break
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: order) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward by `duration`, stopping at each sleeper's deadline on the way: wakes
    /// the sleepers due there, waits (bounded, real time) until each went back to sleep, and
    /// goes on. Time never jumps past a deadline that a woken loop sets while advancing.
    func advance(by duration: Duration) async {
        precondition(duration >= .zero, "ManualClock: time never goes backwards")
        let target = now + duration
        while true {
            let step = state.withLock { state -> (woken: [Sleeper], registrations: UInt64)? in
                guard let earliest = state.sleepers.values.map(\.deadline).min(), earliest <= target else {
                    state.now = max(state.now, target)
                    return nil
                }
                state.now = max(state.now, earliest)
                let due = state.sleepers.values.filter { $0.deadline <= earliest }.sorted { $0.order < $1.order }
                for sleeper in due { state.sleepers[sleeper.order] = nil }
                return (due, state.registrations)
            }
            guard let step else { return }
            for sleeper in step.woken { sleeper.continuation.resume() }
            await settle(until: step.registrations + UInt64(step.woken.count))
        }
    }

    /// Waits until `registrations` sleeps have registered in all, or `settleTimeout` passed.
    private func settle(until registrations: UInt64) async {
        let giveUp = ContinuousClock.now + settleTimeout
        var spins = 0
        while state.withLock({ $0.registrations }) < registrations, ContinuousClock.now < giveUp {
            spins += 1
            // Yield first (the woken task is usually one hop away), then back off so that a
            // loaded machine is not kept busy by the wait itself.
            if spins < 50 {
                await Task.yield()
            } else {
                try? await Task.sleep(for: .microseconds(200))
            }
        }
    }
}
