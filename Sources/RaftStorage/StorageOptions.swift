import Metrics
import WRaftSupport

/// The bounds and collaborators of a `StorageEngine`. Every bound is checked once, by `validate()`.
public struct StorageOptions: Sendable {
    /// A segment file is closed and a new one started before a write would take it past this
    /// size (a single batch larger than this still goes whole into a fresh segment).
    public var segmentBytesMax: Int = 64 << 20
    /// Entries of one batch are split into WAL records of at most this many payload bytes.
    public var recordBytesMax: Int = WALFormat.recordPayloadBytesMax
    /// Where the storage's metrics go; nil means the process-wide `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?

    public init(segmentBytesMax: Int = 64 << 20, recordBytesMax: Int = 64 << 20, metricsFactory: (any MetricsFactory)? = nil) {
        self.segmentBytesMax = segmentBytesMax
        self.recordBytesMax = recordBytesMax
        self.metricsFactory = metricsFactory
    }

    /// The smallest allowed `segmentBytesMax` and `recordBytesMax` (tests use small segments).
    public static let bytesMin = 1 << 10

    /// Checks every bound; the storage refuses options that fail.
    public func validate() throws(StorageError) {
        guard segmentBytesMax >= Self.bytesMin, segmentBytesMax <= 1 << 40 else {
            throw .invalidOptions("segmentBytesMax \(segmentBytesMax) must be in \(Self.bytesMin)...\(1 << 40)")
        }
        guard recordBytesMax >= Self.bytesMin, recordBytesMax <= WALFormat.recordPayloadBytesMax else {
            throw .invalidOptions(
                "recordBytesMax \(recordBytesMax) must be in \(Self.bytesMin)...\(WALFormat.recordPayloadBytesMax)")
        }
    }
}

/// The storage's metrics.
public struct StorageMetrics {
    static let fsyncSeconds = MetricDescription(
        "wraft_fsync_seconds", .histogram,
        help: "Seconds each fdatasync of the WAL took (one per persisted batch of Readys).")
    static let walBytesWritten = MetricDescription(
        "wraft_wal_bytes_written_total", .counter, help: "Bytes written to the WAL (records and their headers).")
    static let walSegments = MetricDescription("wraft_wal_segments", .gauge, help: "WAL segment files on disk.")

    /// The families above, for the metrics backend's HELP text and the reference (Docs/METRICS.md).
    public static let descriptions = [fsyncSeconds, walBytesWritten, walSegments]

    /// Time spent in each `fdatasync` of the WAL (one per persisted batch).
    let fsyncDuration: Timer
    let bytesWritten: Counter
    let segmentCount: Gauge

    init(factory: (any MetricsFactory)?) {
        if let factory {
            fsyncDuration = Timer(label: Self.fsyncSeconds.name, factory: factory)
            bytesWritten = Counter(label: Self.walBytesWritten.name, factory: factory)
            segmentCount = Gauge(label: Self.walSegments.name, factory: factory)
        } else {
            fsyncDuration = Timer(label: Self.fsyncSeconds.name)
            bytesWritten = Counter(label: Self.walBytesWritten.name)
            segmentCount = Gauge(label: Self.walSegments.name)
        }
    }
}
