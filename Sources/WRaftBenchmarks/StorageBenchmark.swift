import Logging
import RaftCore
import RaftStorage
import WRaftSupport

/// What `runStorageBenchmark` measured.
public struct StorageBenchmarkResult: Sendable, CustomStringConvertible {
    public var batches: Int
    public var entriesPerBatch: Int
    public var entryBytes: Int
    /// Bytes appended to the WAL (records, headers and all).
    public var walBytes: Int
    public var seconds: Double
    /// Latency of one `persist` (write plus fsync), in milliseconds.
    public var persistMillisecondsMedian: Double
    public var persistMillisecondsP99: Double
    /// Time to recover the written log from disk.
    public var recoverySeconds: Double

    public var batchesPerSecond: Double { seconds > 0 ? Double(batches) / seconds : 0 }
    public var entriesPerSecond: Double { batchesPerSecond * Double(entriesPerBatch) }
    public var megabytesPerSecond: Double { seconds > 0 ? Double(walBytes) / seconds / 1_000_000 : 0 }

    public var description: String {
        func rounded(_ value: Double, _ digits: Int = 1) -> String {
            let scale = Double((0..<digits).reduce(1) { product, _ in product * 10 })
            return String((value * scale).rounded() / scale)
        }
        return "storage: \(batches) batches of \(entriesPerBatch) x \(entryBytes) B entries: "
            + "\(Int(batchesPerSecond.rounded())) batches/s (fsyncs/s), \(Int(entriesPerSecond.rounded())) entries/s, "
            + "\(rounded(megabytesPerSecond)) MB/s; persist p50 \(rounded(persistMillisecondsMedian, 2)) ms, "
            + "p99 \(rounded(persistMillisecondsP99, 2)) ms; recovery of \(walBytes / 1_000_000) MB in "
            + "\(rounded(recoverySeconds, 3)) s"
    }
}

/// Measures the WAL on the real disk in `directory` (created if needed; it should be empty):
/// `batches` calls of `persist`, each with `entriesPerBatch` entries of `entryBytes` bytes and a
/// hard state (so one write and one fsync each, as one `Ready` of a busy leader), then one
/// recovery of everything written. Wall clock time: run it in a release build.
public func runStorageBenchmark(
    directory: String, batches: Int, entriesPerBatch: Int, entryBytes: Int,
    options: StorageOptions = .init(), logger: Logger
) throws(StorageError) -> StorageBenchmarkResult {
    precondition(batches >= 1 && entriesPerBatch >= 1 && entryBytes >= 0, "runStorageBenchmark: sizes are positive")
    let engine = try StorageEngine(directory: directory, options: options, logger: logger)
    let start = try engine.recover()
    var nextIndex = (start.entries.last?.index ?? start.snapshot.index).next
    let term = Term(max(start.hardState.term.rawValue, 1))
    let data = [UInt8](repeating: 0x5A, count: entryBytes)
    var latencies: [Duration] = []
    latencies.reserveCapacity(batches)
    let clock = ContinuousClock()
    let began = clock.now
    for _ in 0..<batches {
        let entries = (0..<UInt64(entriesPerBatch)).map { Entry(term: term, index: nextIndex + $0, data: data) }
        nextIndex = nextIndex + UInt64(entriesPerBatch)
        let hardState = HardState(term: term, votedFor: nil, commit: nextIndex.previous)
        let persistStart = clock.now
        try engine.persist(hardState: hardState, entries: entries, snapshot: nil)
        latencies.append(persistStart.duration(to: clock.now))
    }
    let elapsed = began.duration(to: clock.now)
    let walBytes = engine.writtenByteCount
    engine.close()
    let recoveryStart = clock.now
    _ = try StorageEngine(directory: directory, options: options, logger: logger).recover()
    let recovery = recoveryStart.duration(to: clock.now)
    latencies.sort()
    return StorageBenchmarkResult(
        batches: batches, entriesPerBatch: entriesPerBatch, entryBytes: entryBytes, walBytes: walBytes,
        seconds: elapsed.inSeconds,
        persistMillisecondsMedian: latencies[latencies.count / 2].inFractionalMilliseconds,
        persistMillisecondsP99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)].inFractionalMilliseconds,
        recoverySeconds: recovery.inSeconds)
}
