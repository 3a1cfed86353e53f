import Foundation
import RaftCore
import Testing

@testable import WRaftServer

/// Issue 11: `wraft member promote`. The rule that decides a promotion (`LearnerPromotion`), and
/// the runtime acting on it with `--auto-promote-learners` off.
@Suite struct LearnerPromotionRuleTests {
    static let (voterA, voterB, learner) = (NodeID(1), NodeID(2), NodeID(9))

    static func view(
        match: LogIndex? = LogIndex(95), last: LogIndex = LogIndex(100), applied: LogIndex = LogIndex(40),
        pending: Bool = false, lag: Int = 10
    ) -> LearnerPromotion.LeaderView {
        var matches: [NodeID: LogIndex] = [voterA: last, voterB: last]
        matches[learner] = match
        return LearnerPromotion.LeaderView(
            membership: Membership(voters: [voterA, voterB], learners: [learner]), isChangePending: pending,
            appliedMembershipIndex: applied, lastLogIndex: last, matchIndexes: matches, lagEntriesMax: lag)
    }

    @Test func aCaughtUpLearnerIsPromoted() {
        #expect(LearnerPromotion.verdict(for: Self.learner, in: Self.view()) == .promote)
        // Exactly at the bound still counts as caught up; one entry more does not.
        #expect(LearnerPromotion.verdict(for: Self.learner, in: Self.view(match: LogIndex(90))) == .promote)
        #expect(
            LearnerPromotion.verdict(for: Self.learner, in: Self.view(match: LogIndex(89)))
                == .notCaughtUp(matchIndex: LogIndex(89), lastLogIndex: LogIndex(100)))
    }

    @Test func aLearnerWithoutTheEntryThatAddedItIsNotCaughtUp() {
        // Within the lag bound of the last index, but short of the membership entry in force.
        let view = Self.view(match: LogIndex(95), last: LogIndex(100), applied: LogIndex(97))
        #expect(LearnerPromotion.verdict(for: Self.learner, in: view) == .notCaughtUp(matchIndex: LogIndex(95), lastLogIndex: LogIndex(100)))
    }

    @Test func aLearnerTheLeaderHasNoProgressForIsNotCaughtUp() {
        #expect(
            LearnerPromotion.verdict(for: Self.learner, in: Self.view(match: nil))
                == .notCaughtUp(matchIndex: nil, lastLogIndex: LogIndex(100)))
    }

    @Test func unknownIdsVotersAndPendingChangesAreRefused() {
        #expect(LearnerPromotion.verdict(for: NodeID(77), in: Self.view()) == .unknownMember)
        #expect(LearnerPromotion.verdict(for: Self.voterA, in: Self.view()) == .alreadyVoter)
        #expect(LearnerPromotion.verdict(for: Self.learner, in: Self.view(pending: true)) == .changePending)
        // Who it is comes before whether the cluster can change now.
        #expect(LearnerPromotion.verdict(for: Self.voterB, in: Self.view(pending: true)) == .alreadyVoter)
    }

    @Test func theAutomaticPromotionTakesTheLowestReadyLearner() {
        let (early, late) = (NodeID(5), NodeID(3))
        var view = Self.view()
        view.membership = Membership(voters: [Self.voterA], learners: [early, late, Self.learner])
        view.matchIndexes[early] = LogIndex(100)
        view.matchIndexes[late] = LogIndex(10)
        #expect(LearnerPromotion.nextAutomaticPromotion(in: view) == early, "node 3 lags; 5 < 9")
        view.isChangePending = true
        #expect(LearnerPromotion.nextAutomaticPromotion(in: view) == nil, "one change at a time")
        view.isChangePending = false
        view.membership.learners = [late]
        #expect(LearnerPromotion.nextAutomaticPromotion(in: view) == nil)
    }
}

@Suite(.serialized, .timeLimit(.minutes(2)))
struct RuntimePromotionTests {
    /// With `--auto-promote-learners` off a joiner stays a learner; `promote` refuses it while it
    /// lags, then makes it a voter, through a follower (forwarded to the leader).
    @Test func aLearnerIsPromotedOnlyOnRequestAndOnlyWhenCaughtUp() async throws {
        let cluster = TestCluster(size: 4) {
            $0.isAutoPromotingLearners = false
            $0.promotionLagEntriesMax = 10
        }
        try await cluster.openAll()
        try await cluster.stoppingAll {
            for node in cluster.nodes[1...2] {
                _ = try await node.runtime.connect(peerRaftAddress: cluster.nodes[0].options.raftAddress)
            }
            try await cluster.nodes[0].runtime.start()
            let leader = try await cluster.waitForLeader(among: [0, 1, 2])
            let leaderRuntime = try cluster.nodes[leader].runtime
            let follower = try cluster.nodes[(leader + 1) % 3].runtime
            _ = try await leaderRuntime.write(WriteRequest(key: "before", operation: .put(value: [1])), deadline: deadline())

            let joiner = try cluster.nodes[3].runtime
            _ = try await joiner.connect(peerRaftAddress: cluster.nodes[leader].options.raftAddress)
            let joinerID = try #require(NodeID(hex: await joiner.state().id))
            try await TestCluster.waitUntil("the learner caught up") {
                (try await joiner.read(key: "before", consistency: .local, deadline: deadline()))?.value == [1]
            }
            // Caught up for many heartbeats and housekeeping rounds, and still a learner.
            try await Task.sleep(for: .milliseconds(500))
            let members = await leaderRuntime.state().members
            #expect(members.first { $0.id == joinerID.description }?.voter == false, "\(members)")

            // Refusals: an unknown id, a voter, a learner that lags (asked of a follower).
            let unknown = await caughtNodeError { try await follower.promoteMember(NodeID(0x77), deadline: deadline()) }
            #expect(unknown?.code == .notFound)
            let leaderID = try #require(NodeID(hex: await leaderRuntime.state().id))
            let voter = await caughtNodeError { try await follower.promoteMember(leaderID, deadline: deadline()) }
            #expect(voter?.code == .notLearner)
            try await joiner.inject(.pause)
            for number in 0..<30 {
                _ = try await leaderRuntime.write(
                    WriteRequest(key: "lag/\(number)", operation: .put(value: [UInt8(number)])), deadline: deadline())
            }
            let lagging = await caughtNodeError { try await follower.promoteMember(joinerID, deadline: deadline()) }
            #expect(lagging?.code == .learnerNotReady, "\(String(describing: lagging))")
            #expect(lagging?.message.contains("in sync with the leader") == true)

            // Caught up again, it is promoted, and every member sees it vote.
            try await joiner.inject(.resume)
            try await TestCluster.waitUntil("the learner is promoted once caught up") {
                do {
                    try await follower.promoteMember(joinerID, deadline: deadline())
                    return true
                } catch NodeError.refused(code: .learnerNotReady, _) {
                    return false
                }
            }
            for node in cluster.nodes {
                try await TestCluster.waitUntil("node \(node.index) sees the voter") {
                    try await node.runtime.state().members.first { $0.id == joinerID.description }?.voter == true
                }
            }
            let again = await caughtNodeError { try await leaderRuntime.promoteMember(joinerID, deadline: deadline()) }
            #expect(again?.code == .notLearner)
        }
    }
}
