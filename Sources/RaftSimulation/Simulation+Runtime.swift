import KVStore
import RaftCore
import RaftPipeline
import WRaftSupport

/// The simulated runtime of each node: it carries out the shipped `ReadyPipeline`'s actions
/// against the simulated disk and network, can crash between any two of them, and checks what
/// the core and the pipeline hand it.
extension Simulation {
    // MARK: Life cycle

    @discardableResult
    func spawn(_ id: NodeID, durable: DurableState) -> SimulatedNode {
        precondition(nodeIndex[id] == nil, "Simulation: node ids are unique")
        var config = Config(id: id)
        config.electionTimeoutTicks = options.electionTimeoutTicks
        config.electionTimeoutJitterTicks = options.electionTimeoutJitterTicks
        config.heartbeatTicks = options.heartbeatTicks
        config.isPreVoteEnabled = options.isPreVoteEnabled
        config.isCheckQuorumEnabled = options.isCheckQuorumEnabled
        config.inflightMessagesMax = options.inflightMessagesMax
        config.messageBytesMax = options.messageBytesMax
        config.uncommittedBytesMax = options.uncommittedBytesMax
        config.commitBroadcastDelayTicks = min(options.commitBroadcastDelayTicks, options.heartbeatTicks)
        let node = SimulatedNode(
            id: id, config: config, durable: durable,
            tickRatePermille: random.int(in: options.tickRatePermille), proposals: makeProposalQueue(for: id))
        nodeIndex[id] = nodes.count
        nodes.append(node)
        start(node)
        return node
    }

    /// Builds the node's core and state machine from its durable state.
    func start(_ node: SimulatedNode) {
        node.config.randomSeed = random.next()
        do {
            node.core = try RaftNode(config: node.config, state: node.durable.persistentState)
            if options.isRecordingEvents, let status = node.core?.status {
                // The core starts committed at least up to its snapshot.
                var startState = node.durable.hardState
                startState.commit = status.commitIndex
                appendToTimeline(.restart(startState), of: node)
                node.core?.setRecordingEvents(true)
            }
        } catch {
            fail("Durability", "\(TraceFormat.name(node.id)) cannot restart from its durable state: \(error)")
            return
        }
        do {
            node.machine = try CheckedStateMachine(snapshot: node.durable.snapshotBytes)
        } catch {
            fail("Durability", "\(TraceFormat.name(node.id)) has unreadable snapshot bytes: \(error)")
        }
        if node.machine.appliedIndex > .zero {
            checker.observeRestored(node.machine.digest, node: node.id, at: now)
        }
        node.pipeline = ReadyPipeline(
            persisted: node.durable.hardState, snapshotIndex: node.durable.snapshot.index,
            queuedWorkMax: options.pipelineQueuedWorkMax)
        node.diskOperation = nil
        node.serializingSnapshot = nil
        node.lastRole = nil
        node.lastCommit = node.durable.hardState.commit
        node.tickAccumulator = 0
        node.proposals = makeProposalQueue(for: node.id)
        node.observedLeader = nil
    }

    func crashNode(_ node: SimulatedNode, at point: String) {
        node.core = nil
        node.pipeline.stop()
        node.diskOperation = nil
        node.machine = CheckedStateMachine()
        node.pendingReports.removeAll()
        node.serializingSnapshot = nil
        loseClientWrites(of: node)
        node.crashCount += 1
        node.scheduledCrash = nil
        record(.crash(node.id, stage: point))
    }

    /// Crashes the node here when a crash is scheduled for this point or drawn at random.
    /// Returns true when it crashed.
    private func crashes(_ node: SimulatedNode, at point: CrashPoint) -> Bool {
        let isScheduled = node.scheduledCrash == point
        guard isScheduled || random.chance(options.crashProbabilityPerStage) else { return false }
        crashNode(node, at: point.rawValue)
        return true
    }

    // MARK: The Ready loop

    /// Carries out the node's pipeline: finishes the disk operation that became durable, takes
    /// the core's Readys, and hands the next write to the disk, as the node's runtime does.
    func drive(_ node: SimulatedNode) {
        serveClientWrites(of: node)
        var rounds = 0
        while node.isRunning {
            if let operation = node.diskOperation, now >= operation.durableAt {
                guard complete(operation, on: node) else { return }
                continue
            }
            if rounds < options.readyRoundsPerStepMax, node.pipeline.canTakeReady, let core = node.core, core.hasReady {
                rounds += 1
                drainEvents(of: node)
                guard var ready = node.core?.ready() else { return }
                if options.isRecordingEvents { appendToTimeline(.ready(ReadyFacts(ready)), of: node) }
                canonicalize(&ready)
                record(.ready(node.id, ReadySummary(ready)))
                guard perform(node.pipeline.take(ready), on: node, afterWrite: false) else { return }
                continue
            }
            if let serializing = node.serializingSnapshot, now >= serializing.readyAt {
                node.serializingSnapshot = nil
                node.pipeline.snapshotTaken(serializing.metadata, data: serializing.data)
                continue
            }
            takeSnapshotIfDue(on: node)
            guard node.diskOperation == nil, !node.pipeline.isIdle else { return }
            guard perform(node.pipeline.startWrite(), on: node, afterWrite: true) else { return }
        }
    }

    /// Moves the events the core recorded into the node's timeline.
    func drainEvents(of node: SimulatedNode) {
        guard options.isRecordingEvents, node.core?.hasEvents == true, let events = node.core?.takeEvents() else { return }
        for event in events { appendToTimeline(.event(event), of: node) }
    }

    private func appendToTimeline(_ item: EventTimelineItem, of node: SimulatedNode) {
        if node.eventTimeline.count >= options.eventTimelineItemsMax {
            node.eventTimeline.removeFirst(node.eventTimeline.count / 2)
        }
        node.eventTimeline.append(item)
    }

    /// Message order within a Ready may follow the core's hash-set iteration, which changes
    /// between processes; a stable sort by destination keeps each link's order and makes a seed
    /// replay identically anywhere.
    private func canonicalize(_ ready: inout Ready) {
        guard ready.messages.count > 1 else { return }
        ready.messages = ready.messages.enumerated()
            .sorted { ($0.element.to, $0.offset) < ($1.element.to, $1.offset) }
            .map(\.element)
    }

    /// Carries out the pipeline's actions in order. `afterWrite`: they follow a durable write
    /// (so what they apply must be in the durable log). False when the node crashed on the way.
    private func perform(_ actions: [PipelineAction<[UInt8]>], on node: SimulatedNode, afterWrite: Bool) -> Bool {
        for action in actions {
            switch action {
            case .send(let messages):
                for message in messages { send(message, from: node) }
                if crashes(node, at: .afterSend) { return false }
            case .apply(let committed, let readStates):
                apply(committed, readStates: readStates, on: node, isDurable: afterWrite)
                if crashes(node, at: .afterApply) { return false }
            case .write(let write):
                node.diskOperation = DiskOperation(kind: .write(write), durableAt: now + diskLatency(of: node))
            case .restore(let metadata, let bytes):
                restoreMachine(from: metadata, bytes: bytes, on: node)
            case .advance(let ready):
                node.core?.advance(ready)
                observe(node)
            case .saveSnapshot(let id, let metadata, let data):
                node.diskOperation = DiskOperation(kind: .save(id, metadata, data: data), durableAt: now + diskLatency(of: node))
            case .compact(let metadata):
                node.core?.compact(to: metadata, retainingEntries: options.entriesRetainedAfterSnapshot)
                record(.snapshot(node.id, metadata.index))
            case .discardSnapshot(let metadata):
                discardedSnapshots += 1
                record(.note("\(TraceFormat.name(node.id)) discards its snapshot at \(metadata.index): a newer one is durable"))
            }
        }
        return true
    }

    private func diskLatency(of node: SimulatedNode) -> UInt64 {
        UInt64(random.int(in: node.diskLatencyTicks ?? options.diskLatencyTicks))
    }

    /// The disk operation is done: its effect becomes durable, then the pipeline finishes it.
    /// False when the node crashed on the way.
    private func complete(_ operation: DiskOperation, on node: SimulatedNode) -> Bool {
        if crashes(node, at: .beforePersist) { return false }
        node.diskOperation = nil
        switch operation.kind {
        case .write(let write):
            persist(write, on: node)
            if crashes(node, at: .afterPersist) { return false }
            return perform(node.pipeline.writeFinished(write.id), on: node, afterWrite: true)
        case .save(let id, let metadata, let data):
            saveOwnSnapshot(metadata, data: data, on: node)
            return perform(node.pipeline.snapshotSaved(id), on: node, afterWrite: true)
        }
    }

    // MARK: Persist

    private func persist(_ write: PipelineWrite<[UInt8]>, on node: SimulatedNode) {
        if let snapshot = write.snapshot {
            persistSnapshot(snapshot.metadata, bytes: snapshot.received, on: node)
        }
        if !write.entries.isEmpty {
            let previousTerm = node.durable.term(at: write.entries[0].index - 1)
            if let problem = node.durable.append(write.entries) {
                fail("ReadyContract", "\(TraceFormat.name(node.id)): \(problem)")
            } else if let previousTerm {
                checker.observeLogSegment(write.entries, previousTerm: previousTerm, source: "\(TraceFormat.name(node.id))'s log", at: now)
            }
        }
        if let hardState = write.hardState {
            persistHardState(hardState, on: node)
        }
    }

    private func persistSnapshot(_ snapshot: SnapshotMetadata, bytes: [UInt8], on node: SimulatedNode) {
        guard snapshot.index > node.durable.snapshot.index else {
            fail("ReadyContract", "\(TraceFormat.name(node.id)) was asked to install snapshot \(snapshot.index), not newer than its \(node.durable.snapshot.index)")
            return
        }
        node.durable.store(snapshot: snapshot, bytes: bytes)
    }

    /// Storage refuses a snapshot that goes backwards, and drops the log it covers: the entries
    /// up to it must be durable first.
    private func saveOwnSnapshot(_ metadata: SnapshotMetadata, data: [UInt8], on node: SimulatedNode) {
        let name = TraceFormat.name(node.id)
        guard metadata.index > node.durable.snapshot.index else {
            fail("ReadyContract", "\(name) saved its snapshot at \(metadata.index), not newer than its durable \(node.durable.snapshot.index)")
            return
        }
        guard node.durable.term(at: metadata.index) == metadata.term else {
            fail("Durability", "\(name) saved its snapshot at \(metadata.index)@\(metadata.term) before that entry was durable")
            return
        }
        node.durable.store(snapshot: metadata, bytes: data)
    }

    private func persistHardState(_ hardState: HardState, on node: SimulatedNode) {
        let old = node.durable.hardState
        let name = TraceFormat.name(node.id)
        if hardState.term < old.term {
            fail("Monotonicity", "\(name) persisted term \(hardState.term) after \(old.term)")
        }
        if hardState.term == old.term, let oldVote = old.votedFor, hardState.votedFor != oldVote {
            fail("ElectionSafety", "\(name) changed its vote in term \(old.term) from \(TraceFormat.name(oldVote)) to \(hardState.votedFor.map(TraceFormat.name) ?? "nobody")")
        }
        if hardState.commit < old.commit {
            fail("Monotonicity", "\(name) persisted commit \(hardState.commit) after \(old.commit)")
        }
        node.durable.hardState = hardState
        if hardState.commit > node.durable.lastIndex {
            fail("ReadyContract", "\(name) persisted commit \(hardState.commit) beyond its last stored index \(node.durable.lastIndex)")
        }
        checker.observeCommit(hardState.commit)
    }

    // MARK: Send

    /// Hands a message to the network, after checking that what it promises is durable.
    func send(_ message: Message, from node: SimulatedNode) {
        guard message.from == node.id else {
            fail("ReadyContract", "\(TraceFormat.name(node.id)) sent a message from \(TraceFormat.name(message.from))")
            return
        }
        checkPromisesAreDurable(message, from: node)
        var envelope = Envelope(message: message, snapshotBytes: nil, reportsSnapshotOutcome: false)
        switch message.payload {
        case .append(let request):
            checker.observeLogSegment(request.entries, previousTerm: request.previousTerm, source: "an append from \(TraceFormat.name(node.id))", at: now)
        case .installSnapshot(let snapshot):
            guard node.durable.snapshot.index == snapshot.index else {
                // The runtime compacted to a newer snapshot after the core chose this one: it no
                // longer has these bytes, so the transfer fails and the core sends the newer one.
                guard node.durable.snapshot.index > snapshot.index else {
                    fail("ReadyContract", "\(TraceFormat.name(node.id)) sent snapshot \(snapshot.index) newer than its durable snapshot \(node.durable.snapshot.index)")
                    return
                }
                record(.drop(message, reason: "snapshot superseded"))
                node.pendingReports.append((message.to, false))
                return
            }
            envelope.snapshotBytes = node.durable.snapshotBytes
            envelope.reportsSnapshotOutcome = true
        default:
            break
        }
        record(.send(message))
        transmit(envelope)
    }

    private func checkPromisesAreDurable(_ message: Message, from node: SimulatedNode) {
        let name = TraceFormat.name(node.id)
        switch message.payload {
        case .voteResponse(let response) where response.isGranted && !response.isPreVote:
            let hardState = node.durable.hardState
            // A durable newer term also keeps the node from voting again in the vote's term.
            let isPromiseKept = hardState.term > message.term || (hardState.term == message.term && hardState.votedFor == message.to)
            if !isPromiseKept {
                fail("Durability", "\(name) granted its vote in term \(message.term) to \(TraceFormat.name(message.to)) before persisting it (durable: term \(hardState.term), vote \(hardState.votedFor.map(TraceFormat.name) ?? "-"))")
            }
        case .appendResponse(let response) where !response.isRejected:
            if response.index > node.durable.lastIndex {
                fail("Durability", "\(name) acknowledged entries up to \(response.index) with only \(node.durable.lastIndex) durable")
            } else if let durableTerm = node.durable.term(at: response.index), durableTerm > message.term {
                // A leader of term T holds no entry of a later term: the acknowledged entry was
                // overwritten before the acknowledgement went out.
                fail("Durability", "\(name) acknowledged index \(response.index) in term \(message.term) but its durable entry there is of term \(durableTerm)")
            }
        default:
            break
        }
    }

    private func transmit(_ envelope: Envelope) {
        let message = envelope.message
        if network.isBlocked(from: message.from, to: message.to) {
            dropped(envelope, reason: "partition")
            return
        }
        if random.chance(network.faults.dropProbability) {
            dropped(envelope, reason: "loss")
            return
        }
        let copies = random.chance(network.faults.duplicateProbability) ? 2 : 1
        for copy in 0..<copies {
            var sent = envelope
            if copy > 0 {
                sent.reportsSnapshotOutcome = false
                record(.duplicate(message))
            }
            let delay = max(1, random.int(in: network.faults.delayTicks))
            network.enqueue(sent, arrivingAt: now + UInt64(delay))
        }
    }

    /// A lost message; a transport would notice a cut link and a failed snapshot stream.
    private func dropped(_ envelope: Envelope, reason: String) {
        record(.drop(envelope.message, reason: reason))
        guard let sender = node(envelope.message.from), sender.isRunning else { return }
        if envelope.reportsSnapshotOutcome {
            sender.pendingReports.append((envelope.message.to, false))
        } else if reason == "partition", envelope.message.payload.isAppend, random.chance(0.5) {
            sender.pendingReports.append((envelope.message.to, nil))
        }
    }

    // MARK: Deliver

    func deliver(_ envelope: Envelope) {
        let message = envelope.message
        guard let receiver = node(message.to), receiver.isRunning, !receiver.isRetired else {
            dropped(envelope, reason: "node down")
            return
        }
        if network.isBlocked(from: message.from, to: message.to) {
            dropped(envelope, reason: "partition")
            return
        }
        record(.deliver(message))
        if case .installSnapshot(let snapshot) = message.payload, let bytes = envelope.snapshotBytes {
            guard let commitBefore = receiver.core?.status.commitIndex else { return }
            receiver.core?.step(message)
            receiver.pipeline.snapshotStepped(
                snapshot, bytes, commitIndexBefore: commitBefore,
                snapshotIndexAfter: receiver.core?.status.snapshotIndex ?? .zero)
        } else {
            switch receiver.pipeline.arrived(message) {
            case .step: receiver.core?.step(message)
            case .readIndex(let readState): completeRead(readState, on: receiver)
            case .ignore: break
            }
        }
        if envelope.reportsSnapshotOutcome, let sender = node(message.from), sender.isRunning {
            sender.pendingReports.append((message.to, true))
        }
    }

    // MARK: Apply

    /// Applies committed entries and serves reads; `isDurable` says whether their write is done
    /// (then each applied entry must be in the durable log).
    private func apply(_ committed: [Entry], readStates: [ReadState], on node: SimulatedNode, isDurable: Bool) {
        for entry in committed {
            guard applyCommitted(entry, on: node, isDurable: isDurable) else { break }
        }
        for readState in readStates {
            completeRead(readState, on: node)
        }
    }

    private func restoreMachine(from snapshot: SnapshotMetadata, bytes: [UInt8], on node: SimulatedNode) {
        do {
            let restored = try CheckedStateMachine(snapshot: bytes)
            if restored.appliedIndex < node.machine.appliedIndex {
                fail("Monotonicity", "\(TraceFormat.name(node.id)) installed snapshot \(snapshot.index) behind its applied index \(node.machine.appliedIndex)")
            }
            if restored.appliedIndex != snapshot.index {
                fail("ReadyContract", "\(TraceFormat.name(node.id)) got snapshot bytes at \(restored.appliedIndex) for snapshot \(snapshot.index)")
            }
            node.machine = restored
            checker.observeRestored(restored.digest, node: node.id, at: now)
        } catch {
            fail("ReadyContract", "\(TraceFormat.name(node.id)) got unreadable snapshot bytes: \(error)")
        }
    }

    /// Applies one committed entry; false when the Ready broke the contract.
    private func applyCommitted(_ entry: Entry, on node: SimulatedNode, isDurable: Bool) -> Bool {
        let name = TraceFormat.name(node.id)
        guard entry.index == node.machine.appliedIndex.next else {
            fail("ReadyContract", "\(name) was handed committed entry \(entry.index) after applying \(node.machine.appliedIndex)")
            return false
        }
        // Applied early, an entry may not be durable here yet; State Machine Safety (the checker)
        // still holds it to what the cluster committed.
        guard !isDurable || node.durable.term(at: entry.index) == entry.term || entry.index <= node.durable.snapshot.index else {
            fail("Durability", "\(name) applies \(entry.index)@\(entry.term) which is not in its durable log")
            return false
        }
        let result = node.machine.apply(entry)?.1
        checker.observeApplied(entry, digest: node.machine.digest.digest, node: node.id, at: now)
        if let ticket = Simulation.ticket(in: entry), var record = proposals[ticket] {
            if record.appliedIndex == nil { record.appliedIndex = entry.index }
            if record.proposer == node.id { record.isAcknowledged = true }
            proposals[ticket] = record
            if let result { clientWriteApplied(ticket: ticket, result: result, at: entry.index, on: node) }
        }
        return true
    }

    private func completeRead(_ readState: ReadState, on node: SimulatedNode) {
        guard var read = reads[readState.id] else {
            fail("LinearizableRead", "\(TraceFormat.name(node.id)) got read state #\(readState.id) that was never requested")
            return
        }
        if readState.index < read.requiredIndex {
            fail("LinearizableRead", "read #\(readState.id) on \(TraceFormat.name(node.id)) got index \(readState.index) but \(read.requiredIndex) was committed before it was asked")
        }
        if read.readIndex == nil { read.readIndex = readState.index }
        reads[readState.id] = read
        record(.read(node.id, readState.id, readState.index))
    }

    // MARK: Observe

    /// Role and commit changes after `advance`; Election Safety and Leader Completeness.
    private func observe(_ node: SimulatedNode) {
        guard let core = node.core else { return }
        let status = core.status
        if status.role != node.lastRole || status.term != node.lastTerm {
            node.lastRole = status.role
            node.lastTerm = status.term
            record(.role(node.id, status.role, status.term))
            if status.role == .leader, checker.observeLeader(node.id, term: status.term, at: now) {
                checker.checkLeaderCompleteness(
                    leader: node.id, term: status.term, snapshotIndex: status.snapshotIndex, at: now
                ) { from, limit in core.entries(from: from, limit: limit) }
                if let violation = checker.violations.last, violation.time == now, violation.property == "LeaderCompleteness" {
                    record(.violation(violation.description))
                }
            }
        }
        if status.commitIndex < node.lastCommit {
            fail("Monotonicity", "\(TraceFormat.name(node.id)) commit index went back from \(node.lastCommit) to \(status.commitIndex)")
        }
        node.lastCommit = status.commitIndex
        checker.observeCommit(status.commitIndex)
    }

    // MARK: Snapshots

    private func takeSnapshotIfDue(on node: SimulatedNode) {
        guard let every = options.snapshotEveryEntries, let core = node.core, !node.pipeline.isSnapshotInProgress else { return }
        let applied = node.machine.appliedIndex
        guard applied > node.pipeline.snapshotIndex, node.pipeline.snapshotIndex.distance(to: applied) >= UInt64(every) else { return }
        takeSnapshot(on: node, core: core, at: applied)
    }

    /// Captures the state machine at `applied` and hands it to the pipeline, which saves it
    /// behind the Readys taken before it and then compacts the core's log.
    func takeSnapshot(on node: SimulatedNode, core: RaftNode, at applied: LogIndex) {
        guard !node.pipeline.isSnapshotInProgress else { return }
        guard let metadata = core.snapshotMetadata(at: applied) else {
            // Documented: nil when the index is no longer in the log (a snapshot from the leader
            // replaced it while this Ready was being written).
            record(.note("\(TraceFormat.name(node.id)) cannot snapshot at \(applied): not in its log"))
            return
        }
        guard metadata.index == applied, metadata.term == node.machine.appliedTerm else {
            fail("ReadyContract", "\(TraceFormat.name(node.id)) snapshot metadata \(metadata.index)@\(metadata.term) does not match applied \(applied)@\(node.machine.appliedTerm)")
            return
        }
        node.pipeline.snapshotStarted()
        let ticks = options.snapshotSerializationTicks
        guard ticks.upperBound > 0 else {
            node.pipeline.snapshotTaken(metadata, data: node.machine.snapshot())
            return
        }
        // The state is captured now; its bytes reach the pipeline later, as the runtime's
        // serialization off the actor does.
        let readyAt = now + UInt64(random.int(in: ticks))
        node.serializingSnapshot = (metadata, node.machine.snapshot(), readyAt)
        record(.note("\(TraceFormat.name(node.id)) serializes its snapshot at \(metadata.index) until tick \(readyAt)"))
    }

    // MARK: Commands

    /// Client ids of the simulated clients: tickets are spread over this many lanes, so each
    /// lane's window of remembered results (KVStore's sessions) covers the reordering of a run.
    static let clientLanes: UInt64 = 64

    /// The key-value command a proposal's ticket stands for: a put, a delete or a
    /// compare-and-set on one of a few keys, and now and then a lease grant or revoke, a put on a
    /// lease, a transaction or a compaction (issue 12: every member must reach the same
    /// revisions, history and leases), drawn from the ticket (so a seed replays), with a
    /// request id the ticket can be read back from.
    static func command(ticket: UInt64) -> [UInt8] {
        let draw = SplitMix64.mixed(ticket)
        let key = Array("k\(draw % 8)".utf8)
        let otherKey = Array("k\((draw >> 24) % 8)".utf8)
        let value = (0..<8).map { UInt8(truncatingIfNeeded: ticket >> (8 * UInt64($0))) }
        let lease = Int64((draw >> 16) % 4 + 1)
        let request: KVRequest
        switch (draw >> 8) % 16 {
        case 0, 1: request = .delete(key: key, condition: .none)
        case 2: request = .put(key: key, value: value, condition: .indexEquals(.zero), lease: 0)
        case 3: request = .put(key: key, value: value, condition: .valueEquals(Array(value.reversed())), lease: 0)
        case 4: request = .leaseGrant(id: lease, ttlSeconds: 10)
        case 5: request = .leaseRevoke(id: lease)
        case 6: request = .put(key: key, value: value, condition: .none, lease: lease)
        case 7:
            request = .txn(
                KVTxn(
                    compares: [KVCompare(key: key, target: .version(1), comparison: .greater)],
                    success: [.put(key: key, value: value, lease: 0), .delete(key: otherKey, rangeEnd: [])],
                    failure: [.range(key: Array("k".utf8), rangeEnd: Array("l".utf8), limit: 0)]))
        case 8: request = .compact(revision: (draw >> 32) % 64)
        default: request = .put(key: key, value: value, condition: .none, lease: 0)
        }
        let id = ClientRequestID(client: ticket % clientLanes + 1, sequence: ticket / clientLanes + 1)
        return KVCommand(id: id, request: request).encoded()
    }

    /// The ticket of the proposal an entry carries, if it carries one.
    static func ticket(in entry: Entry) -> UInt64? {
        guard entry.kind == .command, let command = try? KVCommand(decoding: entry.data) else { return nil }
        let id = command.id
        guard (1...clientLanes).contains(id.client), id.sequence >= 1 else { return nil }
        return (id.sequence - 1) * clientLanes + (id.client - 1)
    }
}

extension Payload {
    var isAppend: Bool {
        if case .append = self { return true }
        return false
    }
}
