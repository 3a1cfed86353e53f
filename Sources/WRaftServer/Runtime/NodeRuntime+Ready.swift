import KVStore
import RaftCore

// The Ready loop (Docs/ARCHITECTURE.md): persist, send, install, apply, serve reads, advance,
// with at most one Ready outstanding.
extension NodeRuntime {
    /// Makes sure the Ready loop runs if there is work. Cheap when it already runs.
    func kick() {
        guard !isDriving, lifecycle == .running else { return }
        guard !queuedProposals.isEmpty || core?.hasReady == true else { return }
        isDriving = true
        Task { await self.drive() }
    }

    private func drive() async {
        while lifecycle == .running {
            flushProposals()
            guard core?.hasReady == true else { break }
            await processReady()
        }
        isDriving = false
        // A proposal or message may have arrived between the last check and here.
        if lifecycle == .running, !queuedProposals.isEmpty || core?.hasReady == true { kick() }
    }

    private func processReady() async {
        guard let ready = core?.ready() else { return }
        metrics.readyBatches.increment()
        if !ready.entries.isEmpty { metrics.readyEntries.record(ready.entries.count) }
        noteAppendedMembership(ready.entries)

        // Dissertation 10.2.1: the leader's appends may go out while its own write is in flight
        // (it counts itself only once durable). Anything that promises durability (votes,
        // append responses) waits for the fsync.
        let (early, late) = partitionMessages(ready)
        if !early.isEmpty { send(early) }
        // Committed entries are durable on a quorum already (a leader counts itself only once its
        // own write is durable), so they are applied, and their clients answered, while this
        // Ready's new entries are being written: a commit does not wait for an unrelated fsync.
        // A snapshot to install comes first, though, so then applying waits for it.
        if ready.snapshot == nil { applyAndServeReads(ready) }

        guard await persist(ready) else { return }
        if let hardState = ready.hardState { durableTerm = max(durableTerm, hardState.term) }

        if !late.isEmpty { send(late) }
        if let snapshot = ready.snapshot {
            installSnapshot(snapshot)
            applyAndServeReads(ready)
        }
        core?.advance(ready)
        updateIndexMetrics(observeStatus())
        maybeTakeSnapshot()
    }

    private func applyAndServeReads(_ ready: Ready) {
        apply(ready.committedEntries)
        for readState in ready.readStates { noteReadIndex(readState) }
        serveReadsUpToApplied()
    }

    private func partitionMessages(_ ready: Ready) -> (early: [Message], late: [Message]) {
        guard observed.role == .leader, !ready.messages.isEmpty else { return ([], ready.messages) }
        let isTermDurable = (ready.hardState?.term ?? durableTerm) == durableTerm
        guard isTermDurable else { return ([], ready.messages) }
        var early: [Message] = []
        var late: [Message] = []
        early.reserveCapacity(ready.messages.count)
        for message in ready.messages {
            switch message.payload {
            case .append, .heartbeat:
                if message.term == durableTerm { early.append(message) } else { late.append(message) }
            default:
                late.append(message)
            }
        }
        return (early, late)
    }

    /// Makes the Ready's state durable: a received snapshot first (its bytes), then entries,
    /// hard state and the snapshot marker in one fsync. False when storage failed (fatal).
    private func persist(_ ready: Ready) async -> Bool {
        if let snapshot = ready.snapshot {
            guard let received = receivedSnapshots[snapshot.index] else {
                preconditionFailure("NodeRuntime: the bytes of every snapshot the core installs were received")
            }
            do {
                try await storage.saveSnapshot(snapshot, data: received.data)
            } catch {
                failFatally("saving a received snapshot: \(error)")
                return false
            }
        }
        var hardState = ready.hardState
        if let changed = hardState, ready.entries.isEmpty, ready.snapshot == nil,
            changed.term == persistedHardState.term, changed.votedFor == persistedHardState.votedFor
        {
            // Only the commit index moved. It is volatile in Raft (a restarted node relearns it
            // from the leader), so it is not worth an fsync of its own: it rides with the next
            // write, and the committed entries are applied now.
            deferredHardState = changed
            return true
        }
        if hardState == nil, !ready.entries.isEmpty || ready.snapshot != nil { hardState = deferredHardState }
        guard hardState != nil || !ready.entries.isEmpty || ready.snapshot != nil else { return true }
        let started = ContinuousClock.now
        do {
            try await storage.persist(hardState: hardState, entries: ready.entries, snapshot: ready.snapshot)
        } catch {
            failFatally("persisting a Ready: \(error)")
            return false
        }
        if let hardState {
            persistedHardState = hardState
            deferredHardState = nil
        }
        metrics.persistTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started))
        return lifecycle == .running
    }

    // MARK: Sending

    /// Sends messages through the injected faults; snapshots are streamed separately.
    func send(_ messages: [Message]) {
        var plain: [Message] = []
        plain.reserveCapacity(messages.count)
        for message in messages {
            if case .installSnapshot = message.payload {
                sendSnapshot(message)
            } else {
                plain.append(message)
            }
        }
        guard !plain.isEmpty else { return }
        guard !faults.isEmpty else {
            transport.send(plain)
            return
        }
        let kept = plain.filter { !faults.dropsOutgoing(to: $0.to) }
        metrics.outgoingDropped.increment(by: plain.count - kept.count)
        guard !kept.isEmpty else { return }
        let delayMs = faults.outgoingDelayMs()
        guard delayMs > 0 else {
            transport.send(kept)
            return
        }
        let transport = self.transport
        Task {
            try? await Task.sleep(for: .milliseconds(delayMs))
            transport.send(kept)
        }
    }

    /// Streams the latest durable snapshot to a follower, then tells the core how it went.
    private func sendSnapshot(_ message: Message) {
        guard case .installSnapshot(let named) = message.payload else { return }
        let peer = message.to
        guard !snapshotsInFlight.contains(peer) else { return }
        guard !faults.dropsOutgoing(to: peer) else {
            core?.reportSnapshot(to: peer, succeeded: false)
            return
        }
        snapshotsInFlight.insert(peer)
        let storage = self.storage
        let transport = self.transport
        logger.info("sending snapshot at \(named.index) to \(peer)")
        Task.detached {
            var isSent = false
            if let (metadata, data) = try? await storage.latestSnapshot(), metadata.index == named.index {
                isSent = await transport.sendSnapshot(message, data: data)
            }
            await self.didSendSnapshot(to: peer, index: named.index, succeeded: isSent)
        }
    }

    private func didSendSnapshot(to peer: NodeID, index: LogIndex, succeeded: Bool) {
        snapshotsInFlight.remove(peer)
        guard lifecycle == .running else { return }
        if succeeded {
            metrics.snapshotsSent.increment()
            logger.info("snapshot at \(index) sent to \(peer)")
        } else {
            logger.warning("snapshot at \(index) to \(peer) failed; the leader will retry")
        }
        core?.reportSnapshot(to: peer, succeeded: succeeded)
        kick()
    }

    // MARK: Installing and applying

    private func installSnapshot(_ metadata: SnapshotMetadata) {
        guard let received = receivedSnapshots[metadata.index] else { return }
        receivedSnapshots = receivedSnapshots.filter { $0.key > metadata.index }
        store = received.store
        lastSnapshotIndex = metadata.index
        appliedMembership = metadata.membership
        appliedMembershipIndex = metadata.index
        adoptMembershipContext(metadata.membershipContext, membership: metadata.membership)
        completeMembershipWaiters(metadata.membership)
        metrics.snapshotsInstalled.increment()
        logger.notice("snapshot installed at index \(metadata.index) (term \(metadata.term)), \(store.count) keys")
    }

    private func apply(_ entries: [Entry]) {
        guard !entries.isEmpty else { return }
        for entry in entries {
            // After a snapshot install the core may still hand entries the snapshot covers.
            guard entry.index > store.appliedIndex else { continue }
            if let (id, result) = store.apply(entry) {
                completeWrite(id: id, result: result)
            } else if entry.kind == .membership {
                applyMembership(entry)
            }
        }
        metrics.commits.increment(by: entries.count)
    }

    /// A membership entry took effect in the log (appended): learn the addresses it carries so
    /// the transport can reach new members at once.
    private func noteAppendedMembership(_ entries: [Entry]) {
        for entry in entries where entry.kind == .membership {
            guard let change = try? MembershipChange(decoding: entry.data),
                let addresses = try? AddressBook(decoding: change.context)
            else { continue }
            for (id, address) in addresses.addresses where id != localID && book[id] != address {
                book.set(id, address)
                transport.setPeerAddress(id, address: address.raftAddress)
            }
        }
    }

    private func applyMembership(_ entry: Entry) {
        guard let change = try? MembershipChange(decoding: entry.data) else {
            logger.error("membership entry \(entry.index) cannot be decoded")
            return
        }
        appliedMembership = change.membership
        appliedMembershipIndex = entry.index
        adoptMembershipContext(change.context, membership: change.membership)
        logMembershipChange(change, at: entry.index)
        metrics.members.record(change.membership.members.count)
        completeMembershipWaiters(change.membership)
    }

    private func logMembershipChange(_ change: MembershipChange, at index: LogIndex) {
        let voters = change.membership.voters.sorted().map(\.description).joined(separator: ",")
        let learners = change.membership.learners.sorted().map(\.description).joined(separator: ",")
        let what: String
        switch change.change {
        case .none: what = "founding membership"
        case .some(let configChange):
            switch configChange.kind {
            case .addLearner: what = "added learner \(configChange.node)"
            case .addVoter: what = "promoted \(configChange.node) to voter"
            case .remove: what = "removed \(configChange.node)"
            }
        }
        logger.notice("membership change at \(index): \(what); voters [\(voters)] learners [\(learners)]")
    }

    /// Makes the address book what a committed configuration says (members it no longer names
    /// are forgotten, by the transport too).
    func adoptMembershipContext(_ context: [UInt8], membership: Membership) {
        let addresses: AddressBook
        do {
            addresses = try AddressBook(decoding: context)
        } catch {
            logger.error("membership context cannot be decoded: \(error)")
            return
        }
        for (id, address) in addresses.addresses where book[id] != address {
            book.set(id, address)
            if id != localID { transport.setPeerAddress(id, address: address.raftAddress) }
        }
        // A node that does not know its configuration yet (a joiner with an empty log) keeps the
        // addresses it was given.
        guard !membership.isEmpty else { return }
        // Members of a newer configuration already appended keep their addresses.
        let appended = core?.currentMembership.membership ?? membership
        for id in book.ids where !membership.contains(id) && !appended.contains(id) && id != localID {
            book.remove(id)
            transport.setPeerAddress(id, address: nil)
        }
    }

    func updateIndexMetrics(_ status: Status?) {
        guard let status else { return }
        metrics.commitIndex.record(Int(truncatingIfNeeded: status.commitIndex.rawValue))
        metrics.appliedIndex.record(Int(truncatingIfNeeded: store.appliedIndex.rawValue))
        metrics.snapshotIndex.record(Int(truncatingIfNeeded: status.snapshotIndex.rawValue))
        metrics.keys.record(store.count)
    }

    // MARK: Snapshots

    /// Takes a snapshot every `snapshotEntries` applied entries.
    func maybeTakeSnapshot() {
        guard store.appliedIndex.rawValue >= lastSnapshotIndex.rawValue + UInt64(options.snapshotEntries) else { return }
        takeSnapshot()
    }

    /// Snapshots the state machine as of its applied index, saves it (off the actor), then
    /// compacts the core's log. At most one at a time.
    @discardableResult
    func takeSnapshot() -> Bool {
        guard !isSnapshotInProgress, let core, store.appliedIndex > lastSnapshotIndex,
            let metadata = core.snapshotMetadata(at: store.appliedIndex)
        else { return false }
        isSnapshotInProgress = true
        // KVStore is copy-on-write: the copy serializes off the actor while applying goes on.
        let frozen = store
        let storage = self.storage
        Task.detached {
            let data = frozen.snapshot()
            do {
                try await storage.saveSnapshot(metadata, data: data)
                await self.didSaveSnapshot(metadata, bytes: data.count)
            } catch {
                await self.failFatally("saving a snapshot: \(error)")
            }
        }
        return true
    }

    /// Waits until the snapshot in progress (if any) is durable and the log compacted.
    func waitForSnapshotInProgress() async {
        guard isSnapshotInProgress else { return }
        await withCheckedContinuation { snapshotWaiters.append($0) }
    }

    private func didSaveSnapshot(_ metadata: SnapshotMetadata, bytes: Int) {
        isSnapshotInProgress = false
        defer {
            let waiters = snapshotWaiters
            snapshotWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        guard lifecycle == .running else { return }
        lastSnapshotIndex = max(lastSnapshotIndex, metadata.index)
        core?.compact(to: metadata, retainingEntries: UInt64(options.snapshotRetainedEntries))
        metrics.snapshotsTaken.increment()
        logger.notice("snapshot taken at index \(metadata.index) (term \(metadata.term)), \(bytes) bytes")
        kick()
    }
}
