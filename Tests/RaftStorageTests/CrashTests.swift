import RaftCore
import RaftStorage
import RaftStorageTesting
import Testing
import WRaftSupport

/// A naive model of what the storage must hold: what every acknowledged call made durable.
struct StorageModel {
    var hardState = HardState.initial
    var snapshot = SnapshotMetadata.empty
    var entries: [Entry] = []

    init() {}

    init(_ state: PersistentState) {
        hardState = state.hardState
        snapshot = state.snapshot
        entries = state.entries
    }

    var lastIndex: LogIndex { snapshot.index + UInt64(entries.count) }
    var state: PersistentState { PersistentState(hardState: hardState, snapshot: snapshot, entries: entries) }

    func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        guard index > snapshot.index, index <= lastIndex else { return nil }
        return entries[Int(snapshot.index.distance(to: index)) - 1].term
    }

    mutating func append(_ batch: [Entry]) {
        guard let first = batch.first else { return }
        entries.removeLast(Int(first.index.distance(to: lastIndex.next)))
        entries += batch
    }

    mutating func install(_ metadata: SnapshotMetadata, resetsLog: Bool) {
        if !resetsLog, term(at: metadata.index) == metadata.term, metadata.index <= lastIndex {
            entries.removeFirst(Int(snapshot.index.distance(to: metadata.index)))
        } else {
            entries = []
        }
        snapshot = metadata
    }
}

/// One step of the random workload, and the states a crash in the middle of it may leave.
enum WorkloadStep {
    case persist(hardState: HardState?, entries: [Entry], snapshot: SnapshotMetadata?)
    case saveSnapshot(SnapshotMetadata, data: [UInt8])

    func run(on engine: StorageEngine) throws {
        switch self {
        case .persist(let hardState, let entries, let snapshot):
            try engine.persist(hardState: hardState, entries: entries, snapshot: snapshot)
        case .saveSnapshot(let metadata, let data):
            try engine.saveSnapshot(metadata, data: data)
        }
    }

    /// The states a crash in the middle of the step may leave: before it or after it (a
    /// batch is atomic).
    func possibleOutcomes(from model: StorageModel) -> [StorageModel] {
        var next = model
        switch self {
        case .persist(let hardState, let entries, let snapshot):
            if let snapshot { next.install(snapshot, resetsLog: true) }
            if !entries.isEmpty { next.append(entries) }
            if let hardState { next.hardState = hardState }
        case .saveSnapshot(let metadata, _):
            // Only a snapshot the stored log matches compacts it; another waits for its persist.
            if metadata != model.snapshot && model.term(at: metadata.index) == metadata.term {
                next.install(metadata, resetsLog: false)
            }
        }
        return [model, next]
    }
}

/// Generates a Raft-like workload: appends, overwrites of the uncommitted suffix, term changes,
/// local snapshots and snapshots installed from a leader.
struct WorkloadGenerator {
    var random: SplitMix64

    mutating func nextStep(for model: StorageModel) -> [WorkloadStep] {
        var hardState = model.hardState
        if hardState.term == .zero { hardState.term = 1 }
        let lastIndex = model.lastIndex
        let floor = max(hardState.commit, model.snapshot.index)
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<50:
            let batch = entries(from: lastIndex.next, count: Int.random(in: 1...4, using: &random), term: max(hardState.term, model.term(at: lastIndex) ?? .zero))
            hardState.term = max(hardState.term, batch[0].term)
            hardState.commit = LogIndex(UInt64.random(in: floor.rawValue...(lastIndex.rawValue + UInt64(batch.count)), using: &random))
            // As in Raft, the stored term is never below the log's (a new term comes with its hard state).
            let includesHardState = Bool.random(using: &random) || hardState.term != model.hardState.term
            return [.persist(hardState: includesHardState ? hardState : nil, entries: batch, snapshot: nil)]
        case 50..<65 where lastIndex > floor:
            hardState.term = hardState.term.next
            let start = LogIndex(UInt64.random(in: (floor.rawValue + 1)...lastIndex.rawValue, using: &random))
            let batch = entries(from: start, count: Int.random(in: 1...3, using: &random), term: hardState.term)
            return [.persist(hardState: hardState, entries: batch, snapshot: nil)]
        case 65..<75:
            hardState.term = hardState.term.next
            hardState.votedFor = NodeID(UInt64.random(in: 1...5, using: &random))
            return [.persist(hardState: hardState, entries: [], snapshot: nil)]
        case 75..<92 where hardState.commit > model.snapshot.index:
            let index = LogIndex(UInt64.random(in: (model.snapshot.index.rawValue + 1)...hardState.commit.rawValue, using: &random))
            let metadata = SnapshotMetadata(
                index: index, term: model.term(at: index) ?? .zero, membership: Membership(voters: [1, 2, 3]))
            return [.saveSnapshot(metadata, data: data(count: 64))]
        case 92..<100:
            // A snapshot from a leader of a newer term, past our log: save it, then install it.
            hardState.term = hardState.term.next
            let index = lastIndex + UInt64.random(in: 1...5, using: &random)
            let metadata = SnapshotMetadata(index: index, term: hardState.term, membership: Membership(voters: [1, 2]))
            hardState.commit = index
            let following = entries(from: index.next, count: Int.random(in: 0...2, using: &random), term: hardState.term)
            return [
                .saveSnapshot(metadata, data: data(count: 32)),
                .persist(hardState: hardState, entries: following, snapshot: metadata),
            ]
        default:
            return [.persist(hardState: hardState, entries: [], snapshot: nil)]
        }
    }

    private mutating func entries(from first: LogIndex, count: Int, term: Term) -> [Entry] {
        (0..<UInt64(count)).map { offset in
            Entry(term: term, index: first + offset, kind: .command, data: data(count: Int.random(in: 0...120, using: &random)))
        }
    }

    private mutating func data(count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}

@Suite struct CrashTests {
    /// Random workloads on a simulated disk that dies at random points and then loses or tears
    /// whatever was not synced. After every crash, recovery yields exactly the acknowledged
    /// state, or that plus the whole interrupted call (never less: synced data is never lost;
    /// never part of a call), the snapshot it names loads, and the workload carries on.
    @Test func crashesNeverLoseAcknowledgedData() throws {
        let seeds = seedCount(default: 40)
        var crashCount = 0
        for seed in 0..<UInt64(seeds) {
            do {
                crashCount += try runCrashWorkload(seed: seed, steps: 150)
            } catch {
                Issue.record("seed=\(seed): \(error)")
            }
        }
        #expect(crashCount >= seeds, "the workloads crashed often enough to mean something")
    }

    /// Returns how many crashes the run went through.
    private func runCrashWorkload(seed: UInt64, steps: Int) throws -> Int {
        var random = SplitMix64(seed: seed)
        var generator = WorkloadGenerator(random: SplitMix64(seed: seed &* 31 &+ 7))
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 2048)
        var (engine, _) = try openRecovered(disk, options: options)
        var model = StorageModel()
        var snapshotData: [LogIndex: [UInt8]] = [:]
        var crashCount = 0

        for _ in 0..<steps {
            if Int.random(in: 0..<4, using: &random) == 0 {
                disk.failAfter(operations: Int.random(in: 0...8, using: &random))
            }
            for step in generator.nextStep(for: model) {
                do {
                    try step.run(on: engine)
                    model = step.possibleOutcomes(from: model).last ?? model
                    if case .saveSnapshot(let metadata, let data) = step { snapshotData[metadata.index] = data }
                } catch {
                    disk.crash(using: &random)
                    crashCount += 1
                    let outcomes = step.possibleOutcomes(from: model)
                    let (reopened, recovered) = try openRecovered(disk, options: options)
                    let matches = outcomes.contains { recovered.isSame(as: $0.state) }
                    #expect(matches, "seed=\(seed): recovered state is not the acknowledged one or a prefix of the interrupted call")
                    if !matches { return crashCount }
                    if case .saveSnapshot(let metadata, let data) = step, recovered.snapshot == metadata {
                        snapshotData[metadata.index] = data
                    }
                    try checkSnapshotLoads(reopened, recovered, snapshotData, seed: seed)
                    engine = reopened
                    model = StorageModel(recovered)
                    break
                }
            }
        }
        // Everything acknowledged is synced: a crash now changes nothing.
        disk.crash(using: &random)
        let (reopened, recovered) = try openRecovered(disk, options: options)
        #expect(recovered.isSame(as: model.state), "seed=\(seed): final state after \(crashCount) crashes")
        try checkSnapshotLoads(reopened, recovered, snapshotData, seed: seed)
        return crashCount
    }

    private func checkSnapshotLoads(
        _ engine: StorageEngine, _ state: PersistentState, _ data: [LogIndex: [UInt8]], seed: UInt64
    ) throws {
        let loaded = try engine.latestSnapshot()
        if state.snapshot.index == .zero {
            #expect(loaded == nil, "seed=\(seed)")
        } else {
            #expect(loaded?.0 == state.snapshot, "seed=\(seed)")
            #expect(loaded?.1 == data[state.snapshot.index], "seed=\(seed)")
        }
    }

    /// Saving a snapshot, stopped at every one of its disk operations and crashed: the old
    /// snapshot stays until the new one is wholly in place, and the log always names a
    /// snapshot file that exists and verifies.
    @Test func snapshotSaveIsAtomicAtEveryCrashPoint() throws {
        var random = SplitMix64(seed: 1)
        let old = SnapshotMetadata(index: 10, term: 1, membership: Membership(voters: [1]))
        let new = SnapshotMetadata(index: 20, term: 1, membership: Membership(voters: [1, 2]))
        var sawOld = false
        var sawNew = false
        for failAfter in 0..<30 {
            let disk = SimulatedDisk()
            let (engine, _) = try openRecovered(disk)
            try engine.persist(hardState: HardState(term: 1, commit: 25), entries: makeEntries(1...25, term: 1), snapshot: nil)
            try engine.saveSnapshot(old, data: Array("old".utf8))
            disk.failAfter(operations: failAfter)
            let completed = (try? engine.saveSnapshot(new, data: Array("new".utf8))) != nil
            disk.crash(using: &random)
            let (reopened, state) = try openRecovered(disk)
            let (metadata, data) = try #require(try reopened.latestSnapshot(), "fail after \(failAfter)")
            #expect(metadata == state.snapshot)
            if metadata == old {
                #expect(data == Array("old".utf8))
                #expect(!completed, "fail after \(failAfter): a completed save is durable")
                sawOld = true
            } else {
                #expect(metadata == new, "fail after \(failAfter)")
                #expect(data == Array("new".utf8))
                sawNew = true
            }
            #expect(state.entries == makeEntries(UInt64(metadata.index.rawValue + 1)...25, term: 1))
        }
        #expect(sawOld && sawNew, "the crash points covered both outcomes")
    }

    @Test func failedWriteStopsTheStorageUntilRestart() throws {
        let disk = SimulatedDisk()
        let (engine, _) = try openRecovered(disk)
        try engine.persist(hardState: HardState(term: 1, commit: 0), entries: makeEntries(1...2, term: 1), snapshot: nil)
        disk.failAfter(operations: 1)  // the append succeeds, its fsync fails
        #expect(throws: StorageError.self) {
            try engine.persist(hardState: nil, entries: makeEntries(3...3, term: 1), snapshot: nil)
        }
        disk.crashLosingUnsyncedData()
        #expect {
            try engine.persist(hardState: nil, entries: makeEntries(3...3, term: 1), snapshot: nil)
        } throws: { error in
            guard case .failed = error as? StorageError else { return false }
            return true
        }
        let (_, state) = try openRecovered(disk)
        #expect(state.entries == makeEntries(1...2, term: 1))
    }
}
