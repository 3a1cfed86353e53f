import KVStore
import RaftCore
import RaftPipeline

/// Client writes as the node's runtime handles them: each node holds its writes in the shipped
/// `ProposalQueue` and carries out its actions (propose to the core, split when overloaded,
/// forward to the leader, retry after a leader change or a stall, answer at the deadline). The
/// checker holds every answer to what the history applied: a write answered "not applied" (503)
/// whose command the state machine executed breaks linearizability ("ClientOutcome").
extension Simulation {
    /// A client sends a fresh write to `id`; nil when the node is down or its queue is full (the
    /// client is refused at once, nothing is held).
    @discardableResult
    public func write(at id: NodeID) -> Proposal? {
        guard let node = node(id), node.isRunning else { return nil }
        let ticket = nextTicket
        nextTicket += 1
        let deadline = now + UInt64(options.clientWriteDeadlineTicks)
        do {
            try node.proposals.enqueue(ProposalID(ticket), command: Simulation.command(ticket: ticket), deadline: deadline)
        } catch {
            record(.refused(id, "write #\(ticket): the proposal queue is full", .overloaded))
            return nil
        }
        proposals[ticket] = ProposalRecord(proposer: id, proposedAt: now)
        record(.propose(id, "write #\(ticket)"))
        return Proposal(ticket: ticket, proposer: id)
    }

    /// What the write's client was told, once it was.
    public func answer(of proposal: Proposal) -> ClientWriteAnswer? { proposals[proposal.ticket]?.answer }

    func makeProposalQueue(for id: NodeID) -> ProposalQueue<UInt64> {
        ProposalQueue(
            localID: id,
            limits: .init(writesMax: options.proposalQueueWritesMax, commandBytesMax: options.proposalQueueBytesMax),
            deliberateBug: options.breaksProposalRuleOnPurpose ? .refusesOverloadedBatchWhole : nil)
    }

    /// The runtime's part of each turn for client writes: notice a new leader, retry what
    /// stalled, answer what reached its deadline, hand over what is queued.
    func serveClientWrites(of node: SimulatedNode) {
        guard let status = node.core?.status else { return }
        if status.leader != node.observedLeader {
            node.observedLeader = status.leader
            if let leader = status.leader { node.proposals.leaderChanged(to: leader, term: status.term) }
        }
        let stall = UInt64(options.clientWriteStallTicks)
        if now >= stall { node.proposals.retryStalled(handedAtOrBefore: now - stall, leader: status.leader) }
        perform(node.proposals.expire(now: now), on: node)
        perform(node.proposals.flush(leader: status.leader, term: status.term, now: now), on: node)
    }

    /// Carries out the queue's actions in order; the core's answer to a proposal is reported at
    /// once and its follow-up carried out first.
    private func perform(_ actions: [ProposalAction], on node: SimulatedNode) {
        var pending = actions[...]
        while let action = pending.popFirst() {
            switch action {
            case .propose(let batch):
                var refusal: ProposalError?
                do {
                    try node.core?.propose(commands: batch.commands)
                } catch {
                    refusal = error
                }
                if refusal == .overloaded { clientWriteCounts.overloadedRefusals += 1 }
                let next = node.proposals.proposed(batch.ids, refusal: refusal, now: now)
                if !next.isEmpty { pending = ArraySlice(next + pending) }
            case .forward(let batch, let leader, let term):
                let entries = batch.commands.map { Entry(term: .zero, index: .zero, kind: .command, data: $0) }
                send(Message(from: node.id, to: leader, term: term, payload: .propose(entries)), from: node)
            case .refused(let ids, let error):
                record(.refused(node.id, "writes " + ids.map { "#\($0.rawValue)" }.joined(separator: ","), error))
            case .answer(let id, let outcome):
                switch outcome {
                case .notApplied: answer(ticket: id.rawValue, .notApplied, on: node)
                case .unknown: answer(ticket: id.rawValue, .unknown, on: node)
                }
            }
        }
    }

    /// An entry carrying a ticket's command was applied on `node` with `result`.
    func clientWriteApplied(ticket: UInt64, result: KVResult, at index: LogIndex, on node: SimulatedNode) {
        guard var record = proposals[ticket] else { return }
        let isExecution: Bool
        switch result {
        case .put, .deleted, .compareFailed, .txn, .compacted, .leaseGranted, .leaseRevoked, .rejected: isExecution = true
        case .sessionExpired, .undecodable: isExecution = false
        }
        if isExecution && !record.isExecuted {
            record.isExecuted = true
            proposals[ticket] = record
            if record.answer == .notApplied {
                fail("ClientOutcome", "write #\(ticket) was answered not applied (503) by \(TraceFormat.name(record.proposer)), yet it is applied at index \(index)")
            }
        }
        guard record.proposer == node.id, node.proposals.applied(ProposalID(ticket)) else { return }
        if case .sessionExpired = result {
            answer(ticket: ticket, .unknown, on: node)
        } else {
            answer(ticket: ticket, .applied, on: node)
        }
    }

    private func answer(ticket: UInt64, _ answer: ClientWriteAnswer, on node: SimulatedNode) {
        guard var record = proposals[ticket] else { return }
        precondition(record.answer == nil, "Simulation: a client write is answered once")
        record.answer = answer
        proposals[ticket] = record
        switch answer {
        case .applied: clientWriteCounts.applied += 1
        case .notApplied: clientWriteCounts.notApplied += 1
        case .unknown: clientWriteCounts.unknown += 1
        case .lost: clientWriteCounts.lost += 1
        }
        self.record(.note("\(TraceFormat.name(node.id)) answers write #\(ticket): \(answer)"))
        if answer == .notApplied && record.isExecuted {
            fail("ClientOutcome", "write #\(ticket) was answered not applied (503) by \(TraceFormat.name(node.id)), yet it was applied at index \(record.appliedIndex.map { "\($0)" } ?? "?")")
        }
    }

    /// The node crashed: its clients are left without an answer.
    func loseClientWrites(of node: SimulatedNode) {
        for id in node.proposals.removeAll() { answer(ticket: id.rawValue, .lost, on: node) }
    }
}
