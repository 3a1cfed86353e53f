import RaftCore

/// How unreliable the simulated network is. Reordering falls out of `delayTicks`: two messages
/// on one link with different delays arrive in the other order.
public struct NetworkFaults: Sendable, Equatable {
    /// Each message is lost with this probability.
    public var dropProbability: Double
    /// Each message that is not lost is delivered twice with this probability.
    public var duplicateProbability: Double
    /// Each message takes a uniformly drawn number of ticks in this range to arrive.
    public var delayTicks: ClosedRange<Int>

    public init(dropProbability: Double = 0, duplicateProbability: Double = 0, delayTicks: ClosedRange<Int> = 1...1) {
        precondition(delayTicks.lowerBound >= 0, "NetworkFaults: delays are not negative")
        self.dropProbability = dropProbability
        self.duplicateProbability = duplicateProbability
        self.delayTicks = delayTicks
    }

    /// Every message arrives once, one tick after it is sent, in order.
    public static let reliable = NetworkFaults()
    /// Loses, duplicates and reorders a fair share of messages.
    public static let unreliable = NetworkFaults(dropProbability: 0.1, duplicateProbability: 0.05, delayTicks: 1...8)
}

/// A message on its way, with the snapshot bytes that travel beside an `installSnapshot`.
struct Envelope {
    var message: Message
    var snapshotBytes: [UInt8]?
    /// Only the first copy of a duplicated snapshot message reports the transfer's outcome.
    var reportsSnapshotOutcome: Bool
}

/// The simulated network: per-message loss, duplication and delay, and directed links that can be
/// cut (partitions of any shape, asymmetric ones included).
struct SimulatedNetwork {
    var faults: NetworkFaults = .reliable
    /// Directed links that drop everything: (from, to).
    private(set) var blockedLinks: Set<Link> = []
    /// Messages in flight, bucketed by the tick they arrive at. Within a bucket, send order.
    private var inFlight: [UInt64: [Envelope]] = [:]
    private(set) var inFlightCount = 0

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    func isBlocked(from: NodeID, to: NodeID) -> Bool {
        !blockedLinks.isEmpty && blockedLinks.contains(Link(from: from, to: to))
    }

    mutating func block(from: NodeID, to: NodeID) { blockedLinks.insert(Link(from: from, to: to)) }
    mutating func unblock(from: NodeID, to: NodeID) { blockedLinks.remove(Link(from: from, to: to)) }
    mutating func unblockAll() { blockedLinks.removeAll() }

    /// Queues `envelope` to arrive at `time`.
    mutating func enqueue(_ envelope: Envelope, arrivingAt time: UInt64) {
        inFlight[time, default: []].append(envelope)
        inFlightCount += 1
    }

    /// Removes and returns everything that arrives at `time`.
    mutating func takeArrivals(at time: UInt64) -> [Envelope] {
        guard let arrivals = inFlight.removeValue(forKey: time) else { return [] }
        inFlightCount -= arrivals.count
        return arrivals
    }

    /// Drops every message in flight (used by `Simulation.flushNetwork`).
    mutating func removeAll() -> [Envelope] {
        let all = inFlight.keys.sorted().flatMap { inFlight[$0] ?? [] }
        inFlight.removeAll()
        inFlightCount = 0
        return all
    }
}
