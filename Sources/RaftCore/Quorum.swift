/// The majority rules of one configuration's voters: every count of "enough of the voters" in
/// the core goes through here (winning or losing an election, the commit index, check-quorum,
/// read-index confirmation). Learners never count; callers pass the voters only.
///
/// A configuration of n voters needs `n / 2 + 1` of them (a strict majority), so any two
/// majorities intersect (paper 5.2, 5.4). An empty configuration has no majority: nothing is won,
/// committed or confirmed in it.
struct Quorum: Sendable, Equatable {
    /// The outcome of a vote so far.
    enum VoteResult: Sendable, Equatable {
        /// A majority granted.
        case won
        /// A majority refused: the vote cannot be won any more.
        case lost
        /// Neither yet.
        case pending
    }

    /// The voters.
    let voters: Set<NodeID>

    init(voters: Set<NodeID>) {
        self.voters = voters
    }

    /// How many voters make a majority.
    var size: Int { voters.count / 2 + 1 }

    /// The outcome of a vote given each voter's answer (`true` granted, `false` refused, absent
    /// not yet answered). Answers of non-voters are ignored.
    func voteResult(_ votes: [NodeID: Bool]) -> VoteResult {
        var granted = 0
        var refused = 0
        for voter in voters {
            switch votes[voter] {
            case true?: granted += 1
            case false?: refused += 1
            case nil: break
            }
        }
        if granted >= size { return .won }
        if refused >= size { return .lost }
        return .pending
    }

    /// Whether a majority of the voters satisfy `isAcknowledging`.
    func isReached(by isAcknowledging: (NodeID) -> Bool) -> Bool {
        var count = 0
        for voter in voters where isAcknowledging(voter) {
            count += 1
        }
        return count >= size
    }

    /// The highest index that a majority of the voters have reached, given each voter's index
    /// (the majority's smallest); `.zero` for an empty configuration.
    func committedIndex(_ acknowledgedIndex: (NodeID) -> LogIndex) -> LogIndex {
        guard !voters.isEmpty else { return .zero }
        let descending = voters.map(acknowledgedIndex).sorted(by: >)
        // The size-th largest: that many voters (a majority) are at it or beyond, and no larger
        // index is held by a majority.
        return descending[size - 1]
    }
}
