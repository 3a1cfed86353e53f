import Testing
import WRaftSupport

@testable import RaftTransport

/// The number of seeds randomized tests run: `RAFT_TRANSPORT_SEEDS`, or a CI-sized default.
func seedCount(default defaultCount: Int) -> Int {
    guard let text = Environment.value("RAFT_TRANSPORT_SEEDS"), let count = Int(text), count > 0 else {
        return defaultCount
    }
    return count
}

enum Environment {
    static func value(_ name: String) -> String? {
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite struct BackoffTests {
    let backoff = Backoff(initial: .milliseconds(50), max: .seconds(2))

    @Test func nominalDelayDoublesUpToTheMaximum() {
        let delays = (0..<9).map { backoff.nominalDelay(attempt: $0) }
        #expect(
            delays == [
                .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1600), .seconds(2), .seconds(2), .seconds(2),
            ])
        #expect(backoff.nominalDelay(attempt: 10_000) == .seconds(2))
    }

    @Test func jitteredDelayStaysBetweenHalfAndAllOfTheNominal() {
        let seeds = seedCount(default: 200)
        for seed in 0..<UInt64(seeds) {
            var generator = SplitMix64(seed: seed)
            for attempt in 0..<10 {
                let nominal = backoff.nominalDelay(attempt: attempt)
                let delay = backoff.delay(attempt: attempt, using: &generator)
                let isInRange = delay >= nominal / 2 && delay <= nominal
                #expect(isInRange, "seed=\(seed) attempt=\(attempt): \(delay) outside [\(nominal / 2), \(nominal)]")
                if !isInRange { return }
            }
        }
    }

    @Test func jitterSpreadsPeersApart() {
        var generator = SplitMix64(seed: 1)
        let delays = Set((0..<20).map { _ in backoff.delay(attempt: 3, using: &generator) })
        #expect(delays.count > 10)
    }
}

@Suite struct ReconnectStateMachineTests {
    var generator = SplitMix64(seed: 7)
    var machine = ReconnectStateMachine(backoff: Backoff(initial: .milliseconds(50), max: .seconds(2)))

    @Test mutating func connectsLazilyOnTheFirstMessageOnly() {
        #expect(machine.state == .idle)
        let firstMessage = machine.messageQueued()
        #expect(firstMessage == .connect(epoch: 1))
        #expect(machine.state == .connecting(attempt: 0))
        let secondMessage = machine.messageQueued()
        #expect(secondMessage == .none)
    }

    @Test mutating func successStartsWritingAndAnnouncesUp() {
        guard case .connect(let epoch) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        let (action, announcement) = machine.connectSucceeded(epoch: epoch)
        #expect(action == .startWriting)
        #expect(announcement == .up)
        #expect(machine.state == .connected(attempt: 0))
        let messageWhileConnected = machine.messageQueued()
        #expect(messageWhileConnected == .none)
    }

    @Test mutating func failuresBackOffExponentiallyAndAnnounceOnlyTheFirst() {
        guard case .connect(var epoch) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        var announcements: [ReconnectStateMachine.Announcement] = []
        var delays: [Duration] = []
        for attempt in 0..<6 {
            let (action, announcement) = machine.connectFailed(epoch: epoch, using: &generator)
            announcements.append(announcement)
            guard case .scheduleRetry(let delay, let retryEpoch) = action else {
                Issue.record("expected a retry after failure \(attempt)")
                return
            }
            delays.append(delay)
            #expect(machine.state == .waitingToRetry(attempt: attempt + 1))
            guard case .connect(let next) = machine.retryTimerFired(epoch: retryEpoch) else {
                Issue.record("expected the timer to reconnect")
                return
            }
            epoch = next
        }
        #expect(announcements == [.down, .none, .none, .none, .none, .none])
        for (attempt, delay) in delays.enumerated() {
            let nominal = machine.backoff.nominalDelay(attempt: attempt)
            #expect(delay >= nominal / 2 && delay <= nominal, "attempt \(attempt): \(delay)")
        }
        // Recovery is announced, and resets the backoff.
        let recovery = machine.connectSucceeded(epoch: epoch)
        #expect(recovery == (.startWriting, .up))
        #expect(!machine.isDown)
    }

    @Test mutating func aLostConnectionIsAnnouncedAndRetriedWhenMessagesWait() {
        guard case .connect(let epoch) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        _ = machine.connectSucceeded(epoch: epoch)
        let (action, announcement) = machine.connectionClosed(epoch: epoch, wasStable: true, hasQueuedMessages: true, using: &generator)
        #expect(announcement == .down)
        guard case .scheduleRetry(let delay, _) = action else {
            Issue.record("expected a retry")
            return
        }
        #expect(delay <= machine.backoff.initial)
    }

    @Test mutating func aLostConnectionWithNothingQueuedGoesIdle() {
        guard case .connect(let epoch) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        _ = machine.connectSucceeded(epoch: epoch)
        let (action, announcement) = machine.connectionClosed(epoch: epoch, wasStable: true, hasQueuedMessages: false, using: &generator)
        #expect(action == .none)
        #expect(announcement == .down)
        #expect(machine.state == .idle)
        guard case .connect(let next) = machine.messageQueued() else {
            Issue.record("expected the next message to reconnect")
            return
        }
        // The next failure is not announced again: the peer is already known to be down.
        let (_, failureAnnouncement) = machine.connectFailed(epoch: next, using: &generator)
        #expect(failureAnnouncement == .none)
    }

    @Test mutating func connectionsThatDieYoungKeepTheBackoffGrowing() {
        var nominalDelays: [Duration] = []
        for _ in 0..<4 {
            guard case .connect(let epoch) = machine.messageQueued() else {
                Issue.record("expected connect")
                return
            }
            _ = machine.connectSucceeded(epoch: epoch)
            let (action, _) = machine.connectionClosed(
                epoch: epoch, wasStable: false, hasQueuedMessages: true, using: &generator)
            guard case .scheduleRetry(let delay, let retryEpoch) = action,
                case .connect(let next) = machine.retryTimerFired(epoch: retryEpoch)
            else {
                Issue.record("expected a retry")
                return
            }
            nominalDelays.append(delay)
            _ = machine.connectSucceeded(epoch: next)
            _ = machine.connectionClosed(epoch: next, wasStable: false, hasQueuedMessages: false, using: &generator)
        }
        // Each cycle is two short-lived connections, so the delay grows from cycle to cycle.
        for (cycle, delay) in nominalDelays.enumerated() {
            let nominal = machine.backoff.nominalDelay(attempt: 2 * cycle)
            #expect(delay >= nominal / 2 && delay <= nominal, "cycle \(cycle): \(delay)")
        }
    }

    @Test mutating func staleEventsAreIgnored() {
        guard case .connect(let first) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        guard case .scheduleRetry(_, let retryEpoch) = machine.connectFailed(epoch: first, using: &generator).0 else {
            Issue.record("expected a retry")
            return
        }
        // A late success of the failed attempt must be closed, not adopted.
        let lateSuccess = machine.connectSucceeded(epoch: first)
        #expect(lateSuccess == (.close, .none))
        let lateFailure = machine.connectFailed(epoch: first, using: &generator)
        #expect(lateFailure == (.none, .none))
        let wrongTimer = machine.retryTimerFired(epoch: retryEpoch + 100)
        #expect(wrongTimer == .none)
        #expect(machine.state == .waitingToRetry(attempt: 1))
        let rightTimer = machine.retryTimerFired(epoch: retryEpoch)
        #expect(rightTimer == .connect(epoch: retryEpoch + 1))
    }

    @Test mutating func shutDownClosesAndStopsEverything() {
        guard case .connect(let epoch) = machine.messageQueued() else {
            Issue.record("expected connect")
            return
        }
        _ = machine.connectSucceeded(epoch: epoch)
        let shutDown = machine.shutDown()
        #expect(shutDown == .close)
        #expect(machine.state == .shutDown)
        let messageAfterShutDown = machine.messageQueued()
        #expect(messageAfterShutDown == .none)
        let closeAfterShutDown = machine.connectionClosed(epoch: epoch, wasStable: true, hasQueuedMessages: true, using: &generator)
        #expect(closeAfterShutDown == (.none, .none))
        let successAfterShutDown = machine.connectSucceeded(epoch: epoch)
        #expect(successAfterShutDown == (.close, .none))
    }
}
