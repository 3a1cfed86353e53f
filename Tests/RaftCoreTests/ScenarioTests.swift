import RaftCore
import RaftSimulation
import Testing

/// A simulation with `nodes` founders; everything else as `configure` says.
func makeSimulation(
    seed: UInt64 = 1, nodes: Int = 3, _ configure: (inout SimulationOptions) -> Void = { _ in }
) -> Simulation {
    var options = SimulationOptions()
    options.nodeCount = nodes
    options.traceCapacity = nil
    configure(&options)
    return Simulation(seed: seed, options: options)
}

/// Proposes at the current leader (retrying through elections) until `count` proposals are
/// acknowledged; returns them. Bounded by `ticksMax`.
@discardableResult
func proposeAcknowledged(_ sim: Simulation, count: Int, ticksMax: Int = 5_000) -> [Proposal] {
    var acknowledged: [Proposal] = []
    var outstanding: Proposal?
    var proposedAt: UInt64 = 0
    sim.run(ticksMax: ticksMax) { sim in
        if let proposal = outstanding, sim.isAcknowledged(proposal) {
            acknowledged.append(proposal)
            outstanding = nil
        }
        if acknowledged.count >= count { return true }
        // A proposal lost with its leader is given up after a while and made again (a client retry).
        if outstanding == nil || sim.now > proposedAt + 200, let leader = sim.leader() {
            if let proposal = try? sim.propose(at: leader) {
                outstanding = proposal
                proposedAt = sim.now
            }
        }
        return false
    }
    return acknowledged
}

/// The randomized scenarios, each over the simulated cluster with every safety checker
/// on. The named scenarios are data files (testdata/*.txt, run by DataDrivenScenarioTests); these
/// stay here: repeated crashes at chosen Ready steps (with and without a slow disk), many
/// seeds of Figure 8 histories (testdata/figure_8.txt is the paper's one), and churn.
@Suite struct ScenarioTests {
    @Test(arguments: [false, true])
    func persistenceAcrossRepeatedCrashes(withAsyncDisk: Bool) throws {
        let sim = makeSimulation(seed: 19, nodes: 3) {
            if withAsyncDisk { $0.diskLatencyTicks = 0...3 }
        }
        var acknowledged: [Proposal] = []
        for round in 0..<12 {
            acknowledged += proposeAcknowledged(sim, count: 3)
            switch round % 3 {
            case 0:
                // One node, at a chosen step of its Ready processing.
                let victim = sim.nodeIDs[round % sim.nodeIDs.count]
                sim.crash(victim, at: CrashPoint.allCases[round % CrashPoint.allCases.count])
                _ = try? sim.propose(at: victim)
                sim.tick(20)
                sim.crash(victim)
                sim.restart(victim)
            case 1:
                // The leader, right after it persisted but before it sent.
                if let leader = sim.leader() {
                    sim.crash(leader, at: .afterPersist)
                    _ = try? sim.propose(at: leader)
                    sim.tick(20)
                    sim.restart(leader)
                }
            default:
                // Every node at once.
                for node in sim.nodeIDs { sim.crash(node) }
                for node in sim.nodeIDs { sim.restart(node) }
            }
        }
        #expect(acknowledged.count == 36)
        #expect(sim.checkLiveness(ticksMax: 1_000))
        for proposal in acknowledged {
            #expect(sim.nodeIDs.allSatisfy { sim.isApplied(proposal, on: $0) }, "an acknowledged write survives every crash")
        }
        #expect(sim.totalCrashCount >= 12)
        expectSafe(sim)
    }

    /// The paper's Figure 8: leaders crash soon after appending, so entries of old terms sit on
    /// some nodes and not others, and new leaders replicate them one entry per message (a tiny
    /// byte cap). A leader that committed an old-term entry by counting replicas would have it
    /// overwritten by a later leader; the checkers would see the history fork.
    @Test(arguments: [false, true])
    func figure8(unreliable: Bool) throws {
        for seed in UInt64(1)...8 {
            let sim = makeSimulation(seed: (unreliable ? 2100 : 2000) + seed, nodes: 5) {
                $0.traceCapacity = 20_000
                $0.messageBytesMax = 40
                $0.inflightMessagesMax = 1
                if unreliable { $0.network = NetworkFaults(dropProbability: 0.1, duplicateProbability: 0.05, delayTicks: 1...3) }
            }
            var random = SimulationRandom(seed: seed)
            for _ in 0..<300 where sim.isSafe {
                if let leader = sim.leader() {
                    _ = try? sim.propose(batchOf: random.int(in: 1...3), at: leader)
                    sim.tick(random.chance(0.7) ? random.int(in: 1...4) : random.int(in: 5...40))
                    if random.chance(0.5) { sim.crash(leader) }
                } else {
                    sim.tick(random.int(in: 1...10))
                }
                if random.chance(0.2), let follower = random.element(of: sim.runningNodeIDs) { sim.crash(follower) }
                while sim.runningNodeIDs.count < 3, let down = random.element(of: sim.nodeIDs.filter { !sim.isRunning($0) }) {
                    sim.restart(down)
                }
            }
            #expect(sim.checkLiveness(ticksMax: 3_000), "seed=\(sim.seed)")
            #expect(sim.historyLastIndex > 25, "seed=\(sim.seed): only \(sim.historyLastIndex) entries")
            expectSafe(sim)
            if !sim.isSafe { break }
        }
    }

    @Test(arguments: [false, true])
    func churn(unreliable: Bool) throws {
        let sim = makeSimulation(seed: unreliable ? 23 : 22, nodes: 5) {
            $0.traceCapacity = 20_000
            $0.snapshotEveryEntries = 25
            if unreliable { $0.network = .unreliable }
        }
        var random = SimulationRandom(seed: 2222)
        for _ in 0..<1_500 {
            if random.chance(0.5), let node = random.element(of: sim.runningNodeIDs) { _ = try? sim.propose(at: node) }
            if random.chance(0.02), let node = random.element(of: sim.runningNodeIDs) { sim.crash(node) }
            if random.chance(0.05), let node = random.element(of: sim.nodeIDs.filter { !sim.isRunning($0) }) { sim.restart(node) }
            if random.chance(0.02), let node = random.element(of: sim.nodeIDs) { sim.isolate(node) }
            if random.chance(0.03) { sim.heal() }
            sim.tick()
        }
        #expect(sim.checkLiveness(ticksMax: 3_000))
        #expect(sim.historyLastIndex > 100)
        expectSafe(sim)
    }
}
