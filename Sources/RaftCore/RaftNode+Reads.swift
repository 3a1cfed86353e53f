/// The leader's ReadIndex bookkeeping (dissertation 6.4).
///
/// Each read records the commit index when it arrived and the confirmation round it joins. All
/// reads that arrive between two `Ready`s join the same round, and one heartbeat broadcast per
/// round confirms them all: once a quorum of voters answered a heartbeat of round R or later,
/// the leader was still leader after those reads arrived, and each may be served once applied
/// up to its recorded index.
///
/// Invariant: `pending` rounds are non-decreasing and at most `lastBroadcastRound + 1`.
struct ReadIndexQueue {
    struct Read {
        var id: ReadRequestID
        var requester: NodeID
        var index: LogIndex
        var round: UInt64
    }

    /// Reads that arrived before the leader committed an entry of its own term: its commit
    /// index may be behind until then, so they wait.
    var waitingForTermCommit: [(id: ReadRequestID, requester: NodeID)] = []
    var pending: [Read] = []
    private(set) var lastBroadcastRound: UInt64 = 0
    /// Whether some pending read waits for a round that was not broadcast yet.
    private(set) var needsBroadcast = false

    /// The round periodic heartbeats carry: an answer to it confirms every round up to it.
    var confirmedRoundCeiling: UInt64 { lastBroadcastRound }

    mutating func add(id: ReadRequestID, requester: NodeID, index: LogIndex) {
        pending.append(Read(id: id, requester: requester, index: index, round: lastBroadcastRound + 1))
        needsBroadcast = true
    }

    /// Starts the next round and returns its number, to be broadcast now.
    mutating func startRound() -> UInt64 {
        precondition(needsBroadcast, "ReadIndexQueue.startRound: only when a read waits for it")
        lastBroadcastRound += 1
        needsBroadcast = false
        return lastBroadcastRound
    }

    /// Removes and returns the reads at the front whose round `isConfirmed` says is confirmed.
    mutating func popConfirmed(_ isConfirmed: (UInt64) -> Bool) -> [Read] {
        var count = 0
        while count < pending.count, pending[count].round <= lastBroadcastRound, isConfirmed(pending[count].round) {
            count += 1
        }
        guard count > 0 else { return [] }
        let confirmed = Array(pending[..<count])
        pending.removeFirst(count)
        return confirmed
    }
}

extension RaftNode {
    /// Asks for a linearizable read (ReadIndex). When it is safe, a `ReadState` with this id
    /// appears in a `Ready`: serve the read once the state machine has applied its index.
    /// A follower asks its leader. If leadership changes before the answer, no `ReadState`
    /// comes: the caller retries after its own timeout.
    public mutating func requestRead(_ id: ReadRequestID) throws(ProposalError) {
        if role == .leader {
            enqueueRead(id, requester: config.id)
        } else if let leader {
            send(.readIndexRequest(id), to: leader)
        } else {
            throw .noLeader
        }
    }

    mutating func enqueueRead(_ id: ReadRequestID, requester: NodeID) {
        guard log.term(at: log.committedIndex) == term else {
            reads.waitingForTermCommit.append((id, requester))
            return
        }
        if membership.voters == [config.id] {
            // A leader that is the only voter needs no confirmation round.
            deliverRead(id: id, requester: requester, index: log.committedIndex)
            return
        }
        reads.add(id: id, requester: requester, index: log.committedIndex)
    }

    mutating func releaseReadsWaitingForTermCommit() {
        guard !reads.waitingForTermCommit.isEmpty, log.term(at: log.committedIndex) == term else { return }
        let waiting = reads.waitingForTermCommit
        reads.waitingForTermCommit = []
        for read in waiting { enqueueRead(read.id, requester: read.requester) }
    }

    mutating func releaseConfirmedReads() {
        let quorum = membership.quorum
        let confirmed = reads.popConfirmed { round in
            quorum.isReached { voter in
                voter == config.id || (progress[voter]?.acknowledgedReadRound ?? 0) >= round
            }
        }
        for read in confirmed { deliverRead(id: read.id, requester: read.requester, index: read.index) }
    }

    private mutating func deliverRead(id: ReadRequestID, requester: NodeID, index: LogIndex) {
        if requester == config.id {
            readStates.append(ReadState(id: id, index: index))
        } else {
            send(.readIndexResponse(id, index), to: requester)
        }
    }

    /// A leader stepping down tells remote requesters their reads failed, so they retry at once.
    mutating func failPendingReads() {
        let remote = reads.pending.map { ($0.id, $0.requester) } + reads.waitingForTermCommit.map { ($0.id, $0.requester) }
        reads = ReadIndexQueue()
        for (id, requester) in remote where requester != config.id {
            send(.readIndexResponse(id, nil), to: requester)
        }
    }

    /// Broadcasts the confirmation round reads are waiting for, if any.
    mutating func broadcastReadRoundIfNeeded() {
        guard role == .leader, reads.needsBroadcast else { return }
        let round = reads.startRound()
        broadcastHeartbeat(readRound: round)
        // With no other voter to answer, a lone voter never reaches here (see enqueueRead).
    }
}
