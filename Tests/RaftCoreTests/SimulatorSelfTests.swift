import KVStore
import RaftCore
import Testing

@testable import RaftSimulation

/// The simulator's own parts: if these are wrong, every other verdict is worthless.
@Suite struct SimulatorSelfTests {
    @Test func oneSeedGivesOneSequenceAndDifferentSeedsDiffer() {
        var first = SimulationRandom(seed: 42)
        var second = SimulationRandom(seed: 42)
        var other = SimulationRandom(seed: 43)
        let a = (0..<100).map { _ in first.next() }
        #expect(a == (0..<100).map { _ in second.next() })
        #expect(a != (0..<100).map { _ in other.next() })
        var ranged = SimulationRandom(seed: 1)
        let draws = (0..<10_000).map { _ in ranged.int(in: 3...7) }
        #expect(draws.allSatisfy { (3...7).contains($0) })
        #expect(Set(draws) == Set(3...7))
    }

    @Test func theDigestStateMachineRoundTripsAndTellsHistoriesApart() throws {
        var machine = DigestStateMachine()
        var forked = DigestStateMachine()
        for index in 1...5 {
            machine.apply(Entry(term: 1, index: LogIndex(UInt64(index)), data: [UInt8(index)]))
            forked.apply(Entry(term: 1, index: LogIndex(UInt64(index)), data: [UInt8(index == 3 ? 9 : index)]))
        }
        #expect(machine.digest != forked.digest)
        #expect(try DigestStateMachine(snapshot: machine.snapshot()) == machine)
        #expect(throws: SimulationError.self) { try DigestStateMachine(snapshot: [1, 2, 3]) }
    }

    @Test func durableStateFollowsTheReadyContract() {
        var durable = DurableState()
        #expect(durable.append([Entry(term: 1, index: 1), Entry(term: 1, index: 2), Entry(term: 1, index: 3)]) == nil)
        // A batch from index 2 replaces the stored suffix.
        #expect(durable.append([Entry(term: 2, index: 2)]) == nil)
        #expect(durable.lastIndex == 2 && durable.term(at: 2) == 2)
        #expect(durable.append([Entry(term: 2, index: 5)]) != nil, "a gap is a contract violation")
        #expect(durable.append([Entry(term: 2, index: 3), Entry(term: 2, index: 5)]) != nil, "so is a hole inside a batch")
        durable.store(snapshot: SnapshotMetadata(index: 2, term: 2, membership: .empty), bytes: [])
        #expect(durable.entries.isEmpty && durable.lastIndex == 2)
        #expect(durable.append([Entry(term: 2, index: 2)]) != nil, "nothing overwrites the snapshot")
    }

    @Test func theCheckersCatchBrokenHistories() {
        var checker = SafetyChecker()
        // Election Safety.
        let isFirstLeaderOfTerm = checker.observeLeader(NodeID(1), term: 3, at: 1)
        #expect(isFirstLeaderOfTerm)
        _ = checker.observeLeader(NodeID(2), term: 3, at: 2)
        #expect(checker.violations.last?.property == "ElectionSafety")
        // Log Matching: same index and term, different contents.
        checker.observeLogSegment([Entry(term: 2, index: 5, data: [1])], previousTerm: 1, source: "a", at: 3)
        checker.observeLogSegment([Entry(term: 2, index: 5, data: [2])], previousTerm: 1, source: "b", at: 4)
        #expect(checker.violations.last?.property == "LogMatching")
        // Log Matching: same entry, different predecessors.
        checker.observeLogSegment([Entry(term: 2, index: 6, data: [1])], previousTerm: 2, source: "a", at: 5)
        checker.observeLogSegment([Entry(term: 2, index: 6, data: [1])], previousTerm: 1, source: "b", at: 6)
        #expect(checker.violations.last?.property == "LogMatching")
        // State Machine Safety: two different entries applied at index 1.
        var first = DigestStateMachine()
        first.apply(Entry(term: 1, index: 1, data: [1]))
        checker.observeApplied(Entry(term: 1, index: 1, data: [1]), digest: first.digest, node: NodeID(1), at: 7)
        var second = DigestStateMachine()
        second.apply(Entry(term: 1, index: 1, data: [2]))
        checker.observeApplied(Entry(term: 1, index: 1, data: [2]), digest: second.digest, node: NodeID(2), at: 8)
        #expect(checker.violations.last?.property == "StateMachineSafety")
        // Leader Completeness: a leader whose log lacks the committed entry.
        let count = checker.violations.count
        checker.checkLeaderCompleteness(leader: NodeID(3), term: 4, snapshotIndex: .zero, at: 9) { _, _ in [] }
        #expect(checker.violations.count == count + 1)
        #expect(checker.violations.last?.property == "LeaderCompleteness")
    }

    @Test func partitionsCutExactlyTheLinksBetweenGroups() {
        let sim = Simulation(seed: 1, options: SimulationOptions())
        sim.partition([NodeID(1)], [NodeID(2), NodeID(3)])
        #expect(sim.isBlocked(from: NodeID(1), to: NodeID(2)) && sim.isBlocked(from: NodeID(3), to: NodeID(1)))
        #expect(!sim.isBlocked(from: NodeID(2), to: NodeID(3)))
        sim.heal()
        sim.blockLink(from: NodeID(1), to: NodeID(2))
        #expect(sim.isBlocked(from: NodeID(1), to: NodeID(2)) && !sim.isBlocked(from: NodeID(2), to: NodeID(1)))
    }

    @Test func aCrashLosesWhatWasNotDurableAndARestartKeepsWhatWas() throws {
        var options = SimulationOptions()
        options.traceCapacity = nil
        let sim = Simulation(seed: 5, options: options)
        let leader = try #require(sim.awaitLeader())
        let kept = try sim.propose(at: leader)
        #expect(sim.run(ticksMax: 100) { $0.isAcknowledged(kept) })
        let durableBefore = try #require(sim.durableState(of: leader))
        // Crash before the next Ready is persisted: that proposal is lost on this node.
        sim.crash(leader, at: .beforePersist)
        _ = try sim.propose(at: leader)
        sim.tick()
        #expect(!sim.isRunning(leader))
        #expect(sim.durableState(of: leader)?.lastIndex == durableBefore.lastIndex)
        sim.restart(leader)
        #expect(sim.status(of: leader)?.lastLogIndex == durableBefore.lastIndex)
        #expect(sim.checkLiveness(ticksMax: 500))
        #expect(sim.isApplied(kept, on: leader))
        #expect(sim.isSafe, "\(sim.report())")
    }
}

/// The state machine the simulated nodes run: the shipped KVStore beside the digest chain.
@Suite struct CheckedStateMachineTests {
    @Test func itAppliesKVCommandsAndRoundTripsThroughItsSnapshot() throws {
        var machine = CheckedStateMachine()
        for ticket: UInt64 in 1...40 {
            let entry = Entry(term: 1, index: LogIndex(ticket), data: Simulation.command(ticket: ticket))
            #expect(Simulation.ticket(in: entry) == ticket, "a command names its ticket")
            _ = machine.apply(entry)
        }
        #expect(machine.appliedIndex == LogIndex(40))
        #expect(machine.store.count > 0, "the commands wrote keys")
        let restored = try CheckedStateMachine(snapshot: machine.snapshot())
        #expect(restored == machine)
        #expect(throws: SimulationError.self) { try CheckedStateMachine(snapshot: Array(machine.snapshot().dropLast())) }
        #expect(throws: SimulationError.self) { try CheckedStateMachine(snapshot: [1, 2, 3]) }
    }

    @Test func aDigestAndAStoreAtDifferentIndexesAreRefused() throws {
        var digest = DigestStateMachine()
        digest.apply(Entry(term: 1, index: 1))
        let bytes = digest.snapshot() + KVStore().snapshot()
        #expect(throws: SimulationError.self) { try CheckedStateMachine(snapshot: bytes) }
    }

    @Test func aRandomizedRunWritesKeysThroughTheStore() {
        let sim = Simulation(seed: 3, options: SimulationOptions())
        let leader = sim.awaitLeader()
        #expect(leader != nil)
        for _ in 0..<20 { _ = try? sim.propose(at: leader ?? NodeID(1)) }
        #expect(sim.checkLiveness(ticksMax: 1_000))
        let stores = sim.nodeIDs.compactMap { sim.stateMachine(of: $0)?.store }
        #expect(stores.count == 3 && stores.allSatisfy { $0.count > 0 })
        #expect(sim.isSafe, "\(sim.report())")
    }

    @Test func runningMembersAtOneIndexWithDifferentStoresAreAViolation() throws {
        let sim = Simulation(seed: 4, options: SimulationOptions())
        let leader = try #require(sim.awaitLeader())
        for _ in 0..<5 { _ = try sim.propose(at: leader) }
        #expect(sim.checkLiveness(ticksMax: 1_000))
        #expect(sim.isSafe, "\(sim.report())")
        let victim = try #require(sim.nodeIDs.first { $0 != leader })
        let node = try #require(sim.node(victim))
        // The same history digest, but a store that holds something else at that index.
        var other = KVStore()
        let command = KVCommand(id: ClientRequestID(client: 99, sequence: 1), operation: .put(key: [1], value: [2], condition: .none))
        _ = other.apply(Entry(term: 1, index: node.machine.appliedIndex, data: command.encoded()))
        node.machine = try CheckedStateMachine(snapshot: Array(node.machine.snapshot().prefix(DigestStateMachine.snapshotBytesCount)) + other.snapshot())
        sim.checkStoresAgree()
        #expect(sim.violations.last?.property == "StateMachineSafety")
    }
}
