import RaftCore
import WRaftSupport

/// Everything that shapes a simulated run besides the seed.
public struct SimulationOptions: Sendable {
    /// Founding members get ids 1...nodeCount.
    public var nodeCount = 3
    public var electionTimeoutTicks = 10
    public var electionTimeoutJitterTicks = 10
    public var heartbeatTicks = 2
    public var isPreVoteEnabled = true
    public var isCheckQuorumEnabled = true
    public var inflightMessagesMax = 8
    public var messageBytesMax = 4096
    public var uncommittedBytesMax = 1 << 20
    /// `Config.commitBroadcastDelayTicks` (the node's runtime uses 1).
    public var commitBroadcastDelayTicks = 0
    public var network: NetworkFaults = .reliable
    /// How long each Ready's write takes, in ticks (0: done before the next step, so the core sees
    /// no steps while it is outstanding).
    public var diskLatencyTicks: ClosedRange<Int> = 0...0
    /// Each node's clock runs at a rate drawn from this range, in thousandths (skew).
    public var tickRatePermille: ClosedRange<Int> = 1000...1000
    /// Nodes snapshot and compact once this many entries were applied since the last snapshot
    /// (nil: never).
    public var snapshotEveryEntries: Int?
    /// How long a node takes to serialize its own snapshot, in ticks, as the runtime does off
    /// its actor (0: at once). Meanwhile the node keeps taking Readys, a newer snapshot from the
    /// leader among them, so the pipeline must discard the older one when it is finally taken.
    public var snapshotSerializationTicks: ClosedRange<Int> = 0...0
    /// Entries kept in the core's log below a snapshot it compacts to.
    public var entriesRetainedAfterSnapshot: UInt64 = 0
    /// At each step of processing a Ready (see `CrashPoint`), a running node crashes with this
    /// probability.
    public var crashProbabilityPerStage = 0.0
    /// How many Readys (and snapshot saves) may wait behind a node's write in flight
    /// (`ReadyPipeline.queuedWorkMax`; the node's runtime uses 64). Everything queued behind
    /// a write shares the next one where the pipeline's rules allow.
    public var pipelineQueuedWorkMax = 64
    /// A client write (`Simulation.write(at:)`) not answered within this many ticks is answered
    /// by its node's `ProposalQueue`: "unknown" if it was ever handed over, else "not applied".
    public var clientWriteDeadlineTicks = 200
    /// A client write handed over and not applied within this many ticks is handed over again
    /// (the runtime's `retryInterval`: three election timeouts).
    public var clientWriteStallTicks = 30
    /// The bounds of each node's `ProposalQueue` (past them a write is refused at once).
    public var proposalQueueWritesMax = 256
    public var proposalQueueBytesMax = 1 << 20
    /// Breaks the proposal queue's rule on purpose (`ProposalQueue.DeliberateBug`), so a test can
    /// show that the checker catches a write answered "not applied" that is applied.
    public var breaksProposalRuleOnPurpose = false
    /// A node takes at most this many Readys per step, so one step stays bounded.
    public var readyRoundsPerStepMax = 16
    /// How many trace events are kept (nil: all).
    public var traceCapacity: Int? = 20_000
    /// Receives every trace line as it happens (replaying one seed).
    public var liveTrace: (@Sendable (String) -> Void)?
    /// Each core records its `RaftEvent`s, kept per node beside its Readys (`eventTimeline(of:)`).
    public var isRecordingEvents = false
    /// The most items a node's event timeline keeps (older ones are dropped first).
    public var eventTimelineItemsMax = 200_000

    public init() {}
}

/// What the client writes of a run came to.
public struct ClientWriteCounts: Sendable, Equatable {
    /// Batches or their parts the core refused as overloaded (each split step counts).
    public var overloadedRefusals = 0
    public var applied = 0
    public var notApplied = 0
    public var unknown = 0
    public var lost = 0
    public init() {}
}

/// A handle on a proposed command.
public struct Proposal: Sendable, Hashable {
    public var ticket: UInt64
    public var proposer: NodeID
}

/// What the client of a write (`Simulation.write(at:)`) was told.
public enum ClientWriteAnswer: Sendable, Equatable {
    /// Its entry was applied on the node it was sent to (the state machine's result).
    case applied
    /// Definitely not applied (503).
    case notApplied
    /// Its outcome is unknown (504, or a session that expired before a late retry applied).
    case unknown
    /// Its node crashed before answering (the client saw its connection close).
    case lost
}

/// A handle on a linearizable read request.
public struct ReadTicket: Sendable, Hashable {
    public var id: ReadRequestID
    public var node: NodeID
}

/// A deterministic cluster of `RaftNode`s, each driven through the shipped `ReadyPipeline` and
/// running the shipped `KVStore`: one seeded generator drives the network, the disks,
/// the clocks, the crashes and every node's `Config.randomSeed`, so a seed replays a whole run.
/// Safety checkers run after every step; `violations` lists what broke, `trace` says how.
///
/// Scenario tests drive it directly: `sim.partition([1], [2, 3]); sim.tick(50); sim.leader()`.
public final class Simulation {
    public let seed: UInt64
    public internal(set) var options: SimulationOptions
    public private(set) var now: UInt64 = 0
    public private(set) var trace: Trace
    var random: SimulationRandom
    var network = SimulatedNetwork()
    var checker = SafetyChecker()
    var nodes: [SimulatedNode] = []
    var nodeIndex: [NodeID: Int] = [:]
    var nextTicket: UInt64 = 1
    var proposals: [UInt64: ProposalRecord] = [:]
    var reads: [ReadRequestID: ReadRecord] = [:]
    /// How many of their own snapshots nodes discarded because a newer one became durable while
    /// it was being serialized (the race `snapshotSerializationTicks` makes reachable).
    public internal(set) var discardedSnapshots = 0
    /// How many client writes the proposal queues refused or answered, by kind (what a run reached).
    public internal(set) var clientWriteCounts = ClientWriteCounts()
    /// A cheap running hash over every event, to compare two runs for determinism.
    public private(set) var fingerprint: UInt64 = 0

    struct ProposalRecord {
        var proposer: NodeID
        var proposedAt: UInt64
        /// The history index it was first applied at.
        var appliedIndex: LogIndex?
        /// The proposer applied it: its client was answered.
        var isAcknowledged = false
        /// The state machine executed it (a copy applied with a result other than "session
        /// expired"): its effect is in the history.
        var isExecuted = false
        /// What its client was told, for a client write (`write(at:)`); nil while it waits.
        var answer: ClientWriteAnswer?
    }

    struct ReadRecord {
        var node: NodeID
        /// Everything committed anywhere when the read was asked must be visible to it.
        var requiredIndex: LogIndex
        var readIndex: LogIndex?
    }

    /// A cluster of `options.nodeCount` founding members (ids 1...n), bootstrapped with the same
    /// first entry, running.
    public init(seed: UInt64, options: SimulationOptions = SimulationOptions()) {
        self.seed = seed
        self.options = options
        random = SimulationRandom(seed: seed)
        trace = Trace(capacity: options.traceCapacity)
        network.faults = options.network
        let founders = Set((1...UInt64(max(options.nodeCount, 1))).map { NodeID($0) })
        let bootstrap = RaftNode.bootstrapState(membership: Membership(voters: founders), context: [])
        for id in founders.sorted() {
            spawn(id, durable: DurableState(bootstrap))
        }
    }

    // MARK: Queries

    /// Every node ever started, in id order (crashed and retired ones included).
    public var nodeIDs: [NodeID] { nodes.map(\.id) }
    /// Nodes whose core is running.
    public var runningNodeIDs: [NodeID] { nodes.filter(\.isRunning).map(\.id) }
    public var violations: [SafetyViolation] { checker.violations }
    public var isSafe: Bool { checker.violations.isEmpty }

    /// The running leader of the highest term (a stale leader of an older term may still think
    /// it leads; see `leaders()`).
    public func leader() -> NodeID? {
        leaders().max { ($0.term, $0.id) < ($1.term, $1.id) }?.id
    }

    /// Every running node that thinks it is leader, with its term.
    public func leaders() -> [(id: NodeID, term: Term)] {
        nodes.compactMap { node in
            guard let status = node.core?.status, status.role == .leader else { return nil }
            return (node.id, status.term)
        }
    }

    public func status(of id: NodeID) -> Status? { node(id)?.core?.status }
    /// The node's recorded events and the Readys it took, in the order they happened, across
    /// its crashes (empty unless `options.isRecordingEvents`).
    public func eventTimeline(of id: NodeID) -> [EventTimelineItem] { node(id)?.eventTimeline ?? [] }
    public func isRunning(_ id: NodeID) -> Bool { node(id)?.isRunning ?? false }
    /// The index the node's state machine has applied (zero while crashed).
    public func appliedIndex(of id: NodeID) -> LogIndex { node(id)?.machine.appliedIndex ?? .zero }
    public func stateMachine(of id: NodeID) -> CheckedStateMachine? { node(id)?.machine }
    public func durableState(of id: NodeID) -> DurableState? { node(id)?.durable }
    /// The highest index any node knew committed.
    public var committedIndexMax: LogIndex { checker.committedMax }
    /// The highest index applied anywhere (the length of the one history).
    public var historyLastIndex: LogIndex { checker.historyLastIndex }
    public var messagesInFlight: Int { network.inFlightCount }

    /// The node's log from `from` (for tests; empty while crashed).
    public func log(of id: NodeID, from: LogIndex = 1, limit: Int = 1 << 20) -> [Entry] {
        node(id)?.core?.entries(from: from, limit: limit) ?? []
    }

    /// Where the proposal was first applied, if it was.
    public func appliedIndex(of proposal: Proposal) -> LogIndex? { proposals[proposal.ticket]?.appliedIndex }
    /// The proposer applied the proposal: a client would have had its answer.
    public func isAcknowledged(_ proposal: Proposal) -> Bool { proposals[proposal.ticket]?.isAcknowledged ?? false }
    /// The proposal is applied on `node`.
    public func isApplied(_ proposal: Proposal, on id: NodeID) -> Bool {
        guard let index = appliedIndex(of: proposal) else { return false }
        return appliedIndex(of: id) >= index
    }
    /// The read index the core granted the read, once it did.
    public func readIndex(of ticket: ReadTicket) -> LogIndex? { reads[ticket.id]?.readIndex }

    /// The highest index of any acknowledged proposal.
    public var acknowledgedIndexMax: LogIndex {
        proposals.values.filter(\.isAcknowledged).compactMap(\.appliedIndex).max() ?? .zero
    }

    func node(_ id: NodeID) -> SimulatedNode? {
        nodeIndex[id].map { nodes[$0] }
    }

    // MARK: Time

    /// Runs `count` steps of one tick each.
    public func tick(_ count: Int = 1) {
        for _ in 0..<count { step() }
    }

    /// Steps until `condition` holds or `ticksMax` steps ran; true when it held.
    @discardableResult
    public func run(ticksMax: Int, until condition: (Simulation) -> Bool) -> Bool {
        for _ in 0..<ticksMax {
            if condition(self) { return true }
            step()
        }
        return condition(self)
    }

    /// Runs until some running node is leader and has committed an entry of its term (so it can
    /// serve reads and take proposals); returns it.
    @discardableResult
    public func awaitLeader(ticksMax: Int = 2_000) -> NodeID? {
        var found: NodeID?
        run(ticksMax: ticksMax) { sim in
            found = sim.leader().flatMap { id in sim.hasCommittedInOwnTerm(id) ? id : nil }
            return found != nil
        }
        return found
    }

    func hasCommittedInOwnTerm(_ id: NodeID) -> Bool {
        guard let node = node(id), let core = node.core else { return false }
        let status = core.status
        guard status.commitIndex > status.snapshotIndex else { return false }
        return core.entries(from: status.commitIndex, limit: 1).first?.term == status.term
    }

    /// One step: clocks tick, due messages arrive, runtimes process Readys, checkers run.
    func step() {
        now += 1
        for node in nodes where node.isRunning {
            deliverReports(to: node)
            advanceClock(of: node)
        }
        for envelope in network.takeArrivals(at: now) {
            deliver(envelope)
        }
        for node in nodes where node.isRunning {
            drive(node)
        }
    }

    private func advanceClock(of node: SimulatedNode) {
        node.tickAccumulator += node.tickRatePermille
        while node.tickAccumulator >= 1000 {
            node.tickAccumulator -= 1000
            node.core?.tick()
        }
    }

    private func deliverReports(to node: SimulatedNode) {
        guard !node.pendingReports.isEmpty else { return }
        let reports = node.pendingReports
        node.pendingReports.removeAll()
        for report in reports {
            if let succeeded = report.snapshotSucceeded {
                node.core?.reportSnapshot(to: report.peer, succeeded: succeeded)
            } else {
                node.core?.reportUnreachable(report.peer)
            }
        }
    }

    // MARK: Recording

    func record(_ kind: TraceEvent.Kind) {
        let event = TraceEvent(time: now, kind: kind)
        fingerprint = fingerprintStep(fingerprint, event)
        trace.append(event)
        if let sink = options.liveTrace { sink(TraceFormat.line(event)) }
    }

    func fail(_ property: String, _ detail: String) {
        checker.fail(property, detail, at: now)
        record(.violation("\(property): \(detail)"))
    }

    private func fingerprintStep(_ current: UInt64, _ event: TraceEvent) -> UInt64 {
        var value = current ^ (event.time &* 0x9E37_79B9_7F4A_7C15)
        switch event.kind {
        case .send(let message), .deliver(let message), .drop(let message, _), .duplicate(let message):
            value ^= message.from.rawValue &* 31 &+ message.to.rawValue &* 17 &+ message.term.rawValue
        case .ready(let node, let summary):
            value ^= node.rawValue &+ (summary.lastEntry?.rawValue ?? 0) &* 13 &+ (summary.lastCommitted?.rawValue ?? 0)
        case .role(let node, _, let term): value ^= node.rawValue &* 7 &+ term.rawValue
        case .crash(let node, _), .restart(let node): value ^= node.rawValue &* 101
        default: value ^= 0x5555
        }
        return SplitMix64.mixed(value)
    }

    /// The trace of the run so far, one compact line per event.
    public func formattedTrace(lastCount: Int? = nil) -> String {
        trace.formatted(lastCount: lastCount)
    }

    /// A failure report: the seed, the violations and the end of the trace.
    public func report(traceLines: Int = 400) -> String {
        var lines = ["seed=\(seed)"]
        lines.append(contentsOf: violations.map { "violation: \($0)" })
        lines.append("trace (replay with WRAFT_SIM_SEED=\(seed) for all of it):")
        lines.append(formattedTrace(lastCount: traceLines))
        return lines.joined(separator: "\n")
    }

    /// Adds a free-form line to the trace (scenario steps).
    public func note(_ text: String) { record(.note(text)) }
}
