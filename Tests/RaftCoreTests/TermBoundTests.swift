import RaftCore
import Testing

/// Issue 8, finding 2: no message can cost the cluster its liveness. Terms and indices are
/// bounded (`Term.wireMax`, 2^48) and a message may raise a term by at most
/// `Term.adoptionStepMax` (2^32), so accepting any message leaves room for further elections.
/// The numbers are spelled out so each test states the rule it checks.
@Suite struct TermBoundTests {
    static let wireMax: UInt64 = 1 << 48
    static let adoptionStepMax: UInt64 = 1 << 32

    @Test func theBoundsAreTheDocumentedOnes() {
        #expect(Term.wireMax.rawValue == Self.wireMax)
        #expect(LogIndex.wireMax.rawValue == Self.wireMax)
        #expect(Term.adoptionStepMax == Self.adoptionStepMax)
    }

    /// The frame: a heartbeat claiming term 2^63-1 from an id that is no member. Before
    /// the fix every member ended at that term with no leader, for good.
    @Test func aForgedMaximalTermLeavesTheClusterLive() throws {
        for forgedTerm in [UInt64.max / 2, UInt64.max, Self.wireMax + 1] {
            var cluster = try LockStep(voters: [1, 2, 3])
            cluster.elect(id(1))
            for sender in [id(99), id(1), id(3)] {
                cluster.nodes[id(2)]?.step(
                    Message(from: sender, to: id(2), term: Term(forgedTerm), payload: .heartbeat(HeartbeatRequest(commit: 1))))
            }
            runRounds(&cluster, 300)
            try expectLiveCluster(&cluster, writing: "after \(forgedTerm)")
            for node in cluster.ids {
                #expect(try #require(cluster.status(node)).term.rawValue <= Self.wireMax, "forged term \(forgedTerm)")
            }
        }
    }

    /// A leap of more than 2^32 terms is dropped; one of exactly 2^32 is taken, and the cluster
    /// still elects and commits after it (the room the bound leaves).
    @Test func aMessageRaisesTheTermByAtMostTheStepBound() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        let term = try #require(cluster.status(id(2))?.term).rawValue
        let tooFar = Message(
            from: id(1), to: id(2), term: Term(term + Self.adoptionStepMax + 1), payload: .heartbeat(HeartbeatRequest(commit: 1)))
        cluster.nodes[id(2)]?.step(tooFar)
        #expect(cluster.status(id(2))?.term.rawValue == term, "a leap past the bound changes nothing")
        #expect(cluster.status(id(2))?.leader == id(1))

        let atBound = Message(
            from: id(99), to: id(2), term: Term(term + Self.adoptionStepMax), payload: .heartbeat(HeartbeatRequest(commit: 1)))
        cluster.nodes[id(2)]?.step(atBound)
        #expect(cluster.status(id(2))?.term.rawValue == term + Self.adoptionStepMax)
        runRounds(&cluster, 300)
        try expectLiveCluster(&cluster, writing: "after a leap")
        let leader = try #require(cluster.ids.first { cluster.status($0)?.role == .leader })
        #expect(try #require(cluster.status(leader)).term.rawValue > term + Self.adoptionStepMax)
    }

    /// A node whose term reached the bound stays a follower rather than campaign in a term no
    /// peer would decode.
    @Test func aNodeAtTheBoundDoesNotCampaignPastIt() throws {
        let state = persistentState(voters: [1, 2, 3], terms: [], term: Self.wireMax)
        var cluster = try LockStep(states: [id(1): state])
        for _ in 0..<100 {
            cluster.tick(id(1))
            cluster.processAll()
        }
        #expect(cluster.status(id(1))?.term.rawValue == Self.wireMax)
        #expect(cluster.queue.allSatisfy { $0.term.rawValue <= Self.wireMax })
    }

    /// A persisted state above the bound (a damaged or forged file read by other means than
    /// RaftCodec) is refused with an error, never adopted, never a trap.
    @Test func aPersistedStateAboveTheBoundIsRefused() throws {
        var highTerm = persistentState(voters: [1], terms: [])
        highTerm.hardState.term = Term(UInt64.max / 2)
        var highSnapshot = PersistentState(
            hardState: HardState(term: 1), snapshot: SnapshotMetadata(index: LogIndex(UInt64.max), term: 1, membership: Membership(voters: [1])),
            entries: [])
        highSnapshot.hardState.commit = .zero
        for state in [highTerm, highSnapshot] {
            #expect(throws: ConfigError.self) { try RaftNode(config: Config(id: id(1)), state: state) }
        }
    }

    /// `GET /log?from=18446744073709551615` reached this with the client's number (issue 8,
    /// finding 1): an index past the log lists nothing instead of overflowing.
    @Test func entriesFromAnyIndexNeverTrap() throws {
        var cluster = try LockStep(voters: [1])
        cluster.elect(id(1))
        let node = try #require(cluster.nodes[id(1)])
        for start in [UInt64.max, UInt64.max - 1, Self.wireMax + 1, 3] {
            #expect(node.entries(from: LogIndex(start), limit: Int.max).isEmpty, "from \(start)")
        }
        #expect(node.entries(from: LogIndex(1), limit: Int.max).count == 2)
    }

    /// A heartbeat answer for a read round the leader never broadcast confirms nothing: before,
    /// one forged answer with round 2^64-1 let every later read be confirmed without a quorum.
    @Test func anAnswerForAnUnsentReadRoundConfirmsNothing() throws {
        var cluster = try LockStep(voters: [1, 2, 3])
        cluster.elect(id(1))
        let term = try #require(cluster.status(id(1))?.term)
        cluster.nodes[id(1)]?.step(
            Message(from: id(2), to: id(1), term: term, payload: .heartbeatResponse(HeartbeatResponse(readRound: UInt64.max))))
        cluster.processAll()
        cluster.queue.removeAll()
        try cluster.nodes[id(1)]?.requestRead(ReadRequestID(1))
        cluster.processAll()
        cluster.queue.removeAll()  // the leader is cut off: no answer to this round comes
        // A late answer to a heartbeat sent before the read (round 0) makes the leader count.
        cluster.nodes[id(1)]?.step(
            Message(from: id(2), to: id(1), term: term, payload: .heartbeatResponse(HeartbeatResponse(readRound: 0))))
        cluster.processAll()
        #expect(cluster.readStates[id(1)]?.isEmpty == true, "no quorum answered this round")
        // With the followers answering, the read goes through.
        try cluster.nodes[id(1)]?.requestRead(ReadRequestID(2))
        cluster.stabilize()
        #expect(cluster.readStates[id(1)]?.map(\.id).contains(ReadRequestID(2)) == true)
    }

    // MARK: Helpers

    /// Ticks every node once and delivers everything, `count` times.
    private func runRounds(_ cluster: inout LockStep, _ count: Int) {
        for _ in 0..<count {
            for node in cluster.ids { cluster.tick(node) }
            cluster.stabilize()
        }
    }

    /// Some node leads, and a write proposed now is applied on every node.
    private func expectLiveCluster(_ cluster: inout LockStep, writing text: String) throws {
        let leader = try #require(cluster.ids.first { cluster.status($0)?.role == .leader }, "a leader, \(text)")
        try cluster.propose(leader, text)
        cluster.stabilize()
        for node in cluster.ids {
            #expect(
                cluster.applied[node]?.contains { $0.data == Array(text.utf8) } == true,
                "\(node) applied \(text): \(String(describing: cluster.status(node)))")
        }
    }
}
