import RaftCore

/// The leader's measure of each peer's round-trip time: from a heartbeat handed to the transport
/// to that peer's next heartbeat response arriving. It covers the network both ways, both
/// transports' queues and the follower's handling of the heartbeat (heartbeats carry no entries,
/// so no fsync of theirs is waited for; an unrelated one in flight on the follower can be).
///
/// Heartbeats carry no id to match a response to, so one heartbeat per peer is timed at a time:
/// the first sent after the last answer. A heartbeat lost on the way makes the next answer look
/// late by the heartbeat interval at most a few times: a timed heartbeat older than `staleAfter`
/// is forgotten (and the next one timed), so an unreachable peer's backlog never becomes a sample.
struct PeerRoundTrips {
    /// At most this many peers are timed at once (the map grows with the membership).
    static let peersMax = 256

    /// A timed heartbeat older than this is taken as lost: it yields no sample.
    let staleAfter: Duration
    /// Invariant: at most `peersMax` entries.
    private(set) var timedSince: [NodeID: ContinuousClock.Instant] = [:]

    init(staleAfter: Duration) {
        precondition(staleAfter > .zero, "PeerRoundTrips: staleAfter is positive")
        self.staleAfter = staleAfter
    }

    /// A heartbeat to `peer` left at `now`: time it unless one younger than `staleAfter` is
    /// already timed.
    mutating func heartbeatSent(to peer: NodeID, at now: ContinuousClock.Instant) {
        if let since = timedSince[peer], now - since < staleAfter { return }
        guard timedSince[peer] != nil || timedSince.count < Self.peersMax else { return }
        timedSince[peer] = now
    }

    /// A heartbeat response from `peer` arrived at `now`: the round trip of the timed heartbeat,
    /// if one is timed and not stale.
    mutating func responseReceived(from peer: NodeID, at now: ContinuousClock.Instant) -> Duration? {
        guard let since = timedSince.removeValue(forKey: peer) else { return nil }
        let elapsed = now - since
        return elapsed < staleAfter ? elapsed : nil
    }

    /// Forgets every timed heartbeat (this node stopped leading: responses to its old term's
    /// heartbeats are no longer its to measure).
    mutating func reset() {
        timedSince = [:]
    }
}
