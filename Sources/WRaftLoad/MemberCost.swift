import Foundation
import WRaftClient

/// What one member's counters said at one moment: the inputs of `wraft bench`'s "where the time
/// goes" lines, read from its `/metrics`.
public struct MemberCounters: Sendable, Equatable {
    /// `process_cpu_seconds_total`: user and system CPU of the member's process.
    public var cpuSeconds: Double
    /// `wraft_fsync_seconds_count`: fsyncs of the WAL.
    public var fsyncs: Double
    /// `wraft_ready_entries_sum`: log entries the member took from its core to persist.
    public var entries: Double

    public init(cpuSeconds: Double, fsyncs: Double, entries: Double) {
        self.cpuSeconds = cpuSeconds
        self.fsyncs = fsyncs
        self.entries = entries
    }

    /// The counters of a scrape; nil when one is missing (a node without metrics, or another program).
    public init?(_ scrape: MetricsScrape) {
        guard let cpu = scrape.value("process_cpu_seconds_total"),
            let fsyncs = scrape.total("wraft_fsync_seconds_count"),
            let entries = scrape.total("wraft_ready_entries_sum")
        else { return nil }
        self.init(cpuSeconds: cpu, fsyncs: fsyncs, entries: entries)
    }
}

/// One member's cost over a measured window: the difference of two `MemberCounters`, shared out
/// over the requests the whole benchmark completed in it.
public struct MemberCost: Sendable, Equatable {
    public let member: String
    public let cpuSeconds: Double
    public let fsyncs: Double
    public let entries: Double
    public let seconds: Double
    public let requests: Int

    /// Nil when a counter went backwards (the member restarted in the window): a difference
    /// across a restart means nothing.
    public init?(member: String, before: MemberCounters, after: MemberCounters, seconds: Double, requests: Int) {
        precondition(seconds > 0, "MemberCost: the window has a length")
        let cpu = after.cpuSeconds - before.cpuSeconds
        let fsyncs = after.fsyncs - before.fsyncs
        let entries = after.entries - before.entries
        guard cpu >= 0, fsyncs >= 0, entries >= 0 else { return nil }
        self.member = member
        self.cpuSeconds = cpu
        self.fsyncs = fsyncs
        self.entries = entries
        self.seconds = seconds
        self.requests = requests
    }

    /// CPU of this member per completed request, in microseconds (nil without requests).
    public var cpuMicrosecondsPerRequest: Double? {
        requests > 0 ? cpuSeconds * 1_000_000 / Double(requests) : nil
    }

    /// The cores this member kept busy on average.
    public var cores: Double { cpuSeconds / seconds }

    public var fsyncsPerSecond: Double { fsyncs / seconds }

    /// Log entries made durable per fsync (group commit's batch); nil without fsyncs.
    public var entriesPerFsync: Double? { fsyncs > 0 ? entries / fsyncs : nil }

    /// `127.0.0.1:8081  CPU 95.2 µs/op (0.93 cores)  fsyncs 1204/s  entries/fsync 8.1`.
    public var text: String {
        let cpu = cpuMicrosecondsPerRequest.map { String(format: "%.1f µs/op", $0) } ?? "- µs/op"
        let batch = entriesPerFsync.map { String(format: "%.1f", $0) } ?? "-"
        return "\(member)  CPU \(cpu) (\(String(format: "%.2f", cores)) cores)  "
            + "fsyncs \(String(format: "%.0f", fsyncsPerSecond))/s  entries/fsync \(batch)"
    }

    /// The lines for a whole cluster: one per member, then the cluster's CPU per request.
    public static func text(_ costs: [MemberCost]) -> String {
        var lines = ["where the time goes (from each member's /metrics over the measured window):"]
        lines += costs.map { "  " + $0.text }
        let requests = costs.first?.requests ?? 0
        if requests > 0 {
            let total = costs.reduce(0) { $0 + $1.cpuSeconds } * 1_000_000 / Double(requests)
            lines.append(String(format: "  cluster CPU %.1f µs/op", total))
        }
        return lines.joined(separator: "\n")
    }
}
