import Testing

@testable import RaftCore

private func ids(_ raw: [UInt64]) -> Set<NodeID> { Set(raw.map { NodeID($0) }) }

@Suite struct QuorumTests {
    @Test(arguments: [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
    func aMajorityIsMoreThanHalf(_ voterCount: Int, _ size: Int) {
        #expect(Quorum(voters: ids((1...UInt64(voterCount)).map { $0 })).size == size)
    }

    @Test func aSingleVoterDecidesAlone() {
        let quorum = Quorum(voters: ids([1]))
        #expect(quorum.voteResult([:]) == .pending)
        #expect(quorum.voteResult([NodeID(1): true]) == .won)
        #expect(quorum.voteResult([NodeID(1): false]) == .lost)
        #expect(quorum.committedIndex { _ in LogIndex(9) } == LogIndex(9))
        #expect(quorum.isReached { $0 == NodeID(1) })
        #expect(!quorum.isReached { _ in false })
    }

    @Test func votesOfAnOddConfiguration() {
        let quorum = Quorum(voters: ids([1, 2, 3]))
        #expect(quorum.voteResult([NodeID(1): true]) == .pending)
        #expect(quorum.voteResult([NodeID(1): true, NodeID(2): false]) == .pending)
        #expect(quorum.voteResult([NodeID(1): true, NodeID(2): false, NodeID(3): true]) == .won)
        #expect(quorum.voteResult([NodeID(1): true, NodeID(2): false, NodeID(3): false]) == .lost)
    }

    @Test func votesOfAnEvenConfigurationCanTie() {
        let quorum = Quorum(voters: ids([1, 2, 3, 4]))
        // Two of four is no majority either way: the vote stays open.
        let tie: [NodeID: Bool] = [NodeID(1): true, NodeID(2): true, NodeID(3): false, NodeID(4): false]
        #expect(quorum.voteResult(tie) == .pending)
        #expect(quorum.voteResult([NodeID(1): true, NodeID(2): true, NodeID(3): true]) == .won)
        #expect(quorum.voteResult([NodeID(2): false, NodeID(3): false, NodeID(4): false]) == .lost)
    }

    @Test func answersOfNonVotersDoNotCount() {
        let quorum = Quorum(voters: ids([1, 2, 3]))
        // Learners 4 and 5 grant, but only one voter did.
        let votes: [NodeID: Bool] = [NodeID(1): true, NodeID(4): true, NodeID(5): true]
        #expect(quorum.voteResult(votes) == .pending)
        #expect(!quorum.isReached { [NodeID(1), NodeID(4), NodeID(5)].contains($0) })
    }

    @Test func theCommitIndexIsTheHighestAMajorityHolds() {
        let odd = Quorum(voters: ids([1, 2, 3, 4, 5]))
        let oddMatch: [NodeID: LogIndex] = [
            NodeID(1): LogIndex(9), NodeID(2): LogIndex(7), NodeID(3): LogIndex(5), NodeID(4): LogIndex(2),
        ]
        // Voter 5 is unknown (zero): 9, 7 and 5 are held by three voters, so 5 commits.
        #expect(odd.committedIndex { oddMatch[$0] ?? .zero } == LogIndex(5))

        let even = Quorum(voters: ids([1, 2, 3, 4]))
        let evenMatch: [NodeID: LogIndex] = [NodeID(1): LogIndex(8), NodeID(2): LogIndex(6), NodeID(3): LogIndex(4), NodeID(4): LogIndex(1)]
        // Three of four needed: 8, 6, 4.
        #expect(even.committedIndex { evenMatch[$0] ?? .zero } == LogIndex(4))

        let two = Quorum(voters: ids([1, 2]))
        #expect(two.committedIndex { $0 == NodeID(1) ? LogIndex(5) : LogIndex(3) } == LogIndex(3))
    }

    @Test func anEmptyConfigurationDecidesNothing() {
        let quorum = Quorum(voters: [])
        #expect(quorum.voteResult([NodeID(1): true]) == .pending)
        #expect(quorum.committedIndex { _ in LogIndex(5) } == .zero)
        #expect(!quorum.isReached { _ in true })
    }

    @Test func anyTwoMajoritiesShareAVoter() {
        // The property the rules exist for (paper 5.2): for every size up to 7, every pair of
        // voter subsets that each reach the quorum intersects.
        for voterCount in 1...7 {
            let voters = (1...UInt64(voterCount)).map { NodeID($0) }
            let quorum = Quorum(voters: Set(voters))
            let subsets = (0..<(1 << voterCount)).map { mask in
                Set(voters.enumerated().filter { mask & (1 << $0.offset) != 0 }.map { $0.element })
            }
            let majorities = subsets.filter { subset in quorum.isReached { subset.contains($0) } }
            for first in majorities {
                for second in majorities {
                    #expect(!first.isDisjoint(with: second), "\(voterCount) voters")
                }
            }
        }
    }
}
