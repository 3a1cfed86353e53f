import RaftCore
import RaftPipeline
import Testing

/// The proposal queue's rules, one event at a time. Time is a plain integer here.
@Suite struct ProposalQueueTests {
    typealias Queue = ProposalQueue<Int>

    static let local = NodeID(1)
    static let other = NodeID(2)
    static let third = NodeID(3)

    func makeQueue(writesMax: Int = 16, bytesMax: Int = 1_000, bug: Queue.DeliberateBug? = nil) -> Queue {
        Queue(localID: Self.local, limits: .init(writesMax: writesMax, commandBytesMax: bytesMax), deliberateBug: bug)
    }

    func id(_ raw: UInt64) -> ProposalID { ProposalID(raw) }

    /// Enqueues writes 1...count with one-byte commands equal to their id and deadline 100.
    func enqueue(_ queue: inout Queue, _ ids: ClosedRange<UInt64>, deadline: Int = 100) throws {
        for raw in ids { try queue.enqueue(id(raw), command: [UInt8(raw)], deadline: deadline) }
    }

    /// The ids of the batch a single `.propose` action offers.
    func proposedIDs(_ actions: [ProposalAction]) -> [ProposalID]? {
        guard actions.count == 1, case .propose(let batch) = actions[0] else { return nil }
        return batch.ids
    }

    func answers(_ actions: [ProposalAction]) -> [ProposalID: ProposalOutcome] {
        var found: [ProposalID: ProposalOutcome] = [:]
        for case .answer(let id, let outcome) in actions { found[id] = outcome }
        return found
    }

    /// Hands every queued write to the local core as leader, which takes them all.
    func proposeAll(_ queue: inout Queue, term: Term = Term(1), now: Int = 0) throws {
        let ids = try #require(proposedIDs(queue.flush(leader: Self.local, term: term, now: now)))
        #expect(queue.proposed(ids, refusal: nil, now: now).isEmpty)
    }

    // MARK: Handing over

    @Test func aLeaderProposesEveryQueuedWriteInOneBatchInOrder() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...3)
        #expect(queue.hasQueued)
        let actions = queue.flush(leader: Self.local, term: Term(4), now: 7)
        guard case .propose(let batch)? = actions.first, actions.count == 1 else {
            Issue.record("expected one propose, got \(actions)")
            return
        }
        #expect(batch.ids == [id(1), id(2), id(3)])
        #expect(batch.commands == [[1], [2], [3]])
        #expect(queue.stage(of: id(2)) == .proposing)
        #expect(queue.proposed(batch.ids, refusal: nil, now: 7).isEmpty)
        #expect(queue.stage(of: id(2)) == .handed(to: Self.local, term: Term(4), at: 7))
        #expect(queue.handedCount == 3)
        #expect(!queue.hasQueued)
        #expect(queue.flush(leader: Self.local, term: Term(4), now: 8).isEmpty, "nothing queued, nothing proposed")
    }

    @Test func aFollowerForwardsQueuedWritesToItsLeader() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...2)
        let actions = queue.flush(leader: Self.other, term: Term(3), now: 5)
        guard case .forward(let batch, let leader, let term)? = actions.first, actions.count == 1 else {
            Issue.record("expected one forward, got \(actions)")
            return
        }
        #expect(batch.ids == [id(1), id(2)] && leader == Self.other && term == Term(3))
        #expect(queue.stage(of: id(1)) == .handed(to: Self.other, term: Term(3), at: 5))
        #expect(queue.wasHanded(id(1)))
    }

    @Test func withNoLeaderTheCoreSaysWhyAndTheWritesWaitForOne() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...2)
        let ids = try #require(proposedIDs(queue.flush(leader: nil, term: Term(2), now: 0)))
        let actions = queue.proposed(ids, refusal: .noLeader, now: 0)
        #expect(actions == [.refused([id(1), id(2)], .noLeader)], "refused, but nobody is answered")
        #expect(queue.stage(of: id(1)) == .waitingForLeader)
        #expect(!queue.wasHanded(id(1)))

        queue.leaderChanged(to: Self.other, term: Term(3))
        #expect(queue.stage(of: id(1)) == .queued && queue.stage(of: id(2)) == .queued)
    }

    // MARK: Overloaded

    @Test func anOverloadedBatchIsSplitSoTheCommandsThatFitGoInInOrder() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...4)
        // The core has room for one command only.
        var offered: [[ProposalID]] = []
        var actions = queue.flush(leader: Self.local, term: Term(1), now: 0)
        var taken = 0
        var final: [ProposalAction] = []
        while let ids = proposedIDs(actions) {
            offered.append(ids)
            let fits = taken + ids.count <= 1
            if fits { taken += ids.count }
            actions = queue.proposed(ids, refusal: fits ? nil : .overloaded, now: 0)
            final = actions
        }
        #expect(offered == [[id(1), id(2), id(3), id(4)], [id(1), id(2)], [id(1)], [id(2)]])
        #expect(final.first == .refused([id(2), id(3), id(4)], .overloaded))
        #expect(answers(final) == [id(2): .notApplied(.overloaded), id(3): .notApplied(.overloaded), id(4): .notApplied(.overloaded)],
            "fresh writes no core took are answered not applied")
        #expect(queue.ids == [id(1)])
        #expect(queue.stage(of: id(1)) == .handed(to: Self.local, term: Term(1), at: 0))
    }

    @Test func aReproposedWriteRefusedAsOverloadedStaysHeldAndIsUnknownAtItsDeadline() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...1, deadline: 50)
        try proposeAll(&queue, now: 0)
        try enqueue(&queue, 2...2, deadline: 50)

        // Stalled: handed again with a fresh write; the core has no room for either.
        queue.retryStalled(handedAtOrBefore: 10, leader: Self.local)
        var actions = queue.flush(leader: Self.local, term: Term(1), now: 10)
        var final: [ProposalAction] = []
        while let ids = proposedIDs(actions) {
            actions = queue.proposed(ids, refusal: .overloaded, now: 10)
            final = actions
        }
        #expect(final.first == .refused([id(2), id(1)], .overloaded), "in the order queued: the fresh write, then the stalled one")
        #expect(answers(final) == [id(2): .notApplied(.overloaded)], "only the write no core ever took is answered")
        #expect(queue.stage(of: id(1)) == .backingOff(since: 10))

        #expect(queue.expire(now: 49).isEmpty)
        #expect(queue.expire(now: 50) == [.answer(id(1), .unknown)])
        #expect(queue.isEmpty)
    }

    @Test func aWriteBackingOffIsHandedAgainOnceStalledOrWhenTheLeaderChanges() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...1)
        try proposeAll(&queue, now: 0)
        queue.retryStalled(handedAtOrBefore: 0, leader: Self.local)
        let ids = try #require(proposedIDs(queue.flush(leader: Self.local, term: Term(1), now: 20)))
        _ = queue.proposed(ids, refusal: .overloaded, now: 20)
        #expect(queue.stage(of: id(1)) == .backingOff(since: 20))

        queue.retryStalled(handedAtOrBefore: 19, leader: Self.local)
        #expect(queue.stage(of: id(1)) == .backingOff(since: 20), "not yet stalled")
        queue.retryStalled(handedAtOrBefore: 20, leader: Self.local)
        #expect(queue.stage(of: id(1)) == .queued)

        let again = try #require(proposedIDs(queue.flush(leader: Self.local, term: Term(1), now: 21)))
        _ = queue.proposed(again, refusal: .overloaded, now: 21)
        queue.leaderChanged(to: Self.other, term: Term(2))
        #expect(queue.stage(of: id(1)) == .queued)
    }

    @Test func theDeliberateBugRefusesTheWholeBatchAndAnswersHandedWritesNotApplied() throws {
        var queue = makeQueue(bug: .refusesOverloadedBatchWhole)
        try enqueue(&queue, 1...1)
        try proposeAll(&queue, now: 0)
        try enqueue(&queue, 2...2)
        queue.retryStalled(handedAtOrBefore: 0, leader: Self.local)
        let ids = try #require(proposedIDs(queue.flush(leader: Self.local, term: Term(1), now: 5)))
        #expect(ids == [id(2), id(1)])
        let actions = queue.proposed(ids, refusal: .overloaded, now: 5)
        #expect(proposedIDs(actions) == nil, "no split")
        #expect(answers(actions) == [id(1): .notApplied(.overloaded), id(2): .notApplied(.overloaded)],
            "the rule broken on purpose: write 1 may be in the log, yet it is answered not applied")
    }

    // MARK: Leader changes and stalls

    @Test func aLeaderChangeHandsOverWhatTheOldLeaderMayHaveLostAndNothingTwice() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...1)
        _ = queue.flush(leader: Self.other, term: Term(2), now: 0)  // 1: forwarded to node 2 in term 2
        try enqueue(&queue, 2...2)
        _ = queue.flush(leader: Self.third, term: Term(3), now: 1)  // 2: forwarded to node 3 in term 3
        try enqueue(&queue, 3...3)  // 3: still queued

        queue.leaderChanged(to: Self.third, term: Term(3))
        #expect(queue.stage(of: id(1)) == .queued, "handed to another leader")
        #expect(queue.stage(of: id(2)) == .handed(to: Self.third, term: Term(3), at: 1), "handed to this very leader")

        queue.leaderChanged(to: Self.third, term: Term(5))
        #expect(queue.stage(of: id(2)) == .queued, "handed to the same node in an older term")

        queue.retryStalled(handedAtOrBefore: 100, leader: Self.third)
        let actions = queue.flush(leader: Self.third, term: Term(5), now: 2)
        guard case .forward(let batch, _, _)? = actions.first else {
            Issue.record("expected a forward, got \(actions)")
            return
        }
        #expect(batch.ids == [id(3), id(1), id(2)], "each write once, in the order queued")
    }

    @Test func theStallRetryHandsOverOnlyWhatWasHandedLongEnoughAgoAndNothingWithoutALeader() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...1)
        _ = queue.flush(leader: Self.other, term: Term(2), now: 10)
        try enqueue(&queue, 2...2)
        _ = queue.flush(leader: Self.other, term: Term(2), now: 30)

        queue.retryStalled(handedAtOrBefore: 100, leader: nil)
        #expect(!queue.hasQueued, "no leader: nothing to hand over to")
        queue.retryStalled(handedAtOrBefore: 20, leader: Self.other)
        #expect(queue.stage(of: id(1)) == .queued)
        #expect(queue.stage(of: id(2)) == .handed(to: Self.other, term: Term(2), at: 30))
    }

    // MARK: Answers

    @Test func anAppliedWriteIsAnsweredOnceAndLeavesTheQueue() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...2)
        try proposeAll(&queue)
        let applied1 = queue.applied(id(1))
        #expect(applied1)
        let applied2 = queue.applied(id(1))
        #expect(!applied2, "a duplicate copy applied later answers nobody")
        let applied3 = queue.applied(id(9))
        #expect(!applied3)
        #expect(queue.ids == [id(2)])

        // A re-queued write whose first copy applies is not proposed again.
        queue.leaderChanged(to: Self.other, term: Term(2))
        let applied4 = queue.applied(id(2))
        #expect(applied4)
        #expect(!queue.hasQueued)
        #expect(queue.flush(leader: Self.other, term: Term(2), now: 1).isEmpty)
        #expect(queue.commandBytes == 0)
    }

    @Test func atItsDeadlineAWriteIsUnknownIfEverHandedElseNotApplied() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...1, deadline: 10)
        try proposeAll(&queue)
        try enqueue(&queue, 2...2, deadline: 10)
        let ids = try #require(proposedIDs(queue.flush(leader: nil, term: Term(2), now: 1)))
        _ = queue.proposed(ids, refusal: .noLeader, now: 1)
        try enqueue(&queue, 3...3, deadline: 11)

        #expect(queue.expire(now: 10) == [.answer(id(1), .unknown), .answer(id(2), .notApplied(.noLeader))])
        #expect(queue.ids == [id(3)])
    }

    // MARK: Bounds and stop

    @Test func theQueueIsBoundedInWritesAndInBytes() throws {
        var byCount = makeQueue(writesMax: 2)
        try enqueue(&byCount, 1...2)
        #expect(throws: ProposalQueueFull()) { try byCount.enqueue(ProposalID(3), command: [3], deadline: 1) }

        var byBytes = makeQueue(bytesMax: 5)
        try byBytes.enqueue(ProposalID(1), command: [1, 1, 1], deadline: 1)
        #expect(byBytes.isFull(adding: 3))
        #expect(throws: ProposalQueueFull()) { try byBytes.enqueue(ProposalID(2), command: [2, 2, 2], deadline: 1) }
        try byBytes.enqueue(ProposalID(2), command: [2, 2], deadline: 1)
        #expect(byBytes.commandBytes == 5)
        let applied5 = byBytes.applied(ProposalID(1))
        #expect(applied5)
        #expect(byBytes.commandBytes == 2, "bytes are given back when a write leaves")
    }

    @Test func removeAllDropsEverything() throws {
        var queue = makeQueue()
        try enqueue(&queue, 1...3)
        _ = queue.flush(leader: Self.other, term: Term(1), now: 0)
        try enqueue(&queue, 4...4)
        #expect(queue.removeAll() == [id(1), id(2), id(3), id(4)])
        #expect(queue.isEmpty && !queue.hasQueued && queue.commandBytes == 0)
    }
}
