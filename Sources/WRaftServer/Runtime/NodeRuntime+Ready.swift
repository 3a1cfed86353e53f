import KVStore
import RaftCore

// The Ready pipeline (Docs/ARCHITECTURE.md): Readys are taken as soon as there is work (their
// appends go out, their commits are applied), and written in order by one persister that
// merges every Ready queued behind the write in flight into the next fsync.
extension NodeRuntime {
    /// How many Readys (and snapshot saves) may wait for storage before the loop stops taking
    /// more; proposals then gather in the core and go out together once storage catches up.
    static let persistQueueMax = 64

    /// Makes sure the Ready loop runs if there is work. Cheap when it already runs.
    func kick() {
        guard !isDriving, lifecycle == .running else { return }
        guard !queuedProposals.isEmpty || core?.hasReady == true else { return }
        isDriving = true
        // A task, not a call: the requests and messages that arrive in this event-loop turn join
        // the same Ready.
        Task { self.drive() }
    }

    private func drive() {
        while lifecycle == .running {
            flushProposals()
            guard persistQueue.count < Self.persistQueueMax, core?.hasReady == true else { break }
            takeReady()
        }
        isDriving = false
    }

    /// Takes one Ready: sends what may go before the write, applies its commits (unless it
    /// carries a snapshot), and queues it for the persister.
    private func takeReady() {
        guard let ready = core?.ready() else { return }
        metrics.readyBatches.increment()
        if !ready.entries.isEmpty { metrics.readyEntries.record(ready.entries.count) }
        noteAppendedMembership(ready.entries)

        // Dissertation 10.2.1: the leader's appends may go out while its own write is in flight
        // (it counts itself only once durable). Anything that promises durability (votes,
        // append responses) waits for the fsync.
        let (early, late) = partitionMessages(ready)
        if !early.isEmpty { send(early) }
        // Committed entries are durable on a quorum already, so they are applied, and their
        // clients answered, at once: a commit does not wait for an unrelated fsync. A snapshot to
        // install comes first, though, so then applying waits for it.
        if let snapshot = ready.snapshot {
            snapshotNamedByReady = snapshot.index
        } else {
            applyAndServeReads(ready)
        }
        persistQueue.append(.ready(ready, lateMessages: late))
        startPersisterIfNeeded()
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

    // MARK: The persister

    private func startPersisterIfNeeded() {
        guard !isPersisting, !persistQueue.isEmpty else { return }
        isPersisting = true
        Task { await self.runPersister() }
    }

    /// Writes the queued work in order, one fsync per batch of Readys, until the queue is empty.
    private func runPersister() async {
        persisting: while lifecycle == .running, let work = persistQueue.popFirst() {
            switch work {
            case .ready(let first, let late):
                var batch = PersistBatch(first)
                var lateMessages = [late]
                while case .ready(let next, let nextLate)? = persistQueue.first, batch.merge(next) {
                    _ = persistQueue.popFirst()
                    lateMessages.append(nextLate)
                }
                // False: storage failed (the node stops) or the node stopped meanwhile.
                guard await persist(batch) else { break persisting }
                finish(batch, lateMessages: lateMessages)
            case .snapshot(let metadata, let data):
                // The leader's newer snapshot was installed while this one was serialized or
                // queued: storage may not go back to it (StorageEngine traps), and it holds
                // nothing the installed one lacks.
                guard metadata.index > lastSnapshotIndex else {
                    logger.info("snapshot at \(metadata.index) dropped: the one installed at \(lastSnapshotIndex) is newer")
                    endSnapshotInProgress()
                    continue persisting
                }
                do {
                    try await storage.saveSnapshot(metadata, data: data)
                } catch {
                    failFatally("saving a snapshot: \(error)")
                    break persisting
                }
                didSaveSnapshot(metadata, bytes: data.count)
            }
            kick()
        }
        // Nothing is queued between the loop's last look at the queue and here (no await).
        isPersisting = false
    }

    /// After a batch is durable: per Ready, in order, the messages that had to wait, a received
    /// snapshot's install and its commits, then `advance`.
    private func finish(_ batch: PersistBatch, lateMessages: [[Message]]) {
        if let hardState = batch.hardState { durableTerm = max(durableTerm, hardState.term) }
        for (ready, late) in zip(batch.readys, lateMessages) {
            if !late.isEmpty { send(late) }
            if let snapshot = ready.snapshot {
                installSnapshot(snapshot)
                applyAndServeReads(ready)
            }
            core?.advance(ready)
        }
        updateIndexMetrics(observeStatus())
        maybeTakeSnapshot()
    }

    /// Makes a batch durable: a received snapshot first (its bytes), then entries, hard state
    /// and the snapshot marker in one fsync. False when storage failed (fatal) or the node stopped.
    private func persist(_ batch: PersistBatch) async -> Bool {
        if let snapshot = batch.snapshot {
            guard let received = receivedSnapshots[snapshot.index] else {
                preconditionFailure("NodeRuntime: the bytes of the snapshot a Ready names are kept until it is finished")
            }
            do {
                try await storage.saveSnapshot(snapshot, data: received.data)
            } catch {
                failFatally("saving a received snapshot: \(error)")
                return false
            }
        }
        var hardState = batch.hardState
        if let changed = hardState, batch.entries.isEmpty, batch.snapshot == nil,
            changed.term == persistedHardState.term, changed.votedFor == persistedHardState.votedFor
        {
            // Only the commit index moved. It is volatile in Raft (a restarted node relearns it
            // from the leader), so it is not worth an fsync of its own: it rides with the next
            // write.
            deferredHardState = changed
            return lifecycle == .running
        }
        if hardState == nil, !batch.entries.isEmpty || batch.snapshot != nil { hardState = deferredHardState }
        guard hardState != nil || !batch.entries.isEmpty || batch.snapshot != nil else { return lifecycle == .running }
        let started = ContinuousClock.now
        do {
            try await storage.persist(hardState: hardState, entries: batch.entries, snapshot: batch.snapshot)
        } catch {
            failFatally("persisting a Ready: \(error)")
            return false
        }
        if let hardState {
            persistedHardState = hardState
            deferredHardState = nil
        }
        metrics.persistTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started))
        metrics.persistReadys.record(batch.readys.count)
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
        guard let received = receivedSnapshots[metadata.index] else {
            preconditionFailure("NodeRuntime: the bytes of the snapshot a Ready names are kept until it is finished")
        }
        receivedSnapshots = receivedSnapshots.filter { $0.key > metadata.index }
        snapshotNamedByReady = nil
        store = received.store
        lastSnapshotIndex = metadata.index
        // The log behind the snapshot is gone: what counts towards the next one starts here.
        appliedBytesSinceSnapshot = 0
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
            appliedBytesSinceSnapshot += entry.data.count
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
                transport.setPeer(id, address)
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
            if id != localID { transport.setPeer(id, address) }
        }
        // A node that does not know its configuration yet (a joiner with an empty log) keeps the
        // addresses it was given.
        guard !membership.isEmpty else { return }
        // Members of a newer configuration already appended keep their addresses.
        let appended = core?.currentMembership.membership ?? membership
        for id in book.ids where !membership.contains(id) && !appended.contains(id) && id != localID {
            book.remove(id)
            lastContact[id] = nil
            transport.setPeer(id, nil)
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

    /// Takes a snapshot every `snapshotEntries` applied entries, or once `snapshotLogBytes` of
    /// commands were applied since the last one.
    func maybeTakeSnapshot() {
        let isDueByEntries =
            store.appliedIndex.rawValue >= lastSnapshotIndex.rawValue + UInt64(options.snapshotEntries)
        guard isDueByEntries || appliedBytesSinceSnapshot >= options.snapshotLogBytes else { return }
        if takeSnapshot() { appliedBytesSinceSnapshot = 0 }
    }

    /// Snapshots the state machine as of its applied index, saves it (off the actor), then
    /// compacts the core's log. At most one at a time. `serialize` encodes the state machine
    /// (tests pass one that finishes when they choose).
    @discardableResult
    func takeSnapshot(serializingWith serialize: @escaping @Sendable (KVStore) async -> [UInt8] = { $0.snapshot() }) -> Bool {
        guard !isSnapshotInProgress, let core, store.appliedIndex > lastSnapshotIndex,
            let metadata = core.snapshotMetadata(at: store.appliedIndex)
        else { return false }
        isSnapshotInProgress = true
        // KVStore is copy-on-write: the copy serializes off the actor while applying goes on.
        let frozen = store
        Task.detached {
            let data = await serialize(frozen)
            await self.queueSnapshotSave(metadata, data: data)
        }
        return true
    }

    /// The persister saves the snapshot after every Ready handed out before now, so the log
    /// entries it covers are written before it (storage deletes the segments it covers).
    private func queueSnapshotSave(_ metadata: SnapshotMetadata, data: [UInt8]) {
        guard lifecycle == .running else {
            didSaveSnapshot(metadata, bytes: data.count)
            return
        }
        persistQueue.append(.snapshot(metadata, data: data))
        startPersisterIfNeeded()
    }

    /// Waits until the snapshot in progress (if any) is durable and the log compacted.
    func waitForSnapshotInProgress() async {
        guard isSnapshotInProgress else { return }
        await withCheckedContinuation { snapshotWaiters.append($0) }
    }

    private func didSaveSnapshot(_ metadata: SnapshotMetadata, bytes: Int) {
        defer { endSnapshotInProgress() }
        guard lifecycle == .running else { return }
        lastSnapshotIndex = max(lastSnapshotIndex, metadata.index)
        core?.compact(to: metadata, retainingEntries: UInt64(options.snapshotRetainedEntries))
        metrics.snapshotsTaken.increment()
        logger.notice("snapshot taken at index \(metadata.index) (term \(metadata.term)), \(bytes) bytes")
        kick()
    }

    /// No snapshot is in progress any more: the next may start, and `/op/snapshot` callers go on.
    private func endSnapshotInProgress() {
        isSnapshotInProgress = false
        let waiters = snapshotWaiters
        snapshotWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}
