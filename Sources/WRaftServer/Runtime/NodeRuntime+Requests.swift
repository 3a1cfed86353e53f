import KVStore
import RaftCore
import RaftPipeline
import WRaftAPI

// Client writes and linearizable reads: proposals batched per Ready turn, answers matched by
// request id when applied, retries on leader change, deadlines. What happens to a write between
// its arrival and its answer is `ProposalQueue`'s (RaftPipeline, the same type the simulator
// drives); this file carries out its actions.
extension NodeRuntime {
    /// How long a proposal or read request may go unanswered before it is handed to the core
    /// again (a forwarded proposal can be lost with a message; the session makes a retry safe).
    var retryInterval: Duration { .milliseconds(max(1_000, 3 * options.electionTimeoutMs)) }
    var readRetryInterval: Duration { .milliseconds(max(200, options.electionTimeoutMs)) }
    static let retryAfterMs = 500

    func notRunningError() -> NodeError {
        switch lifecycle {
        case .initial, .starting:
            return .wrongState(code: .notRunning, message: "the node is \(lifecycle.rawValue): /connect and /start it first")
        case .running, .stopped:
            return .noLeader(retryAfterMs: Self.retryAfterMs)
        }
    }

    // MARK: Writes

    func write(_ request: WriteRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> WriteOutcome {
        try Self.validate(key: request.key)
        if case .put(let value) = request.operation, value.count > KVCommand.valueBytesMax {
            throw .valueTooLarge(bytes: value.count, limit: KVCommand.valueBytesMax)
        }
        guard lifecycle == .running, core != nil else { throw notRunningError() }
        // A paused (frozen) node takes no part in Raft: the write could not commit, and refusing
        // it now says so plainly, where accepting it would end in 504 unknown_outcome.
        guard !faults.isPaused else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
        guard request.lease >= 0 else { throw .badRequest(code: .badLease, message: "a lease id is positive") }
        let operation = Self.operation(of: request)
        try checkQuota(operation)
        var command = KVCommand(id: .unidentified, operation: operation)
        if case .put(let key, let value, let condition, _) = command.request, request.lease != 0 {
            command.request = .put(key: key, value: value, condition: condition, lease: request.lease)
        }
        let result = try await propose(command.request, deadline: deadline)
        return try Self.outcome(of: result, key: request.key).get()
    }

    /// Proposes one command and waits for the state machine's result (or the proposal queue's
    /// answer that it was not, or may not have been, applied). The caller checked its bounds.
    func propose(_ request: KVRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> KVResult {
        guard lifecycle == .running, core != nil else { throw notRunningError() }
        guard !faults.isPaused else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
        let sequence = nextWriteSequence
        let command = KVCommand(id: requestID(forWrite: sequence), request: request)
        precondition(command.isWithinBounds, "NodeRuntime: a command is checked against its bounds before it is proposed")
        do throws(ProposalQueueFull) {
            try proposals.enqueue(ProposalID(sequence), command: command.encoded(), deadline: deadline)
        } catch {
            throw .overloaded(retryAfterMs: Self.retryAfterMs)
        }
        nextWriteSequence += 1
        let started = ContinuousClock.now
        defer { metrics.writeTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started)) }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<KVResult, NodeError>, Never>) in
            writeWaiters[sequence] = WriteWaiter(continuation: continuation)
            scheduleFlush()
            kick()
        }
        return try result.get()
    }

    /// Refuses a write that would grow the store past `options.quotaBytes` (`--quota-bytes`).
    /// The store's size counts its retained history (`KVStore.quotaByteCount`): a put adds its
    /// value to the history too, so room comes back with a delete and a compaction. Deletes
    /// always pass, so room can be freed.
    ///
    /// The node that receives the write decides, from the state it has applied, before anything
    /// is proposed (a follower then forwards what passed). Applied state trails the log by what
    /// is in flight, so the store can end up past the quota by at most the writes accepted
    /// meanwhile (bounded by the pending-write and uncommitted-bytes limits), never by more.
    func checkQuota(_ operation: KVOperation) throws(NodeError) {
        guard case .put = operation else { return }
        let after = store.quotaByteCount(afterApplying: operation)
        guard after <= options.quotaBytes else {
            throw .quotaExceeded(bytes: after, limit: options.quotaBytes)
        }
    }

    static func validate(key: String) throws(NodeError) {
        let bytes = key.utf8.count
        guard bytes >= 1 else { throw .badRequest(code: .badKey, message: "the key is empty") }
        guard bytes <= KVCommand.keyBytesMax else {
            throw .badRequest(code: .badKey, message: "the key has \(bytes) bytes; at most \(KVCommand.keyBytesMax)")
        }
    }

    static func operation(of request: WriteRequest) -> KVOperation {
        let key = Array(request.key.utf8)
        let condition: KVCondition
        switch request.condition {
        case .none: condition = .none
        case .valueEquals(let value): condition = .valueEquals(value)
        case .indexEquals(let index): condition = .indexEquals(index)
        }
        switch request.operation {
        case .put(let value): return .put(key: key, value: value, condition: condition)
        case .delete: return .delete(key: key, condition: condition)
        }
    }

    /// Request ids: the write's sequence spread over `requestLanes` client ids of this
    /// incarnation, each with its own contiguous sequence.
    func requestID(forWrite sequence: UInt64) -> ClientRequestID {
        let lane = sequence % Self.requestLanes
        return ClientRequestID(client: incarnation | lane, sequence: sequence / Self.requestLanes + 1)
    }

    /// The write sequence an applied request id stands for, if this incarnation made it.
    func writeSequence(of id: ClientRequestID) -> UInt64? {
        guard id.client & ~(Self.requestLanes - 1) == incarnation, id.sequence >= 1 else { return nil }
        return (id.sequence - 1) * Self.requestLanes + (id.client & (Self.requestLanes - 1))
    }

    /// Flushes the queued proposals as soon as this actor turn ends: the writes that arrive
    /// together share one batch, and none waits for a Ready being persisted.
    private func scheduleFlush() {
        guard !isFlushScheduled else { return }
        isFlushScheduled = true
        Task { self.flushScheduledProposals() }
    }

    /// Already a turn of its own, after the requests that arrived with it: the Ready loop runs
    /// here rather than in yet another task (one hop less for a lone client's write).
    private func flushScheduledProposals() {
        isFlushScheduled = false
        guard lifecycle == .running else { return }
        flushProposals()
        driveNow()
    }

    /// The most command bytes forwarded in one `propose` message (at least one command goes).
    static let forwardedBytesMax = 1 << 20

    /// Hands every queued write over in one batch, as `ProposalQueue` decides: to the core on a
    /// leader; straight to the leader on a follower (a forwarded proposal promises nothing
    /// durable, so it need not wait for this node's own Ready to be persisted).
    func flushProposals() {
        guard proposals.hasQueued, let core else { return }
        performProposals(proposals.flush(leader: core.currentLeader, term: core.currentTerm, now: clock.now))
    }

    /// Carries out the proposal queue's actions, in order; the core's answer to a proposal is
    /// reported at once and its follow-up (a split batch's next part) carried out first.
    private func performProposals(_ actions: [ProposalAction]) {
        var pending = actions[...]
        while let action = pending.popFirst() {
            switch action {
            case .propose(let batch):
                let refusal = proposeToCore(batch.commands)
                if refusal == nil { metrics.proposals.increment(by: batch.count) }
                let next = proposals.proposed(batch.ids, refusal: refusal, now: clock.now)
                if !next.isEmpty { pending = ArraySlice(next + pending) }
            case .forward(let batch, let leader, let term):
                metrics.proposals.increment(by: batch.count)
                forward(batch.commands, to: leader, term: term)
            case .refused(let ids, _):
                metrics.proposalsRefused.increment(by: ids.count)
            case .answer(let id, let outcome):
                answer(id, outcome)
            }
        }
    }

    /// Proposes commands to this node's core in one call; why it refused them, if it did.
    private func proposeToCore(_ commands: [[UInt8]]) -> ProposalError? {
        guard core != nil else { return .noLeader }
        do {
            try core?.propose(commands: commands)
            return nil
        } catch {
            return error
        }
    }

    /// Sends commands to the leader in `propose` messages of at most `forwardedBytesMax` bytes.
    private func forward(_ commands: [[UInt8]], to leader: NodeID, term: Term) {
        var messages: [Message] = []
        var entries: [Entry] = []
        var bytes = 0
        for command in commands {
            if !entries.isEmpty && bytes + command.count > Self.forwardedBytesMax {
                messages.append(Message(from: localID, to: leader, term: term, payload: .propose(entries)))
                entries = []
                bytes = 0
            }
            entries.append(Entry(term: .zero, index: .zero, kind: .command, data: command))
            bytes += command.count
        }
        if !entries.isEmpty { messages.append(Message(from: localID, to: leader, term: term, payload: .propose(entries))) }
        send(messages)
    }

    /// Answers a write the queue gave up on: 503 only when no copy of it can ever reach a log
    /// (the queue's `HandedIsNeverNotApplied`), else 504.
    private func answer(_ id: ProposalID, _ outcome: ProposalOutcome) {
        guard let waiter = writeWaiters.removeValue(forKey: id.rawValue) else {
            preconditionFailure("NodeRuntime: every write the proposal queue holds has a waiter")
        }
        let error: NodeError
        switch outcome {
        case .notApplied(.overloaded):
            error = .overloaded(retryAfterMs: Self.retryAfterMs)
        case .notApplied(.noLeader):
            metrics.writesTimedOut.increment()
            error = .noLeader(retryAfterMs: Self.retryAfterMs)
        case .unknown:
            metrics.writesTimedOut.increment()
            error = .unknownOutcome(message: "no answer within the deadline: the write may or may not have been applied")
        }
        waiter.continuation.resume(returning: .failure(error))
    }

    /// Answers the write a request id belongs to, if it is waiting here.
    func completeWrite(id: ClientRequestID, result: KVResult) {
        guard let sequence = writeSequence(of: id), proposals.applied(ProposalID(sequence)) else { return }
        guard let waiter = writeWaiters.removeValue(forKey: sequence) else {
            preconditionFailure("NodeRuntime: every write the proposal queue holds has a waiter")
        }
        waiter.continuation.resume(returning: .success(result))
    }

    static func outcome(of result: KVResult, key: String) -> Result<WriteOutcome, NodeError> {
        switch result {
        case .put(let index, let term, let revision):
            return .success(
                WriteOutcome(key: key, index: index.rawValue, term: term.rawValue, deleted: nil, revision: revision))
        case .deleted(let index, let term, let revision, let existed):
            return .success(
                WriteOutcome(key: key, index: index.rawValue, term: term.rawValue, deleted: existed, revision: revision))
        case .compareFailed(let currentIndex):
            let state = currentIndex.map { "the key was last modified at index \($0)" } ?? "the key does not exist"
            return .failure(.compareFailed(message: "the condition does not hold: \(state)"))
        case .sessionExpired:
            return .failure(.unknownOutcome(message: "the write was retried too late to know whether it applied"))
        case .undecodable(let error):
            return .failure(.internalError(message: "the command could not be decoded: \(error)"))
        case .rejected(let rejection):
            return .failure(NodeError(rejection))
        case .txn, .compacted, .leaseGranted, .leaseRevoked:
            return .failure(.internalError(message: "a put or delete was answered with \(result)"))
        }
    }

    // MARK: Reads

    func read(key: String, consistency: ReadConsistency, deadline: ContinuousClock.Instant) async throws(NodeError)
        -> ReadOutcome?
    {
        try Self.validate(key: key)
        try await waitUntilReadable(consistency: consistency, deadline: deadline)
        guard let found = store.get(Array(key.utf8)) else { return nil }
        return ReadOutcome(value: found.value, index: found.index.rawValue, term: found.term.rawValue)
    }

    func list(
        prefix: String, after: String?, limit: Int, consistency: ReadConsistency, deadline: ContinuousClock.Instant
    ) async throws(NodeError) -> ListOutcome {
        guard limit >= 0 else { throw .badRequest(code: .badRequest, message: "limit must be >= 0") }
        try await waitUntilReadable(consistency: consistency, deadline: deadline)
        let found = store.list(prefix: Array(prefix.utf8), after: after.map { Array($0.utf8) }, limit: limit)
        let items = found.items.map { item in
            ListOutcome.Item(key: String(decoding: item.key, as: UTF8.self), value: item.value, index: item.index.rawValue)
        }
        return ListOutcome(items: items, hasMore: found.hasMore)
    }

    /// Local reads go at once (even with no leader, even before `/start`); linearizable reads
    /// wait for a ReadIndex confirmed by the leader and for this node to have applied it.
    func waitUntilReadable(consistency: ReadConsistency, deadline: ContinuousClock.Instant)
        async throws(NodeError)
    {
        switch consistency {
        case .local:
            guard lifecycle != .stopped else { throw notRunningError() }
        case .linearizable:
            try await readBarrier(deadline: deadline)
        }
    }

    private func readBarrier(deadline: ContinuousClock.Instant) async throws(NodeError) {
        guard lifecycle == .running, core != nil else { throw notRunningError() }
        guard !faults.isPaused else { throw .noLeader(retryAfterMs: Self.retryAfterMs) }
        guard !reads.isFull() else { throw .overloaded(retryAfterMs: Self.retryAfterMs) }
        let sequence = nextReadSequence
        nextReadSequence += 1
        let started = ContinuousClock.now
        defer { metrics.readBarrierTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started)) }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<LogIndex, NodeError>, Never>) in
            reads.insert(
                PendingRead(deadline: deadline, continuation: continuation, attemptID: ReadRequestID(0)), at: sequence)
            requestReadIndex(for: sequence)
            kick()
        }
        _ = try result.get()
    }

    /// Asks the core for a read index under a fresh attempt id.
    func requestReadIndex(for sequence: UInt64) {
        guard var read = reads[sequence] else { return }
        readAttempts[read.attemptID] = nil
        let attempt = ReadRequestID(nextReadAttempt)
        nextReadAttempt &+= 1
        read.attemptID = attempt
        read.readIndex = nil
        let leader = core?.currentLeader
        do {
            if let leader, leader != localID, let term = core?.currentTerm {
                // As for proposals: the request goes to the leader now, not with the next Ready.
                send([Message(from: localID, to: leader, term: term, payload: .readIndexRequest(attempt))])
            } else {
                try core?.requestRead(attempt)
            }
            readAttempts[attempt] = sequence
            read.lastRequestedAt = clock.now
            read.requestedUnderLeader = leader
        } catch {
            read.lastRequestedAt = nil
        }
        reads[sequence] = read
    }

    /// The leader confirmed a read index.
    func noteReadIndex(_ readState: ReadState) {
        guard let sequence = readAttempts.removeValue(forKey: readState.id), reads[sequence] != nil else { return }
        reads[sequence]?.readIndex = readState.index
        readsAwaitingApply.append(sequence)
    }

    /// Answers the reads whose index the state machine has reached.
    func serveReadsUpToApplied() {
        guard !readsAwaitingApply.isEmpty else { return }
        let applied = store.appliedIndex
        var stillWaiting: [UInt64] = []
        for sequence in readsAwaitingApply {
            guard let read = reads[sequence], let index = read.readIndex else { continue }
            if index <= applied {
                reads.remove(sequence)
                read.continuation.resume(returning: .success(index))
            } else {
                stillWaiting.append(sequence)
            }
        }
        readsAwaitingApply = stillWaiting
    }

    // MARK: Retries and deadlines

    /// A new leader is known: hand it what the old one may have lost.
    func retryRequestsAfterLeaderChange() {
        let leader = core?.currentLeader
        if let leader, let term = core?.currentTerm {
            proposals.leaderChanged(to: leader, term: term)
            if proposals.hasQueued { scheduleFlush() }
        }
        for sequence in reads.keys.sorted() where reads[sequence]?.readIndex == nil {
            if reads[sequence]?.requestedUnderLeader != leader { requestReadIndex(for: sequence) }
        }
    }

    func performHousekeeping() {
        let now = clock.now
        expireRequests(now: now)
        retryStalledRequests(now: now)
        expireMembershipWaiters(now: now)
        promoteCaughtUpLearner()
        expireLeases(now: now)
        metrics.pendingWrites.record(proposals.count)
        metrics.pendingReads.record(reads.count)
    }

    private func expireRequests(now: ContinuousClock.Instant) {
        performProposals(proposals.expire(now: now))
        for read in reads.removeAll(where: { $0.deadline <= now }) {
            metrics.readsTimedOut.increment()
            readAttempts[read.attemptID] = nil
            read.continuation.resume(returning: .failure(.noLeader(retryAfterMs: Self.retryAfterMs)))
        }
    }

    func retryStalledRequests(now: ContinuousClock.Instant) {
        guard let leader = core?.currentLeader else { return }
        proposals.retryStalled(handedAtOrBefore: now - retryInterval, leader: leader)
        if proposals.hasQueued { scheduleFlush() }
        let readRetryBefore = now - readRetryInterval
        for sequence in reads.keys.sorted() {
            guard let read = reads[sequence], read.readIndex == nil else { continue }
            if let requestedAt = read.lastRequestedAt, requestedAt > readRetryBefore { continue }
            requestReadIndex(for: sequence)
        }
    }
}
