import RaftCore
import RaftPipeline
import Testing

/// The pipeline's rules, one event at a time. Received snapshots are plain strings here.
@Suite struct ReadyPipelineTests {
    typealias Pipeline = ReadyPipeline<String>
    typealias Action = PipelineAction<String>

    // MARK: Sending before and after the write

    @Test func aLeadersAppendsAndHeartbeatsOfADurableTermLeaveAtOnceAndTheRestAfterTheWrite() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2), votedFor: node(1)), snapshotIndex: .zero)
        let append = message(to: 2, term: 2, .append(AppendRequest(previousIndex: index(4), previousTerm: Term(2), entries: [entry(5, term: 2)], commit: index(4))))
        let heartbeat = message(to: 3, term: 2, .heartbeat(HeartbeatRequest(commit: index(4))))
        let snapshotToPeer = message(to: 3, term: 2, .installSnapshot(SnapshotMetadata(index: index(3), term: Term(1), membership: Membership(voters: [node(1)]))))
        let ready = Ready(entries: [entry(5, term: 2)], messages: [append, heartbeat, snapshotToPeer])

        let atTake = pipeline.take(ready)
        #expect(sends(atTake) == [[append, heartbeat]])

        let started = pipeline.startWrite()
        let write = try #require(writes(started).first)
        #expect(write.entries.map(\.index) == [index(5)])
        #expect(sends(started).isEmpty, "nothing else leaves before the write is durable")

        let finished = pipeline.writeFinished(write.id)
        #expect(sends(finished) == [[snapshotToPeer]])
        #expect(advanced(finished).count == 1)
    }

    @Test func messagesOfATermNotYetDurableWaitForTheWriteOfThatTerm() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let heartbeat = message(to: 2, term: 3, .heartbeat(HeartbeatRequest(commit: index(4))))
        let ready = Ready(hardState: HardState(term: Term(3), votedFor: node(1)), messages: [heartbeat])
        #expect(pipeline.take(ready).isEmpty, "a leader of a term it has not written yet sends nothing")
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.hardState == HardState(term: Term(3), votedFor: node(1)))
        #expect(sends(pipeline.writeFinished(write.id)) == [[heartbeat]])
        #expect(pipeline.durableTerm == Term(3))

        // The term is durable now: the next heartbeat leaves when taken.
        let next = message(to: 2, term: 3, .heartbeat(HeartbeatRequest(commit: index(5))))
        #expect(sends(pipeline.take(Ready(messages: [next]))) == [[next]])
    }

    @Test func votesAndAcknowledgementsLeaveOnlyAfterWhatTheyPromiseIsDurable() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let vote = message(to: 2, term: 3, .voteResponse(VoteResponse(isGranted: true, isPreVote: false)))
        #expect(pipeline.take(Ready(hardState: HardState(term: Term(3), votedFor: node(2)), messages: [vote])).isEmpty)
        let voteWrite = try #require(writes(pipeline.startWrite()).first)
        #expect(voteWrite.hardState?.votedFor == node(2))
        #expect(sends(pipeline.writeFinished(voteWrite.id)) == [[vote]])

        // An acknowledgement in a durable term still waits for its entries.
        let ack = message(to: 2, term: 3, .appendResponse(AppendResponse(index: index(7))))
        #expect(pipeline.take(Ready(entries: [entry(7, term: 3)], messages: [ack])).isEmpty)
        let ackWrite = try #require(writes(pipeline.startWrite()).first)
        #expect(ackWrite.entries.map(\.index) == [index(7)])
        #expect(sends(pipeline.writeFinished(ackWrite.id)) == [[ack]])
    }

    // MARK: Applying

    @Test func committedEntriesAreAppliedWhenTakenBeforeTheReadysOwnEntriesAreWritten() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let read = ReadState(id: ReadRequestID(rawValue: 9), index: index(4))
        let ready = Ready(
            hardState: HardState(term: Term(2), commit: index(4)), entries: [entry(5, term: 2)],
            committedEntries: [entry(3, term: 2), entry(4, term: 2)], readStates: [read])
        let atTake = pipeline.take(ready)
        guard case .apply(let committed, let readStates)? = atTake.first else {
            Issue.record("expected an apply at once, got \(atTake)")
            return
        }
        #expect(committed.map(\.index) == [index(3), index(4)])
        #expect(readStates == [read])
        let write = try #require(writes(pipeline.startWrite()).first)
        let finished = pipeline.writeFinished(write.id)
        #expect(!finished.contains { if case .apply = $0 { true } else { false } }, "applied once, at take")
    }

    // MARK: Held-back hard states

    @Test func aCommitOnlyHardStateIsHeldBackAndWrittenWithTheNextEntries() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2), votedFor: node(1), commit: index(3)), snapshotIndex: .zero)
        let commitOnly = HardState(term: Term(2), votedFor: node(1), commit: index(4))
        _ = pipeline.take(Ready(hardState: commitOnly, committedEntries: [entry(4, term: 2)]))
        let started = pipeline.startWrite()
        #expect(writes(started).isEmpty, "no fsync for a commit index alone")
        #expect(advanced(started).count == 1, "the Ready finishes at once")
        #expect(pipeline.deferredHardState == commitOnly)
        #expect(pipeline.isIdle)

        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.hardState == commitOnly, "the held-back hard state rides with the next entries")
        _ = pipeline.writeFinished(write.id)
        #expect(pipeline.persistedHardState == commitOnly)
        #expect(pipeline.deferredHardState == nil)
    }

    @Test func aHardStateWithANewTermOrVoteIsNeverHeldBack() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2), commit: index(3)), snapshotIndex: .zero)
        _ = pipeline.take(Ready(hardState: HardState(term: Term(2), votedFor: node(3), commit: index(3))))
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.hardState?.votedFor == node(3))
        #expect(pipeline.deferredHardState == nil)
    }

    // MARK: Group commit

    @Test func readysQueuedBehindAWriteShareTheNextWriteAndAdvanceInOrder() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let first = Ready(entries: [entry(5, term: 2)])
        let second = Ready(entries: [entry(6, term: 2)])
        let third = Ready(hardState: HardState(term: Term(2), commit: index(6)), entries: [entry(7, term: 2)])
        _ = pipeline.take(first)
        let firstWrite = try #require(writes(pipeline.startWrite()).first)
        _ = pipeline.take(second)
        _ = pipeline.take(third)
        #expect(pipeline.startWrite().isEmpty, "one write at a time")
        #expect(advanced(pipeline.writeFinished(firstWrite.id)).map { $0.entries.map(\.index) } == [[index(5)]])

        let merged = try #require(writes(pipeline.startWrite()).first)
        #expect(merged.readyCount == 2)
        #expect(merged.entries.map(\.index) == [index(6), index(7)])
        #expect(merged.hardState?.commit == index(6), "the newest hard state of the batch")
        #expect(advanced(pipeline.writeFinished(merged.id)).map { $0.entries.map(\.index) } == [[index(6)], [index(7)]])
    }

    @Test func aReadyThatOverwritesHandedOutEntriesStartsAWriteOfItsOwn() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let ack = message(to: 1, term: 2, .appendResponse(AppendResponse(index: index(6))))
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let inFlight = try #require(writes(pipeline.startWrite()).first)
        _ = pipeline.take(Ready(entries: [entry(6, term: 2)], messages: [ack]))
        let overwrite = Ready(
            hardState: HardState(term: Term(3)), entries: [entry(6, term: 3)], overwritesHandedOutEntries: true)
        _ = pipeline.take(overwrite)
        _ = pipeline.writeFinished(inFlight.id)

        let before = try #require(writes(pipeline.startWrite()).first)
        #expect(before.entries.map(\.term) == [Term(2)], "the acknowledged entry is written alone")
        #expect(sends(pipeline.writeFinished(before.id)) == [[ack]], "its acknowledgement leaves before the overwrite")
        let after = try #require(writes(pipeline.startWrite()).first)
        #expect(after.entries.map(\.term) == [Term(3)])
    }

    @Test func aCompletionForAnotherWriteIsIgnored() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let write = try #require(writes(pipeline.startWrite()).first)
        let stale = PipelineWriteID(rawValue: write.id.rawValue + 100)
        #expect(pipeline.writeFinished(stale).isEmpty)
        #expect(pipeline.isWriting)
        #expect(advanced(pipeline.writeFinished(write.id)).count == 1)
        #expect(pipeline.writeFinished(write.id).isEmpty, "a repeated completion is stale too")
    }

    @Test func theQueueIsBoundedAndTheBoundFreesAsWritesStart() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero, queuedWorkMax: 2)
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        _ = pipeline.take(Ready(entries: [entry(6, term: 2)]))
        #expect(!pipeline.canTakeReady)
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.readyCount == 2)
        #expect(pipeline.canTakeReady)
    }

    // MARK: Received snapshots

    @Test func aReceivedSnapshotIsWrittenRestoredThenItsCommitsAppliedThenAdvanced() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        let metadata = snapshot(at: 50)
        accept(metadata, "S50", into: &pipeline)
        let ack = message(to: 1, term: 2, .appendResponse(AppendResponse(index: index(50))))
        let ready = Ready(
            hardState: HardState(term: Term(2), commit: index(50)), snapshot: metadata, messages: [ack],
            committedEntries: [entry(50, term: 2)])
        #expect(pipeline.take(ready).isEmpty, "nothing is applied before the snapshot is installed")
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.snapshot?.metadata == metadata)
        #expect(write.snapshot?.received == "S50")
        let finished = pipeline.writeFinished(write.id)
        #expect(describe(finished) == ["send", "restore S50", "apply 50", "advance"])
        #expect(pipeline.snapshotIndex == index(50))
        #expect(pipeline.receivedSnapshotIndex == nil)
    }

    @Test func aSnapshotNamedByAQueuedReadyKeepsItsBytesWhateverArrivesAfter() throws {
        // Runtime bug 4: the bytes of S1 were evicted by S2 and S3 while S1's Ready was queued.
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let inFlight = try #require(writes(pipeline.startWrite()).first)
        accept(snapshot(at: 10), "S10", into: &pipeline)
        _ = pipeline.take(Ready(snapshot: snapshot(at: 10)))
        for at: UInt64 in [20, 30, 40] { accept(snapshot(at: at), "S\(at)", into: &pipeline) }
        #expect(pipeline.receivedSnapshotIndex == index(40), "the newest accepted supersedes the others")
        _ = pipeline.writeFinished(inFlight.id)
        let write = try #require(writes(pipeline.startWrite()).first)
        #expect(write.snapshot?.received == "S10")
        _ = pipeline.writeFinished(write.id)
        #expect(pipeline.receivedSnapshotIndex == index(40), "a newer accepted one outlives the install")
    }

    @Test func aSnapshotTheCoreRefusedIsNotKept() {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        accept(snapshot(at: 10), "S10", into: &pipeline)
        // At or below the commit index: refused.
        pipeline.snapshotStepped(snapshot(at: 8), "S8", commitIndexBefore: index(8), snapshotIndexAfter: index(8))
        // The core's log does not start there afterwards: refused (a stale term, say).
        pipeline.snapshotStepped(snapshot(at: 30), "S30", commitIndexBefore: index(5), snapshotIndexAfter: index(10))
        #expect(pipeline.receivedSnapshotIndex == index(10))
    }

    @Test func aBareSnapshotMessageIsIgnoredAndAReadIndexAnswerIsTakenAtOnce() {
        let pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        #expect(pipeline.arrived(message(to: 1, term: 2, .installSnapshot(snapshot(at: 9)))) == .ignore)
        let id = ReadRequestID(rawValue: 4)
        #expect(pipeline.arrived(message(to: 1, term: 2, .readIndexResponse(id, index(8)))) == .readIndex(ReadState(id: id, index: index(8))))
        #expect(pipeline.arrived(message(to: 1, term: 2, .readIndexResponse(id, nil))) == .ignore)
        #expect(pipeline.arrived(message(to: 1, term: 2, .heartbeat(HeartbeatRequest(commit: index(1))))) == .step)
    }

    // MARK: The node's own snapshots

    @Test func anOwnSnapshotIsSavedBehindTheReadysTakenBeforeItThenCompacts() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let write = try #require(writes(pipeline.startWrite()).first)
        pipeline.snapshotStarted()
        _ = pipeline.take(Ready(entries: [entry(6, term: 2)]))
        pipeline.snapshotTaken(snapshot(at: 5), data: [1, 2])
        _ = pipeline.writeFinished(write.id)
        #expect(writes(pipeline.startWrite()).first?.entries.map(\.index) == [index(6)], "the Ready taken first goes first")
        #expect(pipeline.isSnapshotInProgress)
    }

    @Test func anOwnSnapshotOlderThanAnInstalledOneIsDiscardedNotSaved() throws {
        // Runtime bug 2: S1 was serialized while the leader's S2 > S1 was installed; saving S1
        // afterwards would make storage go backwards.
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        pipeline.snapshotStarted()
        accept(snapshot(at: 20), "S20", into: &pipeline)
        _ = pipeline.take(Ready(snapshot: snapshot(at: 20)))
        let install = try #require(writes(pipeline.startWrite()).first)
        pipeline.snapshotTaken(snapshot(at: 10), data: [1])
        _ = pipeline.writeFinished(install.id)
        let next = pipeline.startWrite()
        #expect(describe(next) == ["discard 10"])
        #expect(!pipeline.isSnapshotInProgress)
    }

    @Test func anOwnSnapshotSaveEndsWithCompactionAndStaleSaveCompletionsAreIgnored() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: index(3))
        pipeline.snapshotStarted()
        pipeline.snapshotTaken(snapshot(at: 8), data: [7])
        guard case .saveSnapshot(let id, let metadata, let data)? = pipeline.startWrite().first else {
            Issue.record("expected a snapshot save")
            return
        }
        #expect(metadata.index == index(8) && data == [7])
        #expect(pipeline.snapshotSaved(PipelineWriteID(rawValue: id.rawValue + 1)).isEmpty)
        #expect(describe(pipeline.snapshotSaved(id)) == ["compact 8"])
        #expect(pipeline.snapshotIndex == index(8))
        #expect(!pipeline.isSnapshotInProgress)
    }

    @Test func stoppingDropsQueuedWorkAndMakesLaterCompletionsStale() throws {
        var pipeline = Pipeline(persisted: HardState(term: Term(2)), snapshotIndex: .zero)
        _ = pipeline.take(Ready(entries: [entry(5, term: 2)]))
        let write = try #require(writes(pipeline.startWrite()).first)
        _ = pipeline.take(Ready(entries: [entry(6, term: 2)]))
        pipeline.stop()
        #expect(pipeline.isIdle)
        #expect(pipeline.writeFinished(write.id).isEmpty)
        pipeline.snapshotTaken(snapshot(at: 4), data: [])
        #expect(pipeline.isIdle, "a snapshot serialized before the stop is not queued")
    }

    // MARK: Helpers

    private func node(_ raw: UInt64) -> NodeID { NodeID(raw) }
    /// Steps a snapshot the core accepts (its log starts there afterwards).
    private func accept(_ metadata: SnapshotMetadata, _ bytes: String, into pipeline: inout Pipeline) {
        pipeline.snapshotStepped(metadata, bytes, commitIndexBefore: .zero, snapshotIndexAfter: metadata.index)
    }
    private func index(_ raw: UInt64) -> LogIndex { LogIndex(raw) }
    private func entry(_ at: UInt64, term: UInt64) -> Entry { Entry(term: Term(term), index: LogIndex(at), data: [UInt8(at & 0xFF)]) }
    private func snapshot(at: UInt64) -> SnapshotMetadata {
        SnapshotMetadata(index: LogIndex(at), term: Term(2), membership: Membership(voters: [NodeID(1)]))
    }
    private func message(to: UInt64, term: UInt64, _ payload: Payload) -> Message {
        Message(from: NodeID(1), to: NodeID(to), term: Term(term), payload: payload)
    }
    private func sends(_ actions: [Action]) -> [[Message]] {
        actions.compactMap { if case .send(let messages) = $0 { messages } else { nil } }
    }
    private func writes(_ actions: [Action]) -> [PipelineWrite<String>] {
        actions.compactMap { if case .write(let write) = $0 { write } else { nil } }
    }
    private func advanced(_ actions: [Action]) -> [Ready] {
        actions.compactMap { if case .advance(let ready) = $0 { ready } else { nil } }
    }
    private func describe(_ actions: [Action]) -> [String] {
        actions.map { action in
            switch action {
            case .send: "send"
            case .apply(let committed, _): "apply " + committed.map(\.index.description).joined(separator: ",")
            case .write: "write"
            case .restore(_, let received): "restore \(received)"
            case .advance: "advance"
            case .saveSnapshot(_, let metadata, _): "save \(metadata.index)"
            case .compact(let metadata): "compact \(metadata.index)"
            case .discardSnapshot(let metadata): "discard \(metadata.index)"
            }
        }
    }
}
