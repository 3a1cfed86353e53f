import RaftCore

/// A full `ProposalQueue`: the client is told `503 overloaded` before anything is proposed.
public struct ProposalQueueFull: Error, Equatable, Sendable {
    public init() {}
}

/// The client writes of one node, from the moment they are accepted until their client is
/// answered, as a pure state machine: events go in, actions come out, and the executor (the
/// node's runtime, or the simulator) carries the actions out in the order given. It does no I/O
/// and reads no clock: time comes in with the events, as `Instant` (the runtime's clock
/// instant, the simulator's tick).
///
/// The rules:
/// - Writes accepted together are handed over together (`flush`): to the local core when this
///   node leads (or knows no leader, so the core says why not), else straight to the leader.
/// - A batch the core refuses as overloaded is split: the first half is proposed alone, and so
///   on, so the commands that still fit go in; the rest keep their order behind them.
/// - A write refused as overloaded the first time it is handed over is answered "not applied"
///   (503): no copy of it exists. A write that was ever handed to a core or a leader may be in
///   a log and commit later, whatever happens to a re-proposal: it stays held, and is answered
///   when applied, or "unknown" (504) at its deadline. This is the invariant
///   `HandedIsNeverNotApplied`, checked where every "not applied" answer is made.
/// - A write handed over is handed again (same command, same request id: the state machine's
///   client sessions apply it at most once) when the leader changes, or when it stalled: no
///   answer within the stall interval (a forwarded proposal can be lost with its message).
///
/// Invariants: `writes.count <= limits.writesMax` and `commandBytes <= limits.commandBytesMax`;
/// `flushOrder` holds exactly the writes in stage `.queued`, each once; `proposing` is set only
/// between a `.propose` action and the core's answer, and then holds exactly the writes in
/// stage `.proposing`.
public struct ProposalQueue<Instant: Comparable & Sendable>: Sendable {
    /// The named bounds on what clients can make the queue hold.
    public struct Limits: Sendable, Equatable {
        /// The most writes held at once.
        public var writesMax: Int
        /// The most command bytes held at once.
        public var commandBytesMax: Int

        public init(writesMax: Int, commandBytesMax: Int) {
            precondition(writesMax >= 1 && commandBytesMax >= 1, "ProposalQueue.Limits: the bounds are validated as >= 1")
            self.writesMax = writesMax
            self.commandBytesMax = commandBytesMax
        }
    }

    /// Where one write is.
    public enum Stage: Equatable, Sendable {
        /// Waits for the next `flush`.
        case queued
        /// In the batch being proposed to the local core now.
        case proposing
        /// Appended by the local core as leader, or forwarded to `leader`, in `term`, at `at`.
        case handed(to: NodeID, term: Term, at: Instant)
        /// Refused for want of a leader (none known, a transfer, not a member...): handed over
        /// again at the next leader change or stall retry.
        case waitingForLeader
        /// Handed over before, then refused as overloaded on a re-proposal: its earlier copy may
        /// still commit. Handed over again at the next leader change, or once stalled.
        case backingOff(since: Instant)
    }

    /// A rule broken on purpose, to show that the simulator's checker catches it.
    public enum DeliberateBug: Sendable, Equatable {
        /// The runtime before the fix of issue 9's bug 1: a batch the core refuses as overloaded
        /// is not split, and every write in it is answered "not applied", even one already handed
        /// to a leader. `HandedIsNeverNotApplied` is then not checked (it is the rule broken).
        case refusesOverloadedBatchWhole
    }

    struct Write: Sendable {
        let command: [UInt8]
        let deadline: Instant
        var stage: Stage
        /// Some core or leader took the command at least once. Invariant: never goes back to
        /// false.
        var wasHanded = false
    }

    /// The batch being proposed to the local core, split while the core refuses it as overloaded.
    struct Proposing: Sendable {
        /// The writes not yet taken by the core, in order.
        var remaining: ArraySlice<ProposalID>
        /// How many of `remaining` (from its start) the last `.propose` offered.
        var attemptCount: Int
        let leader: NodeID?
        let term: Term
    }

    public let localID: NodeID
    public let limits: Limits
    public let deliberateBug: DeliberateBug?
    private var writes: [ProposalID: Write] = [:]
    /// The writes in stage `.queued`, in the order they are handed over.
    private var flushOrder: [ProposalID] = []
    private var proposing: Proposing?
    /// The command bytes held.
    public private(set) var commandBytes = 0

    public init(localID: NodeID, limits: Limits, deliberateBug: DeliberateBug? = nil) {
        self.localID = localID
        self.limits = limits
        self.deliberateBug = deliberateBug
        writes.reserveCapacity(min(limits.writesMax, 1_024))
    }

    // MARK: Queries

    /// How many writes are held.
    public var count: Int { writes.count }
    public var isEmpty: Bool { writes.isEmpty }
    /// Whether a `flush` has something to hand over.
    public var hasQueued: Bool { !flushOrder.isEmpty }
    /// Every write held, in id order.
    public var ids: [ProposalID] { writes.keys.sorted() }
    /// How many writes held were ever handed to a core or a leader.
    public var handedCount: Int { writes.values.reduce(0) { $0 + ($1.wasHanded ? 1 : 0) } }

    public func stage(of id: ProposalID) -> Stage? { writes[id]?.stage }
    public func wasHanded(_ id: ProposalID) -> Bool { writes[id]?.wasHanded ?? false }

    /// Whether one more write of `commandBytes` bytes would exceed a bound.
    public func isFull(adding commandBytes: Int) -> Bool {
        writes.count >= limits.writesMax || self.commandBytes + commandBytes > limits.commandBytesMax
    }

    // MARK: Events

    /// A client's write was accepted: it waits for the next `flush`.
    public mutating func enqueue(_ id: ProposalID, command: [UInt8], deadline: Instant) throws(ProposalQueueFull) {
        precondition(writes[id] == nil, "ProposalQueue: an id is enqueued once")
        guard !isFull(adding: command.count) else { throw ProposalQueueFull() }
        writes[id] = Write(command: command, deadline: deadline, stage: .queued)
        commandBytes += command.count
        flushOrder.append(id)
    }

    /// Hands every queued write over in one batch: to `leader` when another node leads, else to
    /// the local core (which answers through `proposed`).
    public mutating func flush(leader: NodeID?, term: Term, now: Instant) -> [ProposalAction] {
        precondition(proposing == nil, "ProposalQueue: the core answers a proposal before the next flush")
        guard !flushOrder.isEmpty else { return [] }
        let ids = flushOrder
        flushOrder.removeAll(keepingCapacity: true)
        let batch = makeBatch(ids[...])
        if let leader, leader != localID {
            for id in ids { markHanded(id, to: leader, term: term, at: now) }
            return [.forward(batch, to: leader, term: term)]
        }
        for id in ids { writes[id]?.stage = .proposing }
        proposing = Proposing(remaining: ids[...], attemptCount: ids.count, leader: leader, term: term)
        return [.propose(batch)]
    }

    /// The core's answer to the last `.propose`: nil when it took every command, else why it
    /// took none.
    public mutating func proposed(_ ids: [ProposalID], refusal: ProposalError?, now: Instant) -> [ProposalAction] {
        guard var current = proposing else {
            preconditionFailure("ProposalQueue: an answer comes only for a batch being proposed")
        }
        precondition(
            ids.elementsEqual(current.remaining.prefix(current.attemptCount)),
            "ProposalQueue: the answer is for the batch last proposed")
        switch refusal {
        case nil:
            for id in ids { markHanded(id, to: current.leader ?? localID, term: current.term, at: now) }
            current.remaining.removeFirst(ids.count)
            guard !current.remaining.isEmpty else {
                proposing = nil
                return []
            }
            // What did not fit whole before is offered in pieces of the size that fitted.
            current.attemptCount = min(current.attemptCount, current.remaining.count)
            proposing = current
            return [.propose(makeBatch(current.remaining.prefix(current.attemptCount)))]
        case .overloaded? where current.attemptCount > 1 && deliberateBug == nil:
            // The first half may still fit; the rest waits behind it (commands keep their order).
            current.attemptCount /= 2
            proposing = current
            return [.propose(makeBatch(current.remaining.prefix(current.attemptCount)))]
        case let error?:
            proposing = nil
            return refuse(Array(current.remaining), because: error, now: now)
        }
    }

    /// Another leader (or the same one in a later term) is known: hand it what the previous one
    /// may have lost, and what waited for a leader.
    public mutating func leaderChanged(to leader: NodeID, term: Term) {
        precondition(proposing == nil, "ProposalQueue: the core answers a proposal before other events")
        for id in writes.keys.sorted() {
            switch writes[id]?.stage {
            case .handed(let handedTo, let handedTerm, _)?:
                if handedTo != leader || handedTerm < term { requeue(id) }
            case .waitingForLeader?, .backingOff?:
                requeue(id)
            case .queued?, .proposing?, nil:
                break
            }
        }
    }

    /// Hands over again what stalled: handed at or before `cutoff` and still not applied, or
    /// waiting for a leader. Nothing while no leader is known.
    public mutating func retryStalled(handedAtOrBefore cutoff: Instant, leader: NodeID?) {
        precondition(proposing == nil, "ProposalQueue: the core answers a proposal before other events")
        guard leader != nil else { return }
        for id in writes.keys.sorted() {
            switch writes[id]?.stage {
            case .handed(_, _, let at)?:
                if at <= cutoff { requeue(id) }
            case .backingOff(let since)?:
                if since <= cutoff { requeue(id) }
            case .waitingForLeader?:
                requeue(id)
            case .queued?, .proposing?, nil:
                break
            }
        }
    }

    /// The entry carrying this write's command was applied. True when the write was held here:
    /// the executor answers it with the state machine's result (it is no longer held).
    public mutating func applied(_ id: ProposalID) -> Bool {
        precondition(proposing == nil, "ProposalQueue: the core answers a proposal before other events")
        return remove(id) != nil
    }

    /// Answers every write whose deadline is at or before `now`: "unknown" if it was ever handed
    /// over, else "not applied".
    public mutating func expire(now: Instant) -> [ProposalAction] {
        precondition(proposing == nil, "ProposalQueue: the core answers a proposal before other events")
        var actions: [ProposalAction] = []
        for id in writes.keys.sorted() {
            guard let write = writes[id], write.deadline <= now else { continue }
            if write.wasHanded {
                remove(id)
                actions.append(.answer(id, .unknown))
            } else {
                actions.append(answerNotApplied(id, .noLeader))
            }
        }
        return actions
    }

    /// Drops every write (the node stops; the executor answers them its own way). Their ids,
    /// in order.
    public mutating func removeAll() -> [ProposalID] {
        let ids = writes.keys.sorted()
        writes.removeAll()
        flushOrder.removeAll()
        proposing = nil
        commandBytes = 0
        return ids
    }

    // MARK: Transitions

    private mutating func refuse(_ ids: [ProposalID], because error: ProposalError, now: Instant) -> [ProposalAction] {
        var actions: [ProposalAction] = [.refused(ids, error)]
        for id in ids {
            guard let write = writes[id] else { continue }
            switch error {
            case .overloaded:
                if write.wasHanded && deliberateBug == nil {
                    // Its earlier copy may be in a log and commit later: "not applied" would be
                    // a lie. It stays, to be handed over again once stalled.
                    writes[id]?.stage = .backingOff(since: now)
                } else {
                    actions.append(answerNotApplied(id, .overloaded))
                }
            case .noLeader, .transferInProgress, .notLeader, .notMember, .membershipChangePending,
                .invalidMembershipChange, .unknownMember:
                writes[id]?.stage = .waitingForLeader
            }
        }
        return actions
    }

    /// The one place a write is answered "not applied".
    private mutating func answerNotApplied(_ id: ProposalID, _ reason: NotAppliedReason) -> ProposalAction {
        let write = remove(id)
        precondition(
            deliberateBug != nil || write?.wasHanded == false,
            "ProposalQueue: HandedIsNeverNotApplied: a write once handed to a core or a leader may be in a log; it is never answered not-applied")
        return .answer(id, .notApplied(reason))
    }

    private mutating func markHanded(_ id: ProposalID, to leader: NodeID, term: Term, at now: Instant) {
        writes[id]?.stage = .handed(to: leader, term: term, at: now)
        writes[id]?.wasHanded = true
    }

    private mutating func requeue(_ id: ProposalID) {
        precondition(writes[id] != nil && writes[id]?.stage != .queued, "ProposalQueue: only a held write not queued is requeued")
        writes[id]?.stage = .queued
        flushOrder.append(id)
    }

    @discardableResult
    private mutating func remove(_ id: ProposalID) -> Write? {
        guard let write = writes.removeValue(forKey: id) else { return nil }
        commandBytes -= write.command.count
        if write.stage == .queued, let position = flushOrder.firstIndex(of: id) {
            flushOrder.remove(at: position)
        }
        return write
    }

    private func makeBatch(_ ids: ArraySlice<ProposalID>) -> ProposalBatch {
        let commands = ids.map { id in
            guard let write = writes[id] else { preconditionFailure("ProposalQueue: a batch holds only writes held here") }
            return write.command
        }
        return ProposalBatch(ids: Array(ids), commands: commands)
    }
}
