import RaftCore
import RaftStorage

// Membership changes of a running cluster, one server at a time: adding a joiner as a learner,
// promoting a caught-up learner to voter, removing a member; and the waiters that see them
// applied.
extension NodeRuntime {
    // MARK: Changes

    func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {
        try await removeMember(id, deadline: deadline, isForwarded: false)
    }

    func promoteMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {
        try await promoteMember(id, deadline: deadline, isForwarded: false)
    }

    func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant, isForwarded: Bool) async throws(NodeError) {
        guard lifecycle == .running, let core else { throw notRunningError() }
        guard core.currentMembership.membership.contains(id) else {
            if !appliedMembership.contains(id) { throw .notFound(message: "\(id) is not a member") }
            return try await waitForMembership(deadline: deadline) { !$0.contains(id) }
        }
        guard isLeader else {
            _ = try await forwardToLeader(
                .removeMember(id: id.description, timeoutMs: remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
            return
        }
        try await changeMembership(ConfigChange(.remove, id), newAddress: nil, deadline: deadline)
        logger.notice("\(id) removed")
    }

    /// Proposes a single-server change as leader (waiting while another is in progress) and
    /// waits until it is applied.
    func changeMembership(_ change: ConfigChange, newAddress: MemberAddress?, deadline: ContinuousClock.Instant)
        async throws(NodeError)
    {
        let node = change.node
        let isSatisfied: @Sendable (Membership) -> Bool
        switch change.kind {
        case .addLearner: isSatisfied = { $0.contains(node) }
        case .addVoter: isSatisfied = { $0.isVoter(node) }
        case .remove: isSatisfied = { !$0.contains(node) }
        }
        while true {
            guard lifecycle == .running, let core else { throw notRunningError() }
            guard isLeader else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
            let current = core.currentMembership.membership
            if isSatisfied(current) { break }
            let next = change.applied(to: current) ?? current
            if let newAddress {
                book.set(node, newAddress)
                transport.setPeer(node, newAddress)
            }
            do {
                try self.core?.proposeMembershipChange(change, context: context(for: next))
                kick()
                break
            } catch .membershipChangePending, .transferInProgress {
                guard clock.now + .milliseconds(50) < deadline else {
                    throw .noLeader(retryAfterMs: Self.retryAfterMs)
                }
                try? await clock.sleep(for: .milliseconds(50))
            } catch {
                throw Self.nodeError(for: error)
            }
        }
        try await waitForMembership(deadline: deadline, isSatisfied)
    }

    static func nodeError(for error: ProposalError) -> NodeError {
        switch error {
        case .noLeader, .notLeader, .transferInProgress, .membershipChangePending:
            return .noLeader(retryAfterMs: retryAfterMs)
        case .overloaded:
            return .overloaded(retryAfterMs: retryAfterMs)
        case .invalidMembershipChange(let why):
            return .badRequest(code: .badRequest, message: why)
        case .unknownMember(let id):
            return .notFound(message: "\(id) is not a member")
        case .notMember:
            return .wrongState(code: .notMember, message: "this node is not a member of its cluster")
        }
    }

    func waitForMembership(deadline: ContinuousClock.Instant, _ isSatisfied: @escaping @Sendable (Membership) -> Bool)
        async throws(NodeError)
    {
        if isSatisfied(appliedMembership) { return }
        let id = nextWaiterID
        nextWaiterID += 1
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, NodeError>, Never>) in
            membershipWaiters[id] = MembershipWaiter(isSatisfied: isSatisfied, deadline: deadline, continuation: continuation)
        }
        try result.get()
    }

    func completeMembershipWaiters(_ membership: Membership) {
        for (id, waiter) in membershipWaiters where waiter.isSatisfied(membership) {
            membershipWaiters[id] = nil
            waiter.continuation.resume(returning: .success(()))
        }
    }

    func expireMembershipWaiters(now: ContinuousClock.Instant) {
        for (id, waiter) in membershipWaiters where waiter.deadline <= now {
            membershipWaiters[id] = nil
            waiter.continuation.resume(
                returning: .failure(.unknownOutcome(message: "the membership change was not applied within the deadline")))
        }
    }

    /// Leader, with `--auto-promote-learners` (the default): promotes one caught-up learner at
    /// a time (`LearnerPromotion`: its match within `promotionLagEntriesMax` of the leader's
    /// last index).
    func promoteCaughtUpLearner() {
        guard options.isAutoPromotingLearners, let view = promotionView(),
            let learner = LearnerPromotion.nextAutomaticPromotion(in: view)
        else { return }
        do {
            try core?.proposeMembershipChange(ConfigChange(.addVoter, learner), context: context(for: view.membership))
            logger.notice("promoting learner \(learner) to voter (match \(view.matchIndexes[learner] ?? .zero) of \(view.lastLogIndex))")
            kick()
        } catch {
            // Another change in progress: try again at the next housekeeping round.
        }
    }

    /// The leader's view a promotion is decided on; nil when this node does not lead.
    func promotionView() -> LearnerPromotion.LeaderView? {
        guard isLeader, let core else { return nil }
        return LearnerPromotion.LeaderView(
            status: core.status, isChangePending: core.currentMembership.membership != appliedMembership,
            appliedMembershipIndex: appliedMembershipIndex, lagEntriesMax: options.promotionLagEntriesMax)
    }

    /// `POST /members/promote`: the leader promotes a caught-up learner to voter and answers once
    /// the change is applied (a follower forwards the request to the leader). Refused: an
    /// unknown id (404), a voter (409 `not_learner`), a learner that lags (409
    /// `learner_not_ready`), while another change is in flight (409 `membership_change_pending`).
    func promoteMember(_ id: NodeID, deadline: ContinuousClock.Instant, isForwarded: Bool) async throws(NodeError) {
        guard lifecycle == .running, core != nil else { throw notRunningError() }
        guard let view = promotionView() else {
            _ = try await forwardToLeader(
                .promoteMember(id: id.description, timeoutMs: remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
            return
        }
        switch LearnerPromotion.verdict(for: id, in: view) {
        case .unknownMember:
            throw .notFound(message: "\(id) is not a member")
        case .alreadyVoter:
            throw .refused(code: .notLearner, message: "\(id) is a voter already; only a learner can be promoted")
        case .changePending:
            throw Self.changePendingError
        case .notCaughtUp(let match, let last):
            let behind = match.map { "its log matches the leader's up to \($0) of \(last)" } ?? "the leader has no answer from it yet"
            throw .refused(
                code: .learnerNotReady,
                message: "can only promote a learner that is in sync with the leader: \(behind) (at most "
                    + "\(options.promotionLagEntriesMax) entries behind); retry once it has caught up")
        case .promote:
            break
        }
        do {
            try core?.proposeMembershipChange(ConfigChange(.addVoter, id), context: context(for: view.membership))
        } catch .membershipChangePending, .transferInProgress {
            throw Self.changePendingError
        } catch {
            throw Self.nodeError(for: error)
        }
        kick()
        logger.notice("promoting learner \(id) to voter on request (match \(view.matchIndexes[id] ?? .zero) of \(view.lastLogIndex))")
        try await waitForMembership(deadline: deadline) { $0.isVoter(id) }
    }

    private static var changePendingError: NodeError {
        .refused(
            code: .membershipChangePending,
            message: "another membership change is in progress (one at a time); retry once it is applied")
    }

    // MARK: Joiners

    /// A node asks to be added (a `join` control request): the leader adds it as a learner (a
    /// follower forwards the request to the leader) and answers with the members once the
    /// change is applied; a member already in is answered at once.
    func respondToJoin(
        _ member: MemberRecord, id: NodeID, address: MemberAddress, deadline: ContinuousClock.Instant, isForwarded: Bool
    ) async throws(NodeError) -> ControlResponse {
        guard lifecycle == .running, let core, let clusterID else { throw notRunningError() }
        let joined = ControlResponse.joined(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
        if core.currentMembership.membership.contains(id), appliedMembership.contains(id) { return joined }
        guard isLeader else {
            return try await forwardToLeader(
                .join(member: member, timeoutMs: remainingMs(until: deadline), isForwarded: true),
                isForwarded: isForwarded, deadline: deadline)
        }
        try await changeMembership(ConfigChange(.addLearner, id), newAddress: address, deadline: deadline)
        logger.notice("\(id) at \(member.raftAddress) joins as a learner")
        return .joined(clusterID: ClusterIDFormat.string(clusterID), members: book.records)
    }
}
