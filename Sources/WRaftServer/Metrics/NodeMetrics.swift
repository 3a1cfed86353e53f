import RaftStorage
import RaftTransport
import WRaftSupport

/// Every metric family a node reports, and the histogram buckets they are meant to have. The
/// executable's metrics backend takes its HELP text and buckets from here; Docs/METRICS.md is
/// the operator's reference of the same families.
public enum NodeMetrics {
    /// The families of the metrics registry: the node's, the HTTP layer's, the storage's, the
    /// transport's and the build's. (The process families are written at each scrape:
    /// `ProcessMetrics`.)
    public static let registryDescriptions: [MetricDescription] =
        RuntimeMetrics.Family.all + HTTPMetrics.descriptions + StorageMetrics.descriptions + TransportMetrics.descriptions
        + [BuildInfo.family]

    /// Every family, the process ones included.
    public static let descriptions: [MetricDescription] = registryDescriptions + ProcessMetrics.descriptions

    /// The buckets of every latency histogram: from 50 µs (an fsync on a fast SSD, a local read
    /// barrier, most HTTP answers) to 10 s, about 2.5x apart.
    public static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10),
    ]

    /// The buckets of the histograms of counts (entries per Ready, Readys per write): powers of two.
    public static let countBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 4_096]

    /// Sets the metrics whose value is known at start (`wraft_build_info`).
    public static func reportStart() {
        BuildInfo.report()
    }
}
