extension RaftNode {
    // MARK: Leader: appending and sending

    /// Appends entries at the end of the leader's log (assigning index and term) and sends them.
    mutating func appendAsLeader(_ newEntries: [Entry]) {
        precondition(role == .leader, "RaftNode.appendAsLeader: only a leader appends its own entries")
        var index = log.lastIndex
        var stamped: [Entry] = []
        stamped.reserveCapacity(newEntries.count)
        for var entry in newEntries {
            index = index.next
            entry.index = index
            entry.term = term
            stamped.append(entry)
            uncommittedBytes += entry.byteCount
        }
        log.append(stamped)
        for entry in stamped where entry.kind == .membership { adoptMembership(from: entry) }
        isAppendBroadcastPending = true
    }

    /// Sends the appends deferred since the last `ready()`, and an empty one to tell a commit
    /// when it may not wait (`Config.commitBroadcastDelayTicks`).
    mutating func flushPendingAppends() {
        let isCommitDue = isCommitBroadcastDue
        guard role == .leader, isAppendBroadcastPending || isCommitDue else { return }
        let isEveryFollowerTold = broadcastAppend(sendIfEmpty: isCommitDue)
        isAppendBroadcastPending = false
        if isCommitDue || isEveryFollowerTold {
            isCommitBroadcastPending = false
            let committed = log.committedIndex
            forwardedThrough = forwardedThrough.filter { $0.value > committed }
        }
    }

    /// Whether appending these entries keeps the leader within `uncommittedBytesMax`, and the
    /// log within `LogIndex.wireMax` (an index past it would not decode on any follower).
    func fitsUncommittedBudget(_ newEntries: [Entry]) -> Bool {
        guard log.lastIndex.distance(to: LogIndex.wireMax) >= UInt64(newEntries.count) else { return false }
        let bytes = newEntries.reduce(0) { $0 + $1.byteCount }
        // A single oversized batch is still accepted on an idle leader, so progress is possible.
        return uncommittedBytes == 0 || uncommittedBytes + bytes <= config.uncommittedBytesMax
    }

    /// Sends every follower what it lacks; an empty append too when `sendIfEmpty`. Returns
    /// whether every follower that can be sent to now got an append (and with it the commit
    /// index); a paused follower learns it when it is sent to again.
    @discardableResult
    mutating func broadcastAppend(sendIfEmpty: Bool = true) -> Bool {
        var isEveryFollowerTold = true
        for member in progress.keys.sorted() where member != config.id {
            if !sendAppend(to: member, sendIfEmpty: sendIfEmpty), progress[member]?.isPaused == false {
                isEveryFollowerTold = false
            }
        }
        return isEveryFollowerTold
    }

    /// Sends the member what it lacks from its `nextIndex` on, or the snapshot when that part of
    /// the log is compacted away. Returns whether a message was sent.
    @discardableResult
    mutating func sendAppend(to member: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard var peer = progress[member], !peer.isPaused else { return false }
        let previousIndex = peer.nextIndex.previous
        guard let previousTerm = log.term(at: previousIndex),
            let entries = log.entries(from: peer.nextIndex, through: log.lastIndex, bytesMax: config.messageBytesMax)
        else {
            return sendSnapshot(to: member)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        let request = AppendRequest(
            previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, commit: log.committedIndex)
        send(.append(request), to: member)
        if let last = entries.last {
            peer.sentEntries(through: last.index)
        } else if peer.state == .probe {
            peer.isProbeSent = true
        }
        progress[member] = peer
        return true
    }

    private mutating func sendSnapshot(to member: NodeID) -> Bool {
        guard var peer = progress[member], peer.isRecentlyActive else { return false }
        let snapshot = log.snapshot
        send(.installSnapshot(snapshot), to: member)
        peer.becomeSnapshot(index: snapshot.index)
        progress[member] = peer
        return true
    }

    mutating func broadcastHeartbeat(readRound: UInt64) {
        for (member, peer) in progress.sorted(by: { $0.key < $1.key }) where member != config.id {
            let heartbeat = HeartbeatRequest(commit: min(peer.matchIndex, log.committedIndex), readRound: readRound)
            send(.heartbeat(heartbeat), to: member)
        }
    }

    /// Whether a quorum of voters was heard from since the last check; resets the marks.
    mutating func hasActiveQuorum() -> Bool {
        let isActive = membership.quorum.isReached { voter in
            voter == config.id || progress[voter]?.isRecentlyActive == true
        }
        for member in progress.keys where member != config.id { progress[member]?.isRecentlyActive = false }
        return isActive
    }

    // MARK: Leader: answers

    mutating func handleAppendResponse(_ response: AppendResponse, from member: NodeID) {
        guard var peer = progress[member] else { return }
        peer.isRecentlyActive = true
        if response.isRejected {
            handleRejection(response, from: member, peer: &peer)
            return
        }
        guard response.index <= log.lastIndex else { return }  // acknowledges what we never sent
        if peer.acknowledge(through: response.index) {
            switch peer.state {
            case .probe: peer.becomeReplicate()
            case .snapshot where peer.matchIndex >= peer.pendingSnapshotIndex: peer.becomeProbe()
            default: break
            }
            progress[member] = peer
            if advanceCommitIndex() {
                isCommitBroadcastPending = true
            }
            if peer.nextIndex <= log.lastIndex {
                // More to send: it goes out with the next `ready()`, batched with everything else.
                isAppendBroadcastPending = true
            }
            if transferee == member && peer.matchIndex == log.lastIndex {
                send(.timeoutNow, to: member)
            }
        } else {
            progress[member] = peer
            if peer.nextIndex <= log.lastIndex { isAppendBroadcastPending = true }
        }
    }

    private mutating func handleRejection(_ response: AppendResponse, from member: NodeID, peer: inout Progress) {
        // Skip a whole term at a time: retry from the last index at or below the hint whose term
        // is at or below the follower's term there.
        var retryFrom = response.hintIndex
        if response.hintTerm > .zero {
            retryFrom = log.conflictHint(atOrBelow: response.hintIndex, term: response.hintTerm).index
        }
        let moved = peer.backtrack(rejected: response.index, hint: retryFrom)
        progress[member] = peer
        if moved { sendAppend(to: member) }
    }

    mutating func handleHeartbeatResponse(_ response: HeartbeatResponse, from member: NodeID) {
        guard var peer = progress[member] else { return }
        peer.isRecentlyActive = true
        peer.isProbeSent = false
        if peer.state == .replicate && peer.inflights.isFull { peer.inflights.freeFirst() }
        // A round this leader never broadcast is not an acknowledgement of anything: counting it
        // would confirm later rounds without asking.
        if response.readRound > peer.acknowledgedReadRound && response.readRound <= reads.confirmedRoundCeiling {
            peer.acknowledgedReadRound = response.readRound
        }
        progress[member] = peer
        if peer.matchIndex < log.lastIndex || peer.state == .probe { sendAppend(to: member) }
        releaseConfirmedReads()
    }

    /// Moves the commit index to the highest index a quorum of voters holds durably, if that
    /// entry is of the current term (paper 5.4.2, Figure 8). Returns whether it moved.
    @discardableResult
    mutating func advanceCommitIndex() -> Bool {
        guard role == .leader else { return false }
        let candidate = membership.quorum.committedIndex { progress[$0]?.matchIndex ?? .zero }
        guard candidate > log.committedIndex, log.term(at: candidate) == term else { return false }
        commit(to: candidate)
        return true
    }

    /// Moves the commit index and does what follows from it on a leader.
    mutating func commit(to index: LogIndex) {
        let previous = log.committedIndex
        guard index > previous else { return }
        log.commit(to: index)
        if isRecordingEvents { record(.committed(index: index, term: log.term(at: index) ?? term)) }
        guard role == .leader else { return }
        uncommittedBytes = max(0, uncommittedBytes - committedBytes(after: previous, through: index))
        releaseReadsWaitingForTermCommit()
        // Dissertation 4.2.2: a leader that is not part of the committed configuration steps down.
        if membershipIndex <= index && !membership.isVoter(config.id) {
            becomeFollower(term: term, leader: nil)
        }
    }

    private func committedBytes(after start: LogIndex, through end: LogIndex) -> Int {
        var bytes = 0
        var index = start.next
        while index <= end {
            if let entry = log.entry(at: index), entry.term == term { bytes += entry.byteCount }
            index = index.next
        }
        return bytes
    }

    // MARK: Follower

    mutating func handleAppend(_ request: AppendRequest, from leaderID: NodeID) {
        if request.previousIndex < log.committedIndex {
            // Everything up to our commit index already matches the leader (Log Matching).
            send(.appendResponse(AppendResponse(index: log.committedIndex)), to: leaderID)
            return
        }
        guard isWellFormed(request) else { return }
        guard log.matches(index: request.previousIndex, term: request.previousTerm) else {
            let hint = log.conflictHint(atOrBelow: request.previousIndex, term: request.previousTerm)
            let rejection = AppendResponse(
                index: request.previousIndex, isRejected: true, hintIndex: hint.index, hintTerm: hint.term)
            send(.appendResponse(rejection), to: leaderID)
            return
        }
        guard appendFromLeader(request.entries) else { return }
        let lastNew = request.previousIndex + UInt64(request.entries.count)
        commit(to: min(request.commit, lastNew))
        send(.appendResponse(AppendResponse(index: lastNew)), to: leaderID)
    }

    /// An append whose entries follow its previous index contiguously with ordered terms, none
    /// above the leader's term. Anything else is not from a correct leader and is dropped.
    private func isWellFormed(_ request: AppendRequest) -> Bool {
        var expected = request.previousIndex.next
        var previousTerm = request.previousTerm
        for entry in request.entries {
            guard entry.index == expected, entry.term >= previousTerm, entry.term <= term else { return false }
            expected = expected.next
            previousTerm = entry.term
        }
        return true
    }

    /// Appends the leader's entries, replacing a conflicting suffix. Returns false (and changes
    /// nothing) when the entries would overwrite a committed entry: that cannot come from a
    /// correct leader.
    private mutating func appendFromLeader(_ entries: [Entry]) -> Bool {
        guard let conflict = entries.firstIndex(where: { !log.matches(index: $0.index, term: $0.term) }) else {
            return true  // all already present
        }
        let conflictIndex = entries[conflict].index
        guard conflictIndex > log.committedIndex else { return false }
        if conflictIndex <= log.lastIndex {
            let truncatedMembership = membershipIndex >= conflictIndex
            log.truncate(from: conflictIndex)
            withdrawAcknowledgements(from: conflictIndex)
            if truncatedMembership { recomputeMembership() }
        }
        let newEntries = entries[conflict...]
        log.append(newEntries)
        for entry in newEntries where entry.kind == .membership { adoptMembership(from: entry) }
        return true
    }

    /// Drops queued acknowledgements of entries at or after `index`, which were just removed from
    /// the log. Acknowledgements wait in the outbox until the next `Ready` is durable; had one
    /// for a removed entry gone out, an older leader could count this node for an entry it no
    /// longer holds and commit it without a real quorum.
    private mutating func withdrawAcknowledgements(from index: LogIndex) {
        outbox.removeAll { message in
            guard case .appendResponse(let response) = message.payload else { return false }
            return !response.isRejected && response.index >= index
        }
    }

    mutating func handleHeartbeat(_ heartbeat: HeartbeatRequest, from leaderID: NodeID) {
        // The leader sends min(its commit, our match), which we hold; guard anyway.
        commit(to: min(heartbeat.commit, log.lastIndex))
        send(.heartbeatResponse(HeartbeatResponse(readRound: heartbeat.readRound)), to: leaderID)
    }

    mutating func handleSnapshot(_ metadata: SnapshotMetadata, from leaderID: NodeID) {
        // A leader's snapshot holds no entry of a later term than its own: anything else is
        // malformed, and installing it would put the log's last term above the node's term.
        guard metadata.term <= term else { return }
        if metadata.index <= log.committedIndex {
            send(.appendResponse(AppendResponse(index: log.committedIndex)), to: leaderID)
            return
        }
        if log.matches(index: metadata.index, term: metadata.term) {
            // We hold the snapshot's last entry already: just commit up to it.
            commit(to: metadata.index)
            send(.appendResponse(AppendResponse(index: log.committedIndex)), to: leaderID)
            return
        }
        withdrawAcknowledgements(from: log.committedIndex.next)
        log.restore(metadata)
        // The snapshot's last entry is committed (the leader's log holds it committed).
        record(.committed(index: metadata.index, term: metadata.term))
        pendingSnapshot = metadata
        membership = metadata.membership
        membershipContext = metadata.membershipContext
        membershipIndex = metadata.index
        role = membership.learners.contains(config.id) ? .learner : .follower
        // Sent with the Ready that persists the snapshot, so only once it is durable.
        send(.appendResponse(AppendResponse(index: metadata.index)), to: leaderID)
    }
}
