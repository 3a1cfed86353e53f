import RaftCore
import RaftSimulation
import Testing

/// Bad input never crashes the core or breaks its invariants: messages from strangers, stale
/// and absurd terms, indices out of range (up to `UInt64.max`), inconsistent batches.
@Suite struct BadInputTests {
    @Test func messagesFromStrangersAreIgnoredByTheLeader() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        let before = try #require(cluster.status(id(1)))
        let stranger = id(99)
        for payload: Payload in [
            .appendResponse(AppendResponse(index: before.lastLogIndex)),
            .heartbeatResponse(HeartbeatResponse(readRound: 1)),
            .voteResponse(VoteResponse(isGranted: true, isPreVote: false)),
        ] {
            cluster.nodes[id(1)]?.step(Message(from: stranger, to: id(1), term: before.term, payload: payload))
        }
        let after = try #require(cluster.status(id(1)))
        #expect(after.role == .leader && after.term == before.term && after.commitIndex == before.commitIndex)
        #expect(after.progress[stranger] == nil)
    }

    @Test func staleTermsChangeNothingButTellTheSenderTheTerm() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        let term = try #require(cluster.status(id(2))?.term)
        let stale = Message(
            from: id(3), to: id(2), term: Term(1),
            payload: .append(AppendRequest(previousIndex: 1, previousTerm: 1, entries: [Entry(term: 1, index: 2)], commit: 2)))
        cluster.queue.removeAll()
        cluster.nodes[id(2)]?.step(stale)
        cluster.process(id(2))
        #expect(cluster.status(id(2))?.term == term)
        #expect(cluster.status(id(2))?.leader == id(1))
        let answer = try #require(cluster.queue.first { $0.to == id(3) })
        #expect(answer.term == term, "a stale leader learns the current term")
    }

    @Test func aFollowerDropsAnAppendThatWouldOverwriteCommittedEntries() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        try cluster.propose(id(1), "committed")
        cluster.stabilize()
        let status = try #require(cluster.status(id(2)))
        let rewrite = AppendRequest(
            previousIndex: status.commitIndex - 1, previousTerm: status.term,
            entries: [Entry(term: status.term, index: status.commitIndex, data: [9])], commit: status.commitIndex)
        cluster.nodes[id(2)]?.step(Message(from: id(1), to: id(2), term: status.term, payload: .append(rewrite)))
        cluster.stabilize()
        let entry = try #require(cluster.nodes[id(2)]?.entries(from: status.commitIndex, limit: 1).first)
        #expect(entry.data == Array("committed".utf8))
    }

    /// Thousands of random messages, many absurd, thrown at a live cluster: no crash, and after
    /// them the cluster still elects and commits. `WRAFT_FUZZ_SEEDS` runs more seeds.
    @Test func randomGarbageNeverCrashesTheCore() throws {
        let seeds = environmentInteger("WRAFT_FUZZ_SEEDS") ?? 20
        for seed in 1...seeds {
            CrashReporter.setSeed(seed, slot: 3, label: "bad-input fuzz")
            var random = SimulationRandom(seed: seed)
            var cluster = try LockStep(voters: [1, 2, 3])
            cluster.elect(id(1))
            for _ in 0..<500 {
                let message = garbage(&random, cluster: cluster)
                cluster.nodes[message.to]?.step(message)
                cluster.processAll()
                cluster.queue.removeAll()
                if random.chance(0.1), let node = random.element(of: cluster.ids) { cluster.tick(node, times: random.int(in: 1...20)) }
            }
            for node in cluster.ids {
                let status = try #require(cluster.status(node))
                #expect(status.commitIndex <= status.lastLogIndex, "seed=\(seed)")
            }
            CrashReporter.setSeed(nil, slot: 3, label: "")
        }
    }

    private func garbage(_ random: inout SimulationRandom, cluster: LockStep) -> Message {
        let members = cluster.ids
        let target = random.element(of: members) ?? id(1)
        let sender = random.chance(0.2) ? id(UInt64(random.int(in: 4...100))) : (random.element(of: members.filter { $0 != target }) ?? id(2))
        let status = cluster.status(target)
        let term = pick(&random, near: status?.term.rawValue ?? 1)
        let index = { (random: inout SimulationRandom) in LogIndex(pick(&random, near: status?.lastLogIndex.rawValue ?? 1)) }
        let payload: Payload
        switch random.below(12) {
        case 0:
            payload = .voteRequest(VoteRequest(lastLogIndex: index(&random), lastLogTerm: Term(pick(&random, near: term)), isPreVote: random.chance(0.5), isLeadershipTransfer: random.chance(0.2)))
        case 1:
            payload = .voteResponse(VoteResponse(isGranted: random.chance(0.5), isPreVote: random.chance(0.5)))
        case 2:
            let previous = index(&random)
            var entries: [Entry] = []
            var next = previous.rawValue
            for _ in 0..<random.int(in: 0...3) {
                next = random.chance(0.8) ? next &+ 1 : pick(&random, near: next)
                entries.append(Entry(term: Term(pick(&random, near: term)), index: LogIndex(next), kind: random.chance(0.9) ? .command : .noop, data: [1]))
            }
            payload = .append(AppendRequest(previousIndex: previous, previousTerm: Term(pick(&random, near: term)), entries: entries, commit: index(&random)))
        case 3:
            payload = .appendResponse(AppendResponse(index: index(&random), isRejected: random.chance(0.5), hintIndex: index(&random), hintTerm: Term(pick(&random, near: term))))
        case 4:
            payload = .heartbeat(HeartbeatRequest(commit: index(&random), readRound: pick(&random, near: 1)))
        case 5:
            payload = .heartbeatResponse(HeartbeatResponse(readRound: pick(&random, near: 1)))
        case 6:
            let voters = Set(cluster.ids.filter { _ in random.chance(0.7) })
            payload = .installSnapshot(SnapshotMetadata(index: index(&random), term: Term(pick(&random, near: term)), membership: Membership(voters: voters)))
        case 7:
            payload = .timeoutNow
        case 8:
            payload = .propose([Entry(term: Term(pick(&random, near: term)), index: index(&random), kind: random.chance(0.5) ? .command : .membership, data: [2])])
        case 9:
            payload = .readIndexRequest(ReadRequestID(random.next()))
        case 10:
            payload = .readIndexResponse(ReadRequestID(random.next()), random.chance(0.5) ? index(&random) : nil)
        default:
            payload = .propose([])
        }
        return Message(from: sender, to: target, term: Term(term), payload: payload)
    }

    /// A number near `value`, or now and then one at the edges of UInt64.
    private func pick(_ random: inout SimulationRandom, near value: UInt64) -> UInt64 {
        switch random.below(10) {
        case 0: return 0
        case 1: return UInt64.max
        case 2: return UInt64.max - UInt64(random.below(3))
        case 3: return random.next()
        default:
            let offset = UInt64(random.below(7))
            return random.chance(0.5) ? value &+ offset : (value >= offset ? value - offset : 0)
        }
    }
}
