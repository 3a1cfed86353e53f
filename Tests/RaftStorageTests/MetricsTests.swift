import CoreMetrics
import RaftCore
import RaftStorage
import RaftStorageTesting
import Synchronization
import Testing

/// Remembers the last value of every metric by label.
final class RecordingMetrics: MetricsFactory, Sendable {
    final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let values = Mutex<[Int64]>([])
        func increment(by amount: Int64) { values.withLock { $0.append(($0.last ?? 0) + amount) } }
        func reset() { values.withLock { $0.append(0) } }
        func record(_ value: Int64) { values.withLock { $0.append(value) } }
        func record(_ value: Double) { values.withLock { $0.append(Int64(value)) } }
        func recordNanoseconds(_ duration: Int64) { values.withLock { $0.append(duration) } }
    }

    private let handlers = Mutex<[String: Handler]>([:])

    func values(_ label: String) -> [Int64] {
        handlers.withLock { $0[label] }?.values.withLock { $0 } ?? []
    }

    private func handler(_ label: String) -> Handler {
        handlers.withLock { handlers in
            if let existing = handlers[label] { return existing }
            let created = Handler()
            handlers[label] = created
            return created
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { handler(label) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

@Suite struct MetricsTests {
    @Test func fsyncsBytesAndSegmentsAreMeasured() throws {
        let metrics = RecordingMetrics()
        let disk = SimulatedDisk()
        let options = StorageOptions(segmentBytesMax: 2048, metricsFactory: metrics)
        let (engine, _) = try openRecovered(disk, options: options)
        for batch in 0..<10 {
            let first = UInt64(batch * 4 + 1)
            try engine.persist(
                hardState: HardState(term: 1, commit: LogIndex(first)), entries: makeEntries(first...(first + 3), term: 1, dataBytes: 60),
                snapshot: nil)
        }
        #expect(metrics.values("wraft_fsync_seconds").count == 10, "one fsync per persist")
        let files = try segmentNames(disk)
        let walBytes = files.compactMap { disk.contents(ofFile: testDirectory + "/" + $0)?.count }.reduce(0, +)
        #expect(metrics.values("wraft_wal_bytes_written_total").last == Int64(walBytes))
        #expect(metrics.values("wraft_wal_segments").last == Int64(files.count))
        #expect(files.count > 1)
    }
}
