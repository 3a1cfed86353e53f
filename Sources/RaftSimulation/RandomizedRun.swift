import RaftCore

/// The outcome of one randomized run.
public struct RandomizedRunResult: Sendable {
    public var seed: UInt64
    public var violations: [SafetyViolation]
    /// Seed, violations and the end of the trace; empty when the run was safe.
    public var report: String
    public var ticks: UInt64
    public var committedIndex: LogIndex
    public var crashCount: Int
    public var leaderTerms: Int
    /// Own snapshots discarded because a newer one was installed while they were serialized.
    public var discardedSnapshots: Int
    /// What the run's client writes came to (overloaded refusals reached, answers given).
    public var clientWrites: ClientWriteCounts
    /// Equal for two runs of one seed (determinism).
    public var fingerprint: UInt64

    public var isSafe: Bool { violations.isEmpty }
}

/// One seed, one run: cluster shape, network, disk, clocks and fault rates are drawn from the
/// seed; then a phase of chaos (partitions of any shape, crashes at any Ready step, restarts,
/// client writes through each node's `ProposalQueue`, reads, transfers, membership changes) and a phase where everything heals and every
/// acknowledged proposal must reach every live member.
public struct RandomizedRun {
    /// What kind of trouble a run draws.
    public enum Profile: Sendable {
        /// Every kind of fault, workload and membership change, at seed-drawn rates.
        case mixed
        /// The paper's Figure 8 pressure: five nodes, one entry per append, and leaders that
        /// crash a few ticks after taking proposals, so entries of old terms are left on some
        /// nodes and replicated later by new leaders.
        case leaderChurn
    }

    public var seed: UInt64
    public var profile: Profile
    /// Steps of chaos.
    public var chaosTicks = 500
    /// Steps allowed for convergence after healing.
    public var livenessTicksMax = 4_000
    /// Largest node id the run may add (founders are 1...5).
    public var nodeIDMax: UInt64 = 8
    public var liveTrace: (@Sendable (String) -> Void)?
    public var traceCapacity: Int? = 3_000
    /// Breaks the proposal queue's rule on purpose (`SimulationOptions.breaksProposalRuleOnPurpose`).
    public var breaksProposalRuleOnPurpose = false

    public init(seed: UInt64, profile: Profile = .mixed) {
        self.seed = seed
        self.profile = profile
    }

    /// The options a seed draws.
    public static func options(for seed: UInt64) -> SimulationOptions {
        var random = SimulationRandom(seed: seed ^ 0x0F0F_1234_ABCD_5678)
        var options = SimulationOptions()
        options.nodeCount = random.element(of: [1, 2, 3, 3, 3, 4, 5, 5]) ?? 3
        options.heartbeatTicks = random.int(in: 1...3)
        options.electionTimeoutTicks = 10
        options.electionTimeoutJitterTicks = 10
        options.isPreVoteEnabled = random.chance(0.8)
        options.isCheckQuorumEnabled = random.chance(0.7)
        options.inflightMessagesMax = random.int(in: 1...8)
        options.messageBytesMax = random.element(of: [40, 200, 4096]) ?? 4096
        options.uncommittedBytesMax = random.chance(0.2) ? max(2_000, options.messageBytesMax) : 1 << 20
        switch random.below(10) {
        case 0, 1: options.network = .reliable
        case 2, 3, 4, 5: options.network = NetworkFaults(dropProbability: 0.02, duplicateProbability: 0.02, delayTicks: 1...3)
        default: options.network = NetworkFaults(dropProbability: 0.15, duplicateProbability: 0.08, delayTicks: 1...10)
        }
        options.diskLatencyTicks = random.chance(0.5) ? 0...0 : 0...3
        options.tickRatePermille = random.chance(0.5) ? 1000...1000 : 700...1300
        options.snapshotEveryEntries = random.chance(0.3) ? nil : random.int(in: 5...40)
        options.entriesRetainedAfterSnapshot = UInt64(random.int(in: 0...5))
        options.crashProbabilityPerStage = random.element(of: [0, 0.001, 0.004]) ?? 0
        options.pipelineQueuedWorkMax = random.element(of: [1, 2, 4, 16, 64]) ?? 64
        options.snapshotSerializationTicks = random.chance(0.5) ? 0...0 : 1...30
        // Client writes: deadlines from a few stall intervals up; in some seeds a leader has room
        // for only a few uncommitted entries, so the core refuses batches as overloaded.
        options.clientWriteDeadlineTicks = random.int(in: 60...300)
        if random.chance(0.3) {
            options.uncommittedBytesMax = max(options.messageBytesMax, random.element(of: [200, 400, 800]) ?? 400)
        }
        // Drawn last, so the draws above (and the seeds known to find something) stay as they were.
        options.commitBroadcastDelayTicks = random.int(in: 0...2)
        return options
    }

    /// The `.leaderChurn` profile's changes to a seed's options.
    static func applyLeaderChurn(to options: inout SimulationOptions, seed: UInt64) {
        var random = SimulationRandom(seed: seed ^ 0x7777_1234_0000_8888)
        options.nodeCount = random.chance(0.5) ? 5 : 3
        options.messageBytesMax = 40
        options.inflightMessagesMax = random.int(in: 1...2)
        options.crashProbabilityPerStage = 0
        options.network = random.chance(0.5) ? .reliable : NetworkFaults(dropProbability: 0.05, duplicateProbability: 0.05, delayTicks: 1...3)
        // Slow, pipelined disks: a follower often has writes in flight when a new leader
        // overwrites them (the case `Ready.overwritesHandedOutEntries` guards).
        if random.chance(0.5) {
            options.diskLatencyTicks = 1...4
            options.pipelineQueuedWorkMax = 16
        }
    }

    /// Runs the seed to the end (or to the first violation) and reports.
    public func run() -> RandomizedRunResult {
        var options = RandomizedRun.options(for: seed)
        if profile == .leaderChurn { RandomizedRun.applyLeaderChurn(to: &options, seed: seed) }
        options.liveTrace = liveTrace
        options.breaksProposalRuleOnPurpose = breaksProposalRuleOnPurpose
        options.traceCapacity = liveTrace == nil ? traceCapacity : 1
        let sim = Simulation(seed: seed, options: options)
        sim.note("seed=\(seed) nodes=\(options.nodeCount) net=\(options.network) disk=\(options.diskLatencyTicks) skew=\(options.tickRatePermille) snapshotEvery=\(options.snapshotEveryEntries.map(String.init) ?? "never") crash/stage=\(options.crashProbabilityPerStage) preVote=\(options.isPreVoteEnabled) checkQuorum=\(options.isCheckQuorumEnabled) pipelineQueue=\(options.pipelineQueuedWorkMax) snapshotSerialization=\(options.snapshotSerializationTicks)")
        var chaos = Chaos(
            random: SimulationRandom(seed: seed ^ 0xA5A5_A5A5_5A5A_5A5A), nextNodeID: UInt64(options.nodeCount) + 1,
            nodeIDMax: nodeIDMax, crashesLeadersAfterProposing: profile == .leaderChurn)
        for _ in 0..<chaosTicks where sim.isSafe {
            chaos.act(on: sim)
            sim.tick()
        }
        if sim.isSafe {
            sim.note("chaos ends: healing")
            sim.checkLiveness(ticksMax: livenessTicksMax)
        }
        var terms = Set<Term>()
        for event in sim.trace.orderedEvents {
            if case .role(_, .leader, let term) = event.kind { terms.insert(term) }
        }
        return RandomizedRunResult(
            seed: seed, violations: sim.violations, report: sim.isSafe ? "" : sim.report(),
            ticks: sim.now, committedIndex: sim.committedIndexMax,
            crashCount: sim.totalCrashCount, leaderTerms: terms.count, discardedSnapshots: sim.discardedSnapshots,
            clientWrites: sim.clientWriteCounts, fingerprint: sim.fingerprint)
    }
}

extension Simulation {
    /// Crashes so far, over all nodes.
    public var totalCrashCount: Int { nodes.reduce(0) { $0 + $1.crashCount } }
}

/// The fault and workload injector of a randomized run.
struct Chaos {
    var random: SimulationRandom
    var nextNodeID: UInt64
    let nodeIDMax: UInt64
    /// `.leaderChurn`: a leader that just took proposals crashes within a few ticks.
    let crashesLeadersAfterProposing: Bool
    var leaderCrashAt: (node: NodeID, time: UInt64)?

    mutating func act(on sim: Simulation) {
        if crashesLeadersAfterProposing { churnLeaders(on: sim) }
        if random.chance(0.3) { proposeSomething(on: sim) }
        if random.chance(0.04) { readSomewhere(on: sim) }
        if random.chance(0.012) { changeNetwork(on: sim) }
        if random.chance(0.004), let victim = random.element(of: sim.runningNodeIDs) { sim.crash(victim) }
        if random.chance(0.02) {
            let down = sim.nodeIDs.filter { !sim.isRunning($0) && !(sim.node($0)?.isRetired ?? true) }
            if let id = random.element(of: down) { sim.restart(id) }
        }
        if random.chance(0.006) { changeMembership(on: sim) }
        if random.chance(0.003) { transferLeadership(on: sim) }
        if random.chance(0.002), let id = random.element(of: sim.runningNodeIDs) { sim.snapshot(id) }
        if random.chance(0.01) { retireRemovedNodes(on: sim) }
    }

    private mutating func churnLeaders(on sim: Simulation) {
        if let pending = leaderCrashAt, sim.now >= pending.time {
            sim.crash(pending.node)
            leaderCrashAt = nil
        }
        let down = sim.nodeIDs.filter { !sim.isRunning($0) && !(sim.node($0)?.isRetired ?? true) }
        if sim.runningNodeIDs.count <= sim.nodeIDs.count / 2 + 1 || random.chance(0.05), let id = random.element(of: down) {
            sim.restart(id)
        }
        guard leaderCrashAt == nil, let leader = sim.leader(), random.chance(0.1) else { return }
        _ = try? sim.propose(batchOf: random.int(in: 1...3), at: leader)
        leaderCrashAt = (leader, sim.now + UInt64(random.int(in: 1...6)))
    }

    private mutating func proposeSomething(on sim: Simulation) {
        // Clients write through the node's proposal queue, as against the runtime; several
        // writes in one step share a batch.
        guard let id = random.element(of: sim.runningNodeIDs) else { return }
        let count = random.chance(0.2) ? random.int(in: 2...6) : 1
        for _ in 0..<count { sim.write(at: id) }
    }

    private mutating func readSomewhere(on sim: Simulation) {
        guard let id = random.element(of: sim.runningNodeIDs) else { return }
        _ = try? sim.requestRead(at: id)
    }

    private mutating func changeNetwork(on sim: Simulation) {
        let ids = sim.nodeIDs
        switch random.below(5) {
        case 0:
            sim.heal()
        case 1:
            if let id = random.element(of: ids) { sim.isolate(id) }
        case 2:
            let shuffled = random.shuffled(ids)
            let cut = random.int(in: 1...max(1, shuffled.count - 1))
            sim.partition(Set(shuffled[..<cut]), Set(shuffled[cut...]))
        case 3:
            if let from = random.element(of: ids), let to = random.element(of: ids.filter { $0 != from }) {
                sim.blockLink(from: from, to: to)
            }
        default:
            // A bridge: one node sees both sides, the sides do not see each other.
            let shuffled = random.shuffled(ids)
            guard shuffled.count >= 3 else { return }
            let rest = Array(shuffled[1...])
            let cut = random.int(in: 1...max(1, rest.count - 1))
            sim.partition(Set(rest[..<cut]), Set(rest[cut...]))
        }
    }

    private mutating func changeMembership(on sim: Simulation) {
        guard let leader = sim.leader(), let membership = sim.status(of: leader)?.membership else { return }
        if let learner = random.element(of: membership.learners.sorted()), random.chance(0.7) {
            try? sim.proposeMembershipChange(ConfigChange(.addVoter, learner), at: leader)
        } else if membership.voters.count < 5, nextNodeID <= nodeIDMax, random.chance(0.6) {
            let id = NodeID(nextNodeID)
            nextNodeID += 1
            sim.addNode(id)
            do {
                try sim.proposeMembershipChange(ConfigChange(.addLearner, id), at: leader)
            } catch {
                sim.retire(id)
            }
        } else if membership.voters.count > 3, let victim = random.element(of: membership.voters.sorted()) {
            try? sim.proposeMembershipChange(ConfigChange(.remove, victim), at: leader)
        } else if let learner = random.element(of: membership.learners.sorted()) {
            try? sim.proposeMembershipChange(ConfigChange(.remove, learner), at: leader)
        }
    }

    private mutating func transferLeadership(on sim: Simulation) {
        guard let leader = sim.leader(), let membership = sim.status(of: leader)?.membership,
            let target = random.element(of: membership.voters.sorted().filter { $0 != leader })
        else { return }
        try? sim.transferLeadership(from: leader, to: target)
    }

    /// Shuts down nodes that neither the leader nor any other running node counts as a member
    /// any more (a removed node keeps running until then and may try to disrupt: dissertation
    /// 4.2.3).
    private mutating func retireRemovedNodes(on sim: Simulation) {
        let ids = sim.nodeIDs
        guard ids.allSatisfy({ sim.isRunning($0) || (sim.node($0)?.isRetired ?? true) }),
            let leader = sim.leader(), let leaderView = sim.status(of: leader)?.membership
        else { return }
        let views = ids.compactMap { id in sim.status(of: id).map { (id: id, membership: $0.membership) } }
        for id in ids where id != leader && sim.isRunning(id) && !leaderView.contains(id) {
            let isMemberElsewhere = views.contains { view in view.id != id && view.membership.contains(id) }
            if !isMemberElsewhere { sim.retire(id) }
        }
    }
}
