import RaftCore
import RaftSimulation
import Testing
import WRaftSupport

/// The event stream's contract against the core (issue 13): every vote, term change and commit
/// of a simulated run appears in the node's stream, in order, before the Ready that carries it
/// out. The runs are the randomized simulation's seeds (lossy networks, slow disks, snapshots)
/// with crashes, restarts and partitions added by hand.
@Suite struct EventStreamContractTests {
    @Test(arguments: 1...24 as ClosedRange<UInt64>)
    func everyVoteTermChangeAndCommitAppearsInTheStreamInOrder(seed: UInt64) {
        var options = RandomizedRun.options(for: seed)
        options.crashProbabilityPerStage = 0
        options.isRecordingEvents = true
        options.traceCapacity = 2_000
        let sim = Simulation(seed: seed, options: options)
        var random = SplitMix64(seed: seed)
        for round in 0..<10 {
            _ = proposeAcknowledged(sim, count: 2, ticksMax: 1_500)
            let ids = sim.nodeIDs
            let victim = ids[random.int(in: 0..<ids.count)]
            switch round % 3 {
            case 0:
                sim.crash(victim)
                sim.tick(40)
                sim.restart(victim)
            case 1:
                sim.isolate(sim.leader() ?? victim)
                sim.tick(60)
                sim.heal()
            default:
                sim.tick(30)
            }
        }
        sim.tick(200)
        #expect(sim.isSafe, "seed=\(seed): \(sim.violations.map(\.description))")
        var totals = ContractChecker.Totals()
        for id in sim.nodeIDs {
            var checker = ContractChecker()
            for item in sim.eventTimeline(of: id) { checker.check(item) }
            for problem in checker.problems.prefix(5) { Issue.record("seed=\(seed) node \(id): \(problem)") }
            totals.add(checker.totals)
        }
        // The run did elect, vote and commit: the checks above had something to check (a
        // one-node cluster sends no votes).
        #expect(totals.commitsChecked > 0, "seed=\(seed): \(totals)")
        if options.nodeCount > 1 {
            #expect(totals.votesChecked > 0 && totals.campaignsChecked > 0, "seed=\(seed): \(totals)")
        }
    }

    /// The checker itself catches a missing event: a vote sent without its event, a term that
    /// changed without a state event, a commit applied beyond the commits announced.
    @Test func theCheckerCatchesAMissingEvent() {
        let candidate = NodeID(2)
        var vote = ContractChecker()
        vote.check(.restart(HardState(term: Term(1), votedFor: nil, commit: LogIndex(1))))
        vote.check(.event(.state(role: .follower, term: Term(2), leader: nil)))
        vote.check(.ready(facts(votes: [(candidate, Term(2))])))
        #expect(vote.problems.count == 1)

        var term = ContractChecker()
        term.check(.restart(HardState(term: Term(1), votedFor: nil, commit: LogIndex(1))))
        term.check(.ready(facts(hardState: HardState(term: Term(3), votedFor: nil, commit: LogIndex(1)))))
        #expect(term.problems.count == 1)

        var commit = ContractChecker()
        commit.check(.restart(HardState(term: Term(1), votedFor: nil, commit: LogIndex(1))))
        commit.check(.event(.committed(index: LogIndex(2), term: Term(1))))
        commit.check(.ready(facts(lastCommitted: LogIndex(3))))
        #expect(commit.problems.count == 1)
    }

    private func facts(
        hardState: HardState? = nil, votes: [(NodeID, Term)] = [], lastCommitted: LogIndex? = nil
    ) -> ReadyFacts {
        ReadyFacts(
            hardState: hardState,
            votesGranted: votes.map { ReadyFacts.VoteSent(candidate: $0.0, term: $0.1) },
            campaigns: [], lastCommittedIndex: lastCommitted)
    }
}

/// Walks one node's timeline and lists every fact of a Ready that no earlier event announced,
/// and every event out of order (a term going back, a commit not moving forward).
struct ContractChecker {
    struct Totals: CustomStringConvertible {
        var votesChecked = 0
        var campaignsChecked = 0
        var commitsChecked = 0
        mutating func add(_ other: Totals) {
            votesChecked += other.votesChecked
            campaignsChecked += other.campaignsChecked
            commitsChecked += other.commitsChecked
        }
        var description: String { "votes \(votesChecked), campaigns \(campaignsChecked), commits \(commitsChecked)" }
    }

    private(set) var problems: [String] = []
    private(set) var totals = Totals()
    /// The term of the last `.state` event (or of the disk at a restart).
    private var term = Term.zero
    /// The highest commit announced (or on disk at a restart).
    private var commit = LogIndex.zero
    /// Granted votes announced and not yet seen in a Ready, by (candidate, term).
    private var votesAnnounced: [String: Int] = [:]
    private var campaignsAnnounced: Set<String> = []
    private var position = 0

    mutating func check(_ item: EventTimelineItem) {
        position += 1
        switch item {
        case .restart(let hardState):
            term = hardState.term
            commit = hardState.commit
            votesAnnounced = [:]
            campaignsAnnounced = []
        case .event(let event):
            check(event)
        case .ready(let facts):
            check(facts)
        }
    }

    private mutating func check(_ event: RaftEvent) {
        switch event {
        case .state(_, let newTerm, _):
            if newTerm < term { problems.append("#\(position): the term went back from \(term) to \(newTerm)") }
            term = newTerm
        case .voteCast(let candidate, let voteTerm, let isPreVote, let isGranted, _):
            guard isGranted, !isPreVote else { return }
            if voteTerm != term { problems.append("#\(position): a vote in term \(voteTerm) while in term \(term)") }
            votesAnnounced["\(candidate)@\(voteTerm)", default: 0] += 1
        case .campaign(let campaignTerm, let isPreVote, _):
            if !isPreVote && campaignTerm != term {
                problems.append("#\(position): an election for term \(campaignTerm) while in term \(term)")
            }
            campaignsAnnounced.insert("\(campaignTerm)/\(isPreVote)")
        case .committed(let index, _):
            if index <= commit { problems.append("#\(position): commit \(index) after commit \(commit)") }
            commit = index
        case .voteReceived, .electionTimerReset:
            break
        }
    }

    private mutating func check(_ facts: ReadyFacts) {
        if let hardState = facts.hardState {
            if hardState.term != term {
                problems.append("#\(position): a Ready persists term \(hardState.term), the stream says \(term)")
            }
            if hardState.commit != commit {
                problems.append("#\(position): a Ready persists commit \(hardState.commit), the stream says \(commit)")
            }
        }
        for vote in facts.votesGranted {
            totals.votesChecked += 1
            let key = "\(vote.candidate)@\(vote.term)"
            if let count = votesAnnounced[key], count > 0 {
                votesAnnounced[key] = count - 1
            } else {
                problems.append("#\(position): a vote for \(vote.candidate) in term \(vote.term) sent without its event")
            }
        }
        for campaign in facts.campaigns {
            totals.campaignsChecked += 1
            if !campaignsAnnounced.contains("\(campaign.term)/\(campaign.isPreVote)") {
                problems.append("#\(position): vote requests for term \(campaign.term) sent without a campaign event")
            }
        }
        if let last = facts.lastCommittedIndex {
            totals.commitsChecked += 1
            if last > commit { problems.append("#\(position): entry \(last) applied, the stream's commit is \(commit)") }
        }
    }
}
