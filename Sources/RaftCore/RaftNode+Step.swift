extension RaftNode {
    /// Hands the node a message from a peer. Messages that are stale, malformed or from
    /// strangers are dropped or answered by the protocol; none can crash the node.
    public mutating func step(_ message: Message) {
        guard message.to == config.id, message.from != config.id, message.isWithinBounds else { return }
        switch message.payload {
        case .propose, .readIndexRequest, .readIndexResponse:
            // Requests relayed between a follower and its leader carry no term obligation: a
            // read index answer is valid whatever term the asker is in, and proposals are
            // re-validated by the leader that appends them.
            stepRelayed(message)
            return
        default:
            break
        }
        if message.term > term {
            // A message from further ahead than an honest peer would be is dropped, so one
            // unsolicited message cannot use up the room left for elections; an answer to this
            // node's own request may still bring it up to date (see `Term.adoptionStepMax`).
            guard message.term.rawValue - term.rawValue <= Term.adoptionStepMax || isAnswerToOwnRequest(message),
                stepHigherTerm(message)
            else { return }
        } else if message.term < term {
            stepLowerTerm(message)
            return
        }
        switch message.payload {
        case .voteRequest(let request):
            handleVoteRequest(request, from: message.from, term: message.term)
        default:
            stepByRole(message)
        }
        recordStateIfChanged()
    }

    /// A message from a higher term. Returns whether to go on handling it.
    private mutating func stepHigherTerm(_ message: Message) -> Bool {
        switch message.payload {
        case .voteRequest(let request):
            // Leader lease (dissertation 4.2.3 / 9.6): a node that heard from a live leader within
            // the minimum election timeout ignores elections, so a removed or partitioned node
            // cannot disrupt the cluster. A transfer's election is exempt.
            if config.isCheckQuorumEnabled && !request.isLeadershipTransfer && leader != nil
                && electionElapsedTicks < config.electionTimeoutTicks
            {
                record(.voteCast(
                    candidate: message.from, term: message.term, isPreVote: request.isPreVote, isGranted: false,
                    reason: .leaderLease))
                return false
            }
            if request.isPreVote { return true }  // a pre-vote never changes our term
            // Paper Figure 2: only a leader's message or a granted vote resets the election timer.
            // A candidate we may refuse must not keep us from campaigning, or a lagging voter that
            // times out first keeps the up-to-date ones from ever running (found by simulation).
            let elapsedTicks = electionElapsedTicks
            becomeFollower(term: message.term, leader: nil)
            electionElapsedTicks = elapsedTicks
            record(.electionTimerReset(ticksLeft: max(0, randomizedElectionTimeoutTicks - elapsedTicks)))
            return true
        case .voteResponse(let response) where response.isPreVote && response.isGranted:
            // A granted pre-vote echoes the term we would campaign in; it is not a newer term.
            return true
        case .append, .heartbeat, .installSnapshot:
            becomeFollower(term: message.term, leader: message.from)
            return true
        default:
            becomeFollower(term: message.term, leader: nil)
            return true
        }
    }

    /// Whether the message answers a request this node has out in its current role: a vote
    /// while it campaigns, an append or heartbeat while it leads. Through these a node that fell
    /// further behind than `Term.adoptionStepMax` (a cluster pushed ahead by a forged leap)
    /// learns the current term, and is not shut out for good.
    private func isAnswerToOwnRequest(_ message: Message) -> Bool {
        switch message.payload {
        case .voteResponse: return role == .preCandidate || role == .candidate
        case .appendResponse, .heartbeatResponse: return role == .leader
        default: return false
        }
    }

    /// A message from a lower term: mostly ignored, but a stale leader is told the current term
    /// so it steps down, and a stale pre-candidate gets a refusal so it stops.
    private mutating func stepLowerTerm(_ message: Message) {
        switch message.payload {
        case .append, .heartbeat:
            // With pre-vote or check-quorum a rejoining node does not raise its term, so the stale
            // leader would never learn of the new term unless told (etcd does the same).
            if config.isCheckQuorumEnabled || config.isPreVoteEnabled {
                send(.appendResponse(AppendResponse(index: .zero, isRejected: false)), to: message.from)
            }
        case .voteRequest(let request) where request.isPreVote:
            record(.voteCast(candidate: message.from, term: message.term, isPreVote: true, isGranted: false, reason: .staleTerm))
            send(.voteResponse(VoteResponse(isGranted: false, isPreVote: true)), to: message.from)
        default:
            break
        }
    }

    private mutating func stepByRole(_ message: Message) {
        switch role {
        case .leader: stepLeader(message)
        case .candidate, .preCandidate: stepCandidate(message)
        case .follower, .learner: stepFollower(message)
        }
    }

    // MARK: Votes

    private mutating func handleVoteRequest(_ request: VoteRequest, from candidate: NodeID, term messageTerm: Term) {
        let canVote =
            votedFor == candidate
            || (votedFor == nil && leader == nil)
            || (request.isPreVote && messageTerm > term)
        let isUpToDate = log.isUpToDate(lastIndex: request.lastLogIndex, lastTerm: request.lastLogTerm)
        guard canVote && isUpToDate else {
            let reason: VoteReason = !canVote ? (votedFor != nil ? .votedForAnother : .hasLeader) : .logBehind
            record(.voteCast(
                candidate: candidate, term: messageTerm, isPreVote: request.isPreVote, isGranted: false, reason: reason))
            send(.voteResponse(VoteResponse(isGranted: false, isPreVote: request.isPreVote)), to: candidate)
            return
        }
        record(.voteCast(candidate: candidate, term: messageTerm, isPreVote: request.isPreVote, isGranted: true, reason: .granted))
        // A granted answer carries the request's term, so the candidate counts it in that term.
        send(.voteResponse(VoteResponse(isGranted: true, isPreVote: request.isPreVote)), to: candidate, term: messageTerm)
        if !request.isPreVote {
            // The vote is part of the hard state of the next `Ready`, made durable before this
            // answer is sent (dissertation 3.8).
            votedFor = candidate
            restartElectionTimer()
        }
    }

    /// Starts an election: a pre-vote round first unless this follows a leadership transfer.
    mutating func startElection(isTransfer: Bool) {
        guard isPromotable else { return }
        if config.isPreVoteEnabled && !isTransfer {
            campaign(isPreVote: true, isTransfer: false)
        } else {
            campaign(isPreVote: false, isTransfer: isTransfer)
        }
    }

    /// Starts an election now, as if the election timeout had elapsed (tests, operators).
    public mutating func campaign() {
        guard role != .leader else { return }
        startElection(isTransfer: false)
    }

    private mutating func campaign(isPreVote: Bool, isTransfer: Bool) {
        // A term above `Term.wireMax` would not decode on any peer: stay a follower instead.
        guard term < Term.wireMax else { return }
        let electionTerm: Term
        if isPreVote {
            role = .preCandidate
            electionTerm = term.next
        } else {
            if role == .leader { failPendingReads() }
            term = term.next
            votedFor = config.id
            role = .candidate
            electionTerm = term
        }
        leader = nil
        votes = [config.id: true]
        recordStateIfChanged()
        record(.campaign(term: electionTerm, isPreVote: isPreVote, isTransfer: isTransfer))
        resetElectionTimeout()
        if tallyVotes() { return }
        let request = VoteRequest(
            lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm, isPreVote: isPreVote,
            isLeadershipTransfer: isTransfer)
        for voter in membership.voters.sorted() where voter != config.id {
            send(.voteRequest(request), to: voter, term: electionTerm)
        }
    }

    /// Counts the votes of the current round and acts on a decided outcome. Returns true when
    /// the round is decided.
    @discardableResult
    private mutating func tallyVotes() -> Bool {
        switch membership.quorum.voteResult(votes) {
        case .won:
            if role == .preCandidate {
                campaign(isPreVote: false, isTransfer: false)
            } else {
                becomeLeader()
            }
            return true
        case .lost:
            becomeFollower(term: term, leader: nil)
            return true
        case .pending:
            return false
        }
    }

    // MARK: Per-role handling

    private mutating func stepCandidate(_ message: Message) {
        switch message.payload {
        case .append, .heartbeat, .installSnapshot:
            // Someone won this term (paper 5.2).
            becomeFollower(term: message.term, leader: message.from)
            stepFollower(message)
        case .voteResponse(let response):
            guard response.isPreVote == (role == .preCandidate), membership.isVoter(message.from) else { return }
            if votes[message.from] == nil {
                votes[message.from] = response.isGranted
                if isRecordingEvents {
                    let granted = votes.values.count(where: { $0 })
                    record(.voteReceived(
                        from: message.from, term: message.term, isPreVote: response.isPreVote,
                        isGranted: response.isGranted, grantedCount: granted, refusedCount: votes.count - granted))
                }
            }
            tallyVotes()
        default:
            break
        }
    }

    private mutating func stepFollower(_ message: Message) {
        switch message.payload {
        case .append(let request):
            restartElectionTimer()
            leader = message.from
            handleAppend(request, from: message.from)
        case .heartbeat(let heartbeat):
            restartElectionTimer()
            leader = message.from
            handleHeartbeat(heartbeat, from: message.from)
        case .installSnapshot(let metadata):
            restartElectionTimer()
            leader = message.from
            handleSnapshot(metadata, from: message.from)
        case .timeoutNow:
            // Dissertation 3.10: the transfer target campaigns at once, skipping pre-vote.
            startElection(isTransfer: true)
        default:
            break
        }
    }

    private mutating func stepLeader(_ message: Message) {
        guard progress[message.from] != nil else { return }  // not a member (any more)
        switch message.payload {
        case .appendResponse(let response):
            handleAppendResponse(response, from: message.from)
        case .heartbeatResponse(let response):
            handleHeartbeatResponse(response, from: message.from)
        default:
            break
        }
    }

    /// Proposals and read-index traffic between followers and the leader.
    private mutating func stepRelayed(_ message: Message) {
        switch message.payload {
        case .propose(let entries):
            guard role == .leader, transferee == nil else { return }
            let commands = entries.filter { $0.kind == .command }
            guard !commands.isEmpty, fitsUncommittedBudget(commands) else { return }
            appendAsLeader(commands.map { Entry(term: term, index: .zero, kind: .command, data: $0.data) })
            // The follower answers its clients once it applies these: it hears of their commit
            // at once, not after `commitBroadcastDelayTicks`.
            if message.from != config.id { forwardedThrough[message.from] = log.lastIndex }
        case .readIndexRequest(let id):
            if role == .leader {
                enqueueRead(id, requester: message.from)
            } else {
                send(.readIndexResponse(id, nil), to: message.from)
            }
        case .readIndexResponse(let id, let index):
            // Any node that answers with an index was leader and confirmed it with a quorum
            // after our request reached it, so the index is good whoever leads now.
            guard let index else { return }
            readStates.append(ReadState(id: id, index: index))
        default:
            break
        }
    }
}

extension Message {
    /// Whether every term and index the message carries is at most `Term.wireMax` and
    /// `LogIndex.wireMax`. RaftCodec refuses anything larger; the core checks again, so no
    /// arithmetic on a message's numbers can overflow whatever built it.
    var isWithinBounds: Bool {
        func fits(_ term: Term) -> Bool { term <= Term.wireMax }
        func fits(_ index: LogIndex) -> Bool { index <= LogIndex.wireMax }
        func fits(_ entries: [Entry]) -> Bool { entries.allSatisfy { fits($0.term) && fits($0.index) } }
        guard fits(term) else { return false }
        switch payload {
        case .voteRequest(let request):
            return fits(request.lastLogIndex) && fits(request.lastLogTerm)
        case .append(let request):
            return fits(request.previousIndex) && fits(request.previousTerm) && fits(request.commit)
                && fits(request.entries)
        case .appendResponse(let response):
            return fits(response.index) && fits(response.hintIndex) && fits(response.hintTerm)
        case .heartbeat(let heartbeat):
            return fits(heartbeat.commit)
        case .installSnapshot(let snapshot):
            return fits(snapshot.index) && fits(snapshot.term)
        case .propose(let entries):
            return fits(entries)
        case .readIndexResponse(_, let index):
            return index.map(fits) ?? true
        case .voteResponse, .heartbeatResponse, .timeoutNow, .readIndexRequest:
            return true
        }
    }
}
