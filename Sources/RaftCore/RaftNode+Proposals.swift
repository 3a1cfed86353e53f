extension RaftNode {
    /// Proposes one command. A follower forwards it to its leader; nothing confirms it but the
    /// committed entry itself, so commands carry their own request id (see KVStore).
    public mutating func propose(_ command: [UInt8]) throws(ProposalError) {
        try propose(commands: [command])
    }

    /// Proposes several commands at once (one append, one message per follower).
    public mutating func propose(commands: [[UInt8]]) throws(ProposalError) {
        guard !commands.isEmpty else { return }
        let entries = commands.map { Entry(term: .zero, index: .zero, kind: .command, data: $0) }
        switch role {
        case .leader:
            guard transferee == nil else { throw .transferInProgress }
            guard fitsUncommittedBudget(entries) else { throw .overloaded }
            appendAsLeader(entries)
        default:
            guard let leader, leader != config.id else { throw .noLeader }
            send(.propose(entries), to: leader)
        }
    }

    /// Proposes a single-server membership change (leader only). `context` is stored in the
    /// membership entry for the application (WRaft: every member's addresses).
    ///
    /// Refused while another change is uncommitted, and until this leader has committed an entry
    /// of its own term (the fix to single-server changes in Ongaro's 2015 raft-dev post).
    public mutating func proposeMembershipChange(_ change: ConfigChange, context: [UInt8]) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard transferee == nil else { throw .transferInProgress }
        guard membershipIndex <= log.committedIndex, log.term(at: log.committedIndex) == term else {
            throw .membershipChangePending
        }
        if change.kind == .remove && !membership.contains(change.node) { throw .unknownMember(change.node) }
        guard let next = change.applied(to: membership) else {
            throw .invalidMembershipChange("\(change.kind) \(change.node) changes nothing")
        }
        guard !next.voters.isEmpty else { throw .invalidMembershipChange("the last voter cannot be removed") }
        let data = MembershipChange(membership: next, change: change, context: context).encoded()
        let entry = Entry(term: term, index: .zero, kind: .membership, data: data)
        guard fitsUncommittedBudget([entry]) else { throw .overloaded }
        appendAsLeader([entry])
    }

    /// Hands leadership to `target` (dissertation 3.10): bring it up to date, then tell it to
    /// campaign at once. Proposals are refused meanwhile; the transfer is abandoned after an
    /// election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard target != config.id else { return }
        guard membership.isVoter(target), let peer = progress[target] else { throw .unknownMember(target) }
        if transferee == target { return }
        transferee = target
        electionElapsedTicks = 0
        if peer.matchIndex == log.lastIndex {
            send(.timeoutNow, to: target)
        } else {
            sendAppend(to: target)
        }
    }

    /// The voter (other than this leader) whose log is most up to date: the natural transfer
    /// target for a leader stepping down. Nil when not leader or alone.
    public var mostUpToDatePeer: NodeID? {
        guard role == .leader else { return nil }
        return membership.voters
            .filter { $0 != config.id }
            .max { a, b in (progress[a]?.matchIndex ?? .zero, a) < (progress[b]?.matchIndex ?? .zero, b) }
    }

    /// The transport could not reach `peer`: stop streaming to it and probe instead.
    public mutating func reportUnreachable(_ peer: NodeID) {
        guard role == .leader, var member = progress[peer], member.state == .replicate else { return }
        member.becomeProbe()
        progress[peer] = member
    }

    /// The outcome of sending `peer` the snapshot named in an `installSnapshot` message.
    public mutating func reportSnapshot(to peer: NodeID, succeeded: Bool) {
        guard role == .leader, var member = progress[peer], member.state == .snapshot else { return }
        member.finishSnapshot(succeeded: succeeded)
        progress[peer] = member
    }

    // MARK: Snapshots

    /// Metadata for a snapshot of the state machine as of `index`, which must be applied and
    /// still held in the log; nil otherwise.
    public func snapshotMetadata(at index: LogIndex) -> SnapshotMetadata? {
        guard index <= log.appliedIndex, index >= log.baseIndex, let term = log.term(at: index) else { return nil }
        let config = log.membership(at: index)
        return SnapshotMetadata(index: index, term: term, membership: config.membership, membershipContext: config.context)
    }

    /// Records a durable snapshot (to send to lagging followers) and drops the log entries up to
    /// `snapshot.index - retainingEntries`. Precondition: the snapshot's index is applied.
    public mutating func compact(to snapshot: SnapshotMetadata, retainingEntries: UInt64) {
        log.compact(to: snapshot, retainingEntries: retainingEntries)
    }
}

extension Progress {
    /// Ends a snapshot transfer: on success resume after the snapshot, on failure from the
    /// match point; either way wait for the next answer before sending more.
    mutating func finishSnapshot(succeeded: Bool) {
        if !succeeded { abandonPendingSnapshot() }
        becomeProbe()
        isProbeSent = true
    }
}
