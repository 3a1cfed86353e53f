import WRaftSupport

/// Exponential backoff with jitter: attempt `n` waits a random time in `[d/2, d]` where
/// `d = min(initial * 2^n, max)` ("equal jitter", so peers that lost a node together do not
/// reconnect in lockstep, yet nobody waits less than half the nominal delay).
struct Backoff: Sendable, Equatable {
    var initial: Duration
    var max: Duration

    /// The nominal (un-jittered) delay before retry number `attempt` (0-based).
    func nominalDelay(attempt: Int) -> Duration {
        var delay = initial
        var doublings = 0
        while doublings < attempt && delay < max {
            delay *= 2
            doublings += 1
        }
        return min(delay, max)
    }

    /// The delay before retry number `attempt`, jittered with `generator`.
    func delay(attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let nominal = nominalDelay(attempt: attempt)
        let nominalNanoseconds = nominal.inNanoseconds
        let fraction = Double.random(in: 0.5...1.0, using: &generator)
        return .nanoseconds(Int64(Double(nominalNanoseconds) * fraction))
    }
}

/// The life of one peer's outbound connection, as a pure state machine: the peer's channel code
/// feeds it events and performs the actions it returns (DESIGN rule 7). It never touches a
/// socket or a clock.
///
/// Connections are made lazily, on the first queued message. Every connection attempt gets a
/// new `epoch`; events carrying an older epoch are stale (from a superseded attempt) and ignored.
struct ReconnectStateMachine {
    enum State: Equatable {
        /// No connection and none wanted yet.
        case idle
        /// A connection attempt (number `attempt` since the last stable connection) is under way.
        case connecting(attempt: Int)
        /// Attempt number `attempt` connected.
        case connected(attempt: Int)
        /// The last attempt failed; a retry is scheduled.
        case waitingToRetry(attempt: Int)
        case shutDown
    }

    /// What to do after the state changed.
    enum Action: Equatable {
        case none
        /// Open a connection, tagging its events with `epoch`.
        case connect(epoch: UInt64)
        /// Start a timer; when it fires, call `retryTimerFired(epoch:)`.
        case scheduleRetry(after: Duration, epoch: UInt64)
        /// The connection is up: write the outbox.
        case startWriting
        /// The connection is no longer wanted (it completed after shutdown or went stale): close it.
        case close
    }

    /// Whether a log line should announce a change of reachability.
    enum Announcement: Equatable {
        case none
        case up
        /// The peer became unreachable: an established connection was lost, or the first
        /// attempt after being reachable failed. Further failures are not announced.
        case down
    }

    private(set) var state: State = .idle
    /// The attempt number to use when leaving `idle`: a connection that died young leaves the
    /// backoff where it was, so a peer that accepts and at once closes is not hammered.
    private var attemptAfterIdle = 0
    private(set) var epoch: UInt64 = 0
    /// True from an announced `down` until the next successful connection.
    private(set) var isDown = false
    let backoff: Backoff

    init(backoff: Backoff) {
        self.backoff = backoff
    }

    /// A message was queued for the peer.
    mutating func messageQueued() -> Action {
        guard state == .idle else { return .none }
        return startConnecting(attempt: attemptAfterIdle)
    }

    /// The attempt tagged `epoch` connected.
    mutating func connectSucceeded(epoch: UInt64) -> (Action, Announcement) {
        guard epoch == self.epoch, case .connecting(let attempt) = state else { return (.close, .none) }
        state = .connected(attempt: attempt)
        isDown = false
        return (.startWriting, .up)
    }

    /// The attempt tagged `epoch` failed.
    mutating func connectFailed(epoch: UInt64, using generator: inout some RandomNumberGenerator) -> (Action, Announcement) {
        guard epoch == self.epoch, case .connecting(let attempt) = state else { return (.none, .none) }
        return scheduleRetry(attempt: attempt, using: &generator)
    }

    /// The established connection tagged `epoch` closed. `wasStable` says it lived long enough
    /// to count as a success (the backoff starts over); otherwise the backoff keeps growing.
    /// With messages still queued a reconnect is scheduled; otherwise the peer goes idle until
    /// the next message.
    mutating func connectionClosed(
        epoch: UInt64, wasStable: Bool, hasQueuedMessages: Bool, using generator: inout some RandomNumberGenerator
    ) -> (Action, Announcement) {
        guard epoch == self.epoch, case .connected(let attempt) = state else { return (.none, .none) }
        let announcement: Announcement = isDown ? .none : .down
        isDown = true
        // A young connection's death counts as one more failure of attempt `attempt`.
        let failedAttempt = wasStable ? 0 : attempt
        guard hasQueuedMessages else {
            state = .idle
            attemptAfterIdle = wasStable ? 0 : attempt + 1
            return (.none, announcement)
        }
        // Even after a stable connection the retry waits a little: reconnecting in a tight loop
        // helps nobody when the peer just went away.
        let (action, _) = scheduleRetry(attempt: failedAttempt, using: &generator)
        return (action, announcement)
    }

    /// The retry timer tagged `epoch` fired.
    mutating func retryTimerFired(epoch: UInt64) -> Action {
        guard epoch == self.epoch, case .waitingToRetry(let attempt) = state else { return .none }
        return startConnecting(attempt: attempt)
    }

    /// The peer is removed or the transport stops: nothing will be attempted again.
    mutating func shutDown() -> Action {
        var wasConnected = false
        if case .connected = state { wasConnected = true }
        state = .shutDown
        epoch &+= 1
        return wasConnected ? .close : .none
    }

    private mutating func startConnecting(attempt: Int) -> Action {
        epoch &+= 1
        state = .connecting(attempt: attempt)
        return .connect(epoch: epoch)
    }

    private mutating func scheduleRetry(attempt: Int, using generator: inout some RandomNumberGenerator) -> (Action, Announcement) {
        let announcement: Announcement = isDown ? .none : .down
        isDown = true
        epoch &+= 1
        state = .waitingToRetry(attempt: attempt + 1)
        return (.scheduleRetry(after: backoff.delay(attempt: attempt, using: &generator), epoch: epoch), announcement)
    }
}
