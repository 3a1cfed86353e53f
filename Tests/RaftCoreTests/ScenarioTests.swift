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

    @Test func reElectionAfterLeaderLoss() throws {
        let sim = makeSimulation(seed: 12)
        let first = try #require(sim.awaitLeader())
        let firstTerm = try #require(sim.status(of: first)?.term)
        sim.isolate(first)
        let survivors = Set(sim.nodeIDs).subtracting([first])
        #expect(sim.run(ticksMax: 300) { sim in sim.leader().map(survivors.contains) ?? false })
        let second = try #require(sim.leader())
        #expect(try #require(sim.status(of: second)?.term) > firstTerm)
        // The old leader, cut off, stops leading (check-quorum); healed, it follows.
        sim.tick(60)
        #expect(sim.status(of: first)?.role != .leader)
        sim.heal()
        #expect(sim.run(ticksMax: 200) { sim in sim.status(of: first)?.leader == second })
        // With two of three gone there is no quorum: nobody leads.
        let others = Array(sim.nodeIDs.filter { $0 != second })
        sim.isolate(others[0])
        sim.isolate(others[1])
        sim.tick(200)
        #expect(sim.leaders().isEmpty)
        sim.heal()
        #expect(sim.awaitLeader() != nil)
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

    @Test func fastBackupOverLongDivergentLog() throws {
        let sim = makeSimulation(seed: 17, nodes: 5) {
            $0.isCheckQuorumEnabled = false
            $0.traceCapacity = 200_000
        }
        let leader = try #require(sim.awaitLeader())
        let partner = try #require(sim.nodeIDs.first { $0 != leader })
        let majority = Set(sim.nodeIDs).subtracting([leader, partner])
        sim.partition([leader, partner], majority)
        // 500 entries the old side can never commit.
        for _ in 0..<50 { _ = try? sim.propose(batchOf: 10, at: leader) }
        sim.tick(50)
        #expect(sim.run(ticksMax: 400) { sim in sim.leader().map(majority.contains) ?? false })
        let newLeader = try #require(sim.leader())
        for _ in 0..<50 {
            _ = try? sim.propose(batchOf: 10, at: newLeader)
            sim.tick(2)
        }
        sim.tick(100)
        let committedBeforeHeal = sim.committedIndexMax
        #expect(committedBeforeHeal > 400)
        let rejectionsBefore = sim.rejectedAppendCount(to: newLeader)
        sim.heal()
        #expect(sim.checkLiveness(ticksMax: 2_000))
        // Fast backtracking skips a whole term per round trip: a handful of rejections, not 500.
        let rejections = sim.rejectedAppendCount(to: newLeader) - rejectionsBefore
        #expect(rejections <= 10, "rejections=\(rejections)")
        expectSafe(sim)
    }

    @Test func concurrentProposals() throws {
        let sim = makeSimulation(seed: 18, nodes: 5)
        _ = try #require(sim.awaitLeader())
        var proposals: [Proposal] = []
        for round in 0..<20 {
            for node in sim.nodeIDs {
                if let proposal = try? sim.propose(at: node) { proposals.append(proposal) }
            }
            if round % 4 == 0 { sim.tick() }
        }
        #expect(proposals.count == 100)
        #expect(sim.run(ticksMax: 500) { sim in
            proposals.allSatisfy { proposal in sim.nodeIDs.allSatisfy { sim.isApplied(proposal, on: $0) } }
        })
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

    @Test func snapshotSentToLaggingFollower() throws {
        let sim = makeSimulation(seed: 24) { $0.snapshotEveryEntries = 10 }
        let leader = try #require(sim.awaitLeader())
        let laggard = try #require(sim.nodeIDs.first { $0 != leader })
        sim.isolate(laggard)
        proposeAcknowledged(sim, count: 60)
        #expect(try #require(sim.durableState(of: leader)).snapshot.index > 40, "the leader compacted past the laggard")
        sim.heal()
        #expect(sim.checkLiveness(ticksMax: 1_000))
        #expect(sim.sentCount { $0.to == laggard && $0.payload.isInstallSnapshot } >= 1)
        #expect(try #require(sim.durableState(of: laggard)).snapshot.index > 40, "the laggard installed the snapshot")
        #expect(sim.appliedIndex(of: laggard) == sim.appliedIndex(of: leader))
        // And the laggard, restarted, comes back from that snapshot.
        sim.crash(laggard)
        sim.restart(laggard)
        #expect(sim.checkLiveness(ticksMax: 1_000))
        expectSafe(sim)
    }

    @Test func addAndRemoveMembersUnderFailures() throws {
        let sim = makeSimulation(seed: 25) {
            $0.network = NetworkFaults(dropProbability: 0.05, duplicateProbability: 0.05, delayTicks: 1...4)
            $0.snapshotEveryEntries = 20
        }
        _ = try #require(sim.awaitLeader())
        proposeAcknowledged(sim, count: 30)
        // Add node 4 as a learner, let it catch up, promote it.
        sim.addNode(id(4))
        #expect(sim.changeMembership(ConfigChange(.addLearner, id(4))))
        #expect(sim.run(ticksMax: 1_000) { sim in sim.appliedIndex(of: id(4)) >= sim.committedIndexMax && sim.committedIndexMax > 30 })
        #expect(sim.status(of: id(4))?.role == .learner)
        #expect(sim.changeMembership(ConfigChange(.addVoter, id(4))))
        // A follower crashes meanwhile; four voters with one down still commit.
        let victim = try #require(sim.nodeIDs.first { $0 != sim.leader() && $0 != id(4) })
        sim.crash(victim)
        proposeAcknowledged(sim, count: 10)
        sim.restart(victim)
        // Remove the leader itself: it steps down once its removal commits.
        let oldLeader = try #require(sim.leader())
        #expect(sim.changeMembership(ConfigChange(.remove, oldLeader)))
        #expect(sim.run(ticksMax: 1_000) { sim in sim.leader().map { $0 != oldLeader } ?? false })
        #expect(sim.status(of: oldLeader)?.role != .leader)
        sim.retire(oldLeader)
        proposeAcknowledged(sim, count: 10)
        let membership = try #require(sim.leader().flatMap { sim.status(of: $0)?.membership })
        #expect(membership.voters.count == 3 && membership.voters.contains(id(4)) && !membership.contains(oldLeader))
        #expect(sim.checkLiveness(ticksMax: 2_000))
        expectSafe(sim)
    }

    @Test func leadershipTransfer() throws {
        let sim = makeSimulation(seed: 26)
        let leader = try #require(sim.awaitLeader())
        proposeAcknowledged(sim, count: 5)
        let target = try #require(sim.nodeIDs.first { $0 != leader })
        try sim.transferLeadership(from: leader, to: target)
        #expect(throws: ProposalError.transferInProgress) { try sim.propose(at: leader) }
        #expect(sim.run(ticksMax: sim.options.electionTimeoutTicks) { sim in sim.leader() == target })
        proposeAcknowledged(sim, count: 3)
        // A transfer to an unreachable target is given up after an election timeout; the
        // leader then takes proposals again.
        let other = try #require(sim.nodeIDs.first { $0 != target && $0 != leader })
        sim.isolate(other)
        proposeAcknowledged(sim, count: 2)
        try sim.transferLeadership(from: target, to: other)
        sim.tick(sim.options.electionTimeoutTicks + 2)
        #expect(sim.leader() == target)
        #expect(sim.status(of: target)?.transferee == nil)
        #expect(throws: Never.self) { try sim.propose(at: target) }
        sim.heal()
        #expect(sim.checkLiveness(ticksMax: 1_000))
        expectSafe(sim)
    }

    @Test(arguments: [true, false])
    func deposedLeaderCannotServeStaleRead(checkQuorum: Bool) throws {
        let sim = makeSimulation(seed: 27, nodes: 5) { $0.isCheckQuorumEnabled = checkQuorum }
        let old = try #require(sim.awaitLeader())
        proposeAcknowledged(sim, count: 3)
        let partner = try #require(sim.nodeIDs.first { $0 != old })
        let majority = Set(sim.nodeIDs).subtracting([old, partner])
        sim.partition([old, partner], majority)
        #expect(sim.run(ticksMax: 400) { sim in sim.leader().map(majority.contains) ?? false })
        let fresh = proposeAcknowledged(sim, count: 3)
        #expect(fresh.count == 3)
        // The old leader (still leading, without check-quorum) and its partner both ask for reads.
        let stale = try? sim.requestRead(at: old)
        let viaPartner = try? sim.requestRead(at: partner)
        sim.tick(300)
        if let stale { #expect(sim.readIndex(of: stale) == nil, "a deposed leader served a read") }
        if let viaPartner { #expect(sim.readIndex(of: viaPartner) == nil) }
        // The majority serves reads that see the fresh writes.
        let newLeader = try #require(sim.leader().flatMap { majority.contains($0) ? $0 : nil })
        let good = try sim.requestRead(at: newLeader)
        #expect(sim.run(ticksMax: 100) { sim in sim.readIndex(of: good) != nil })
        #expect(try #require(sim.readIndex(of: good)) >= sim.appliedIndex(of: fresh[2]) ?? .zero)
        expectSafe(sim)
    }

    @Test(arguments: [true, false])
    func preVoteKeepsHealedNodeFromBumpingTerm(preVote: Bool) throws {
        let sim = makeSimulation(seed: 28) { $0.isPreVoteEnabled = preVote }
        let leader = try #require(sim.awaitLeader())
        let term = try #require(sim.status(of: leader)?.term)
        let loner = try #require(sim.nodeIDs.first { $0 != leader })
        sim.isolate(loner)
        sim.tick(300)
        sim.heal()
        sim.tick(100)
        if preVote {
            #expect(sim.status(of: loner)?.term == term, "pre-vote keeps the partitioned node's term")
            #expect(sim.leader() == leader && sim.status(of: leader)?.term == term, "the leader was not disturbed")
        } else {
            // Without pre-vote the loner's elections raise its term, and its return deposes the leader.
            #expect(try #require(sim.status(of: loner)?.term) > term)
        }
        #expect(sim.checkLiveness(ticksMax: 500))
        expectSafe(sim)
    }
}

extension Simulation {
    /// Proposes a membership change at the leader, retrying while another change is pending;
    /// true once the leader holds it.
    func changeMembership(_ change: ConfigChange, ticksMax: Int = 1_000) -> Bool {
        run(ticksMax: ticksMax) { sim in
            guard let leader = sim.leader() else { return false }
            do {
                try sim.proposeMembershipChange(change, at: leader)
                return true
            } catch {
                return false
            }
        }
    }

    /// Restores the node's links except those to `excluded`.
    func unblockLinks(of node: NodeID, except excluded: NodeID) {
        for other in nodeIDs where other != node && other != excluded {
            unblockLink(from: node, to: other)
            unblockLink(from: other, to: node)
        }
    }

    /// Messages sent so far that `predicate` picks (needs a trace without capacity).
    func sentCount(_ predicate: (Message) -> Bool) -> Int {
        trace.orderedEvents.reduce(0) { count, event in
            if case .send(let message) = event.kind, predicate(message) { return count + 1 }
            return count
        }
    }

    /// Rejected append responses sent to `leader` so far.
    func rejectedAppendCount(to leader: NodeID) -> Int {
        sentCount { message in
            guard message.to == leader, case .appendResponse(let response) = message.payload else { return false }
            return response.isRejected
        }
    }
}

extension Payload {
    var isInstallSnapshot: Bool {
        if case .installSnapshot = self { return true }
        return false
    }
}
