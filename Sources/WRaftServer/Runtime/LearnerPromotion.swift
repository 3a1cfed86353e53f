import RaftCore

/// When a learner may become a voter: the one rule behind both the leader's own promotion
/// (`--auto-promote-learners`) and an operator's `POST /members/promote`. Pure: it reads the
/// leader's view and answers; the runtime acts on the verdict.
///
/// A learner is caught up when it holds at least the membership entry in force (the one that
/// added it, or a later one) and its match index is within `lagEntriesMax` entries of the
/// leader's last index. Promoting one that lags would add a voter that cannot acknowledge new
/// entries yet: the cluster's quorum would grow while its ability to reach it shrinks (etcd
/// refuses the same: "can only promote a learner member which is in sync with leader").
enum LearnerPromotion {
    /// What the leader's view says about promoting one member.
    enum Verdict: Equatable, Sendable {
        /// Propose `addVoter` for it now.
        case promote
        /// Not in the configuration at all.
        case unknownMember
        /// Already a voter.
        case alreadyVoter
        /// Another membership change has not been applied yet (one change at a time).
        case changePending
        /// A learner that lags: the leader knows no match for it (it has not answered yet), or
        /// its match is `matchIndex` of `lastLogIndex`.
        case notCaughtUp(matchIndex: LogIndex?, lastLogIndex: LogIndex)
    }

    /// The leader's view one verdict is made from.
    struct LeaderView: Sendable {
        /// The configuration in force (the latest membership entry in the leader's log).
        var membership: Membership
        /// Whether that configuration differs from the one applied (a change is in flight).
        var isChangePending: Bool
        /// The index of the membership entry applied last.
        var appliedMembershipIndex: LogIndex
        /// The leader's last log index.
        var lastLogIndex: LogIndex
        /// Each member's match index, as the leader tracks it.
        var matchIndexes: [NodeID: LogIndex]
        /// How far behind the leader's last index a learner may be and still be promoted.
        var lagEntriesMax: Int

        init(status: Status, isChangePending: Bool, appliedMembershipIndex: LogIndex, lagEntriesMax: Int) {
            precondition(lagEntriesMax >= 0, "LearnerPromotion: lagEntriesMax is not negative")
            membership = status.membership
            self.isChangePending = isChangePending
            self.appliedMembershipIndex = appliedMembershipIndex
            lastLogIndex = status.lastLogIndex
            matchIndexes = status.progress.mapValues(\.matchIndex)
            self.lagEntriesMax = lagEntriesMax
        }

        init(
            membership: Membership, isChangePending: Bool, appliedMembershipIndex: LogIndex, lastLogIndex: LogIndex,
            matchIndexes: [NodeID: LogIndex], lagEntriesMax: Int
        ) {
            precondition(lagEntriesMax >= 0, "LearnerPromotion: lagEntriesMax is not negative")
            self.membership = membership
            self.isChangePending = isChangePending
            self.appliedMembershipIndex = appliedMembershipIndex
            self.lastLogIndex = lastLogIndex
            self.matchIndexes = matchIndexes
            self.lagEntriesMax = lagEntriesMax
        }
    }

    /// The verdict on promoting `id`. Checked in the order an operator would want to hear it:
    /// who it is, then whether the cluster can change now, then whether it is ready.
    static func verdict(for id: NodeID, in view: LeaderView) -> Verdict {
        guard view.membership.contains(id) else { return .unknownMember }
        guard !view.membership.isVoter(id) else { return .alreadyVoter }
        guard !view.isChangePending else { return .changePending }
        guard let match = view.matchIndexes[id], isCaughtUp(matchIndex: match, in: view) else {
            return .notCaughtUp(matchIndex: view.matchIndexes[id], lastLogIndex: view.lastLogIndex)
        }
        return .promote
    }

    /// The learner the leader promotes by itself (the lowest id among the caught-up ones), or
    /// nil: none is ready, or a change is in flight.
    static func nextAutomaticPromotion(in view: LeaderView) -> NodeID? {
        view.membership.learners.sorted().first { verdict(for: $0, in: view) == .promote }
    }

    private static func isCaughtUp(matchIndex: LogIndex, in view: LeaderView) -> Bool {
        // It holds at least the entry that added it, and lags by a bounded amount.
        matchIndex >= view.appliedMembershipIndex
            && matchIndex.rawValue + UInt64(view.lagEntriesMax) >= view.lastLogIndex.rawValue
    }
}
