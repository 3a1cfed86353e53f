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

/// The named scenarios, each over the simulated cluster with every safety checker on.
/// Most are data files now (testdata/*.txt, run by DataDrivenScenarioTests); the randomized
/// ones stay here: repeated crashes at chosen Ready steps (with and without a slow disk), many
/// seeds of Figure 8 histories (testdata/figure_8.txt is the paper's one), and churn.
@Suite struct ScenarioTests {
    @Test func initialElection() throws {
        let sim = makeSimulation(seed: 11)
        let leader = try #require(sim.awaitLeader(ticksMax: 200))
        let term = try #require(sim.status(of: leader)?.term)
        sim.tick(30)
        for node in sim.nodeIDs {
            #expect(sim.status(of: node)?.term == term, "\(node)")
            #expect(sim.status(of: node)?.leader == leader, "\(node)")
        }
        // No spurious elections while the network is healthy.
        sim.tick(500)
        #expect(sim.leader() == leader)
        #expect(sim.status(of: leader)?.term == term)
        #expect(sim.leaders().count == 1)
        expectSafe(sim)
    }

    @Test func noLeaderWithoutMajority() throws {
        let sim = makeSimulation(seed: 13, nodes: 5)
        let leader = try #require(sim.awaitLeader())
        let followers = sim.nodeIDs.filter { $0 != leader }
        sim.crash(followers[0])
        sim.crash(followers[1])
        sim.crash(followers[2])
        sim.tick(400)
        #expect(sim.leaders().isEmpty, "two of five cannot elect or keep a leader")
        let proposal = try? sim.propose(at: leader)
        sim.tick(100)
        #expect(proposal.map { sim.appliedIndex(of: $0) == nil } ?? true)
        sim.restart(followers[0])
        #expect(sim.awaitLeader(ticksMax: 400) != nil, "three of five elect again")
        expectSafe(sim)
    }

    @Test func agreementDespiteDisconnectedFollower() throws {
        let sim = makeSimulation(seed: 14)
        let leader = try #require(sim.awaitLeader())
        proposeAcknowledged(sim, count: 3)
        let follower = try #require(sim.nodeIDs.first { $0 != leader })
        sim.isolate(follower)
        let whileAway = proposeAcknowledged(sim, count: 10)
        #expect(whileAway.count == 10, "two of three commit without the third")
        #expect(whileAway.allSatisfy { !sim.isApplied($0, on: follower) })
        sim.heal()
        #expect(sim.run(ticksMax: 300) { sim in whileAway.allSatisfy { sim.isApplied($0, on: follower) } })
        expectSafe(sim)
    }

    @Test func noCommitWithoutMajority() throws {
        let sim = makeSimulation(seed: 15, nodes: 5) { $0.isCheckQuorumEnabled = false }
        let leader = try #require(sim.awaitLeader())
        let followers = sim.nodeIDs.filter { $0 != leader }
        for follower in followers.prefix(3) { sim.isolate(follower) }
        let stranded = try sim.propose(at: leader)
        sim.tick(300)
        #expect(sim.appliedIndex(of: stranded) == nil, "a leader with one follower of four commits nothing")
        #expect(sim.status(of: leader)?.commitIndex == sim.status(of: followers[3])?.commitIndex)
        sim.heal()
        #expect(sim.checkLiveness(ticksMax: 1_000))
        expectSafe(sim)
    }

    @Test func deposedLeaderRejoining() throws {
        let sim = makeSimulation(seed: 16)
        let first = try #require(sim.awaitLeader())
        proposeAcknowledged(sim, count: 2)
        sim.isolate(first)
        // The cut-off leader takes proposals it can never commit.
        let doomed = (0..<3).compactMap { _ in try? sim.propose(at: first) }
        #expect(doomed.count == 3)
        let committed = proposeAcknowledged(sim, count: 3)
        let second = try #require(sim.leader())
        #expect(second != first)
        // The new leader goes away too; the old one rejoins and must take the newer log.
        sim.isolate(second)
        sim.unblockLinks(of: first, except: second)
        let afterRejoin = proposeAcknowledged(sim, count: 2)
        #expect(afterRejoin.count == 2)
        sim.heal()
        #expect(sim.checkLiveness(ticksMax: 1_000))
        #expect(doomed.allSatisfy { sim.appliedIndex(of: $0) == nil }, "entries of a deposed leader are overwritten")
        #expect(committed.allSatisfy { proposal in sim.nodeIDs.allSatisfy { sim.isApplied(proposal, on: $0) } })
        expectSafe(sim)
    }

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

extension Simulation {
    /// Restores the node's links except those to `excluded`.
    func unblockLinks(of node: NodeID, except excluded: NodeID) {
        for other in nodeIDs where other != node && other != excluded {
            unblockLink(from: node, to: other)
            unblockLink(from: other, to: node)
        }
    }
}
