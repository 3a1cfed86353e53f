import KVStore
import RaftCore
import RaftPipeline

// The Ready pipeline (Docs/ARCHITECTURE.md): its rules live in `ReadyPipeline`, a pure state
// machine the simulator drives too; this file only carries out its actions. Readys are taken as
// soon as there is work, and one write at a time goes to storage, holding every Ready queued
// behind the write before it (group commit).
extension NodeRuntime {
    /// How many Readys (and snapshot saves) may wait for storage before the loop stops taking
    /// more; proposals then gather in the core and go out together once storage catches up.
    static let persistQueueMax = 64
    /// `Config.commitBroadcastDelayTicks`: one tick (10 ms). Under load the next append tells
    /// followers of a commit; an empty append per commit would double the messages and Readys
    /// of a write when one client writes at a time.
    static let commitBroadcastDelayTicks = 1

    /// Makes sure the Ready loop runs if there is work. Cheap when it already runs.
    func kick() {
        publishCoreEvents()
        guard !isDriving, lifecycle == .running else { return }
        guard proposals.hasQueued || core?.hasReady == true else { return }
        isDriving = true
        // A task, not a call: the requests and messages that arrive in this event-loop turn join
        // the same Ready.
        Task { self.drive() }
    }

    /// Runs the Ready loop in this turn if there is work and it does not run yet: for callers
    /// that are already a deferred turn of their own (`kick` defers, so that what arrives in
    /// the same event-loop turn joins one Ready).
    func driveNow() {
        guard !isDriving, lifecycle == .running else { return }
        guard proposals.hasQueued || core?.hasReady == true else { return }
        isDriving = true
        drive()
    }

    /// Takes Readys while the pipeline has room, then hands storage the next write: every Ready
    /// taken here that may share it.
    private func drive() {
        while lifecycle == .running {
            flushProposals()
            publishCoreEvents()
            guard pipeline.canTakeReady, core?.hasReady == true, let ready = core?.ready() else { break }
            metrics.readyBatches.increment()
            if !ready.entries.isEmpty { metrics.readyEntries.record(ready.entries.count) }
            noteAppendedMembership(ready.entries)
            perform(pipeline.take(ready))
        }
        isDriving = false
        scheduleNextWrite()
    }

    /// Starts the next write once this actor turn is over, when storage is idle: the Readys
    /// taken meanwhile (requests and messages of the same event-loop turn) join it, and one
    /// fsync covers them all.
    func scheduleNextWrite() {
        guard !isWriteScheduled, !pipeline.isWriting, lifecycle == .running else { return }
        isWriteScheduled = true
        Task {
            self.isWriteScheduled = false
            guard self.lifecycle == .running else { return }
            var actions = self.pipeline.startWrite()
            // The write this task was scheduled for is carried out in it, not in a task of its
            // own (a write is the last action: it makes the pipeline busy).
            guard case .write(let write)? = actions.last else {
                self.perform(actions)
                return
            }
            actions.removeLast()
            self.perform(actions)
            await self.carryOut(write)
        }
    }

    /// Starts the pipeline's next write or snapshot save if storage is idle.
    func startNextWrite() {
        guard lifecycle == .running else { return }
        perform(pipeline.startWrite())
    }

    /// Carries out the pipeline's actions, in order.
    private func perform(_ actions: [PipelineAction<ReceivedSnapshot>]) {
        for action in actions {
            switch action {
            case .send(let messages):
                send(messages)
            case .apply(let committed, let readStates):
                apply(committed)
                publishWatchEvents()
                for readState in readStates { noteReadIndex(readState) }
                serveReadsUpToApplied()
            case .write(let write):
                Task { await self.carryOut(write) }
            case .restore(let metadata, let received):
                installSnapshot(metadata, received)
                publishWatchEvents()
            case .advance(let ready):
                core?.advance(ready)
            case .saveSnapshot(let id, let metadata, let data):
                Task { await self.save(id, metadata, data: data) }
            case .compact(let metadata):
                didSaveSnapshot(metadata)
            case .discardSnapshot(let metadata):
                logger.info(
                    "snapshot not saved: a newer one from the leader is durable", metadata: ["raft.snapshot_index": "\(metadata.index)"])
                resumeSnapshotWaiters()
            }
        }
    }

    // MARK: Storage

    /// Makes a write durable: a received snapshot first (its bytes), then entries, hard state
    /// and the snapshot marker in one fsync. Storage failing stops the node.
    private func carryOut(_ write: PipelineWrite<ReceivedSnapshot>) async {
        if let snapshot = write.snapshot {
            do {
                try await storage.saveSnapshot(snapshot.metadata, data: snapshot.received.data)
            } catch {
                failFatally("saving a received snapshot: \(error)")
                return
            }
        }
        let started = ContinuousClock.now
        do {
            try await storage.persist(hardState: write.hardState, entries: write.entries, snapshot: write.snapshot?.metadata)
        } catch {
            failFatally("persisting a Ready: \(error)")
            return
        }
        metrics.persistTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started))
        metrics.persistReadys.record(write.readyCount)
        guard lifecycle == .running else { return }
        if let last = write.entries.last { eventLog.recordFrequent(.persisted(lastIndex: last.index, entryCount: write.entries.count)) }
        perform(pipeline.writeFinished(write.id))
        updateIndexMetrics(observeStatus())
        maybeTakeSnapshot()
        startNextWrite()
        kick()
    }

    /// Saves the node's own snapshot (the pipeline orders it behind the entries it covers).
    private func save(_ id: PipelineWriteID, _ metadata: SnapshotMetadata, data: [UInt8]) async {
        do {
            try await storage.saveSnapshot(metadata, data: data)
        } catch {
            failFatally("saving a snapshot: \(error)")
            return
        }
        guard lifecycle == .running else { return }
        logger.notice(
            "snapshot taken",
            metadata: [
                "raft.snapshot_index": "\(metadata.index)", "raft.snapshot_term": "\(metadata.term)", "bytes": "\(data.count)",
            ])
        eventLog.record(.snapshot(index: metadata.index, term: metadata.term, isReceived: false))
        perform(pipeline.snapshotSaved(id))
        startNextWrite()
        kick()
    }

    // MARK: Sending

    /// Sends messages through the injected faults; snapshots are streamed separately.
    func send(_ messages: [Message]) {
        var plain: [Message] = []
        plain.reserveCapacity(messages.count)
        for message in messages {
            eventLog.recordMessage(message, isSent: true)
            if case .installSnapshot = message.payload {
                sendSnapshot(message)
            } else {
                plain.append(message)
            }
        }
        guard !plain.isEmpty else { return }
        guard !faults.isEmpty else {
            timeHeartbeats(plain)
            transport.send(plain)
            return
        }
        let kept = plain.filter { !faults.dropsOutgoing(to: $0.to) }
        metrics.outgoingDropped.increment(by: plain.count - kept.count)
        guard !kept.isEmpty else { return }
        timeHeartbeats(kept)
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

    /// Starts timing the round trip of the heartbeats among `messages` (`PeerRoundTrips`).
    private func timeHeartbeats(_ messages: [Message]) {
        guard isLeader else { return }
        let now = clock.now
        for message in messages {
            if case .heartbeat = message.payload { roundTrips.heartbeatSent(to: message.to, at: now) }
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
        logger.info("sending snapshot", metadata: ["raft.snapshot_index": "\(named.index)", "raft.peer_id": "\(peer)"])
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
            logger.info("snapshot sent", metadata: ["raft.snapshot_index": "\(index)", "raft.peer_id": "\(peer)"])
        } else {
            logger.warning(
                "snapshot not delivered; the leader will retry", metadata: ["raft.snapshot_index": "\(index)", "raft.peer_id": "\(peer)"])
        }
        core?.reportSnapshot(to: peer, succeeded: succeeded)
        kick()
    }

    // MARK: Installing and applying

    private func installSnapshot(_ metadata: SnapshotMetadata, _ received: ReceivedSnapshot) {
        store = received.store
        // The log the bytes were counted against is gone with the old state.
        appliedBytesSinceSnapshot = 0
        appliedMembership = metadata.membership
        appliedMembershipIndex = metadata.index
        adoptMembershipContext(metadata.membershipContext, membership: metadata.membership)
        completeMembershipWaiters(metadata.membership)
        metrics.snapshotsInstalled.increment()
        eventLog.record(.snapshot(index: metadata.index, term: metadata.term, isReceived: true))
        logger.notice(
            "snapshot installed",
            metadata: [
                "raft.snapshot_index": "\(metadata.index)", "raft.snapshot_term": "\(metadata.term)", "keys": "\(store.count)",
            ])
    }

    private func apply(_ entries: [Entry]) {
        guard let last = entries.last else { return }
        let started = ContinuousClock.now
        defer { metrics.applyTime.recordNanoseconds(RuntimeMetrics.nanoseconds(since: started)) }
        eventLog.recordFrequent(.applied(index: last.index))
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
            eventLog.record(.membership(
                index: entry.index, voters: change.membership.voters.sorted(), learners: change.membership.learners.sorted()))
            for (id, address) in addresses.addresses where id != localID && book[id] != address {
                book.set(id, address)
                transport.setPeer(id, address)
            }
        }
    }

    private func applyMembership(_ entry: Entry) {
        guard let change = try? MembershipChange(decoding: entry.data) else {
            logger.error("membership entry cannot be decoded", metadata: ["raft.index": "\(entry.index)"])
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
        logger.notice(
            "membership change",
            metadata: ["raft.index": "\(index)", "change": "\(what)", "raft.voters": "\(voters)", "raft.learners": "\(learners)"])
    }

    /// Makes the address book what a committed configuration says (members it no longer names
    /// are forgotten, by the transport too).
    func adoptMembershipContext(_ context: [UInt8], membership: Membership) {
        let addresses: AddressBook
        do {
            addresses = try AddressBook(decoding: context)
        } catch {
            logger.error("membership context cannot be decoded", metadata: ["error": "\(error)"])
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
        metrics.storeBytes.record(store.byteCount)
        metrics.storeHistoryBytes.record(store.historyByteCount)
        if let logInMemory = core?.logInMemory {
            metrics.logEntriesInMemory.record(logInMemory.entries)
            metrics.logBytesInMemory.record(logInMemory.bytes)
        }
    }

    // MARK: Snapshots

    /// Whether the node's own snapshot is being serialized or saved.
    var isSnapshotInProgress: Bool { pipeline.isSnapshotInProgress }
    /// The newest durable snapshot's index (own or received).
    var lastSnapshotIndex: LogIndex { pipeline.snapshotIndex }

    /// Takes a snapshot every `snapshotEntries` applied entries, or once `snapshotLogBytes` of
    /// commands were applied since the last one.
    func maybeTakeSnapshot() {
        let isDueByEntries =
            store.appliedIndex.rawValue >= pipeline.snapshotIndex.rawValue + UInt64(options.snapshotEntries)
        guard isDueByEntries || appliedBytesSinceSnapshot >= options.snapshotLogBytes else { return }
        if takeSnapshot() { appliedBytesSinceSnapshot = 0 }
    }

    /// Snapshots the state machine as of its applied index, saves it (off the actor), then
    /// compacts the core's log. At most one at a time. `serialize` encodes the state machine
    /// (tests pass one that finishes when they choose).
    @discardableResult
    func takeSnapshot(serializingWith serialize: @escaping @Sendable (KVStore) async -> [UInt8] = { $0.snapshot() }) -> Bool {
        guard !pipeline.isSnapshotInProgress, let core, store.appliedIndex > pipeline.snapshotIndex,
            let metadata = core.snapshotMetadata(at: store.appliedIndex)
        else { return false }
        pipeline.snapshotStarted()
        // KVStore is copy-on-write: the copy serializes off the actor while applying goes on.
        let frozen = store
        Task.detached {
            let data = await serialize(frozen)
            await self.snapshotSerialized(metadata, data: data)
        }
        return true
    }

    /// The pipeline saves the snapshot after every Ready handed out before now, so the log
    /// entries it covers are written before it (storage deletes the segments it covers).
    private func snapshotSerialized(_ metadata: SnapshotMetadata, data: [UInt8]) {
        guard lifecycle == .running else {
            resumeSnapshotWaiters()
            return
        }
        pipeline.snapshotTaken(metadata, data: data)
        startNextWrite()
    }

    /// Waits until the snapshot in progress (if any) is durable and the log compacted.
    func waitForSnapshotInProgress() async {
        guard pipeline.isSnapshotInProgress else { return }
        await withCheckedContinuation { snapshotWaiters.append($0) }
    }

    private func didSaveSnapshot(_ metadata: SnapshotMetadata) {
        defer { resumeSnapshotWaiters() }
        core?.compact(to: metadata, retainingEntries: UInt64(options.snapshotRetainedEntries))
        metrics.snapshotsTaken.increment()
    }

    /// `/op/snapshot` callers: the snapshot in progress is over.
    func resumeSnapshotWaiters() {
        let waiters = snapshotWaiters
        snapshotWaiters = []
        for waiter in waiters { waiter.resume() }
    }
}
