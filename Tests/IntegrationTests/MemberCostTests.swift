import Testing
import WRaftClient
import WRaftLoad

/// `wraft bench`'s "where the time goes" lines: a member's counters read from `/metrics`, and
/// the cost over a window computed from two readings.
@Suite struct MemberCostTests {
    static let exposition = """
        # HELP process_cpu_seconds_total CPU time.
        # TYPE process_cpu_seconds_total counter
        process_cpu_seconds_total 12.5
        # TYPE wraft_fsync_seconds histogram
        wraft_fsync_seconds_bucket{le="0.001"} 90
        wraft_fsync_seconds_count 100
        wraft_ready_entries_sum{} 800
        wraft_ready_entries_count 120
        """

    @Test func countersAreReadFromAnExposition() throws {
        let scrape = MetricsScrape(Self.exposition)
        #expect(scrape.types["process_cpu_seconds_total"] == "counter")
        #expect(scrape.help["process_cpu_seconds_total"] == "CPU time.")
        #expect(scrape.bucketBounds("wraft_fsync_seconds") == [0.001])
        let counters = try #require(MemberCounters(scrape))
        #expect(counters == MemberCounters(cpuSeconds: 12.5, fsyncs: 100, entries: 800))
    }

    @Test func aScrapeWithoutTheCountersGivesNone() {
        #expect(MemberCounters(MetricsScrape("process_cpu_seconds_total 3\n")) == nil)
        #expect(MemberCounters(MetricsScrape("")) == nil)
    }

    @Test func malformedAndOverlongLinesAreSkipped() {
        let long = "x_total " + String(repeating: "1", count: MetricsScrape.lineBytesMax)
        let scrape = MetricsScrape("a_total{le=\"1\" 5\nnot a sample\n\(long)\nb_total 2\n")
        #expect(scrape.samples == [MetricSample(name: "b_total", labels: [:], value: 2)])
        #expect(scrape.skippedLines == 1)
    }

    @Test func theCostIsTheDifferenceSharedOverTheRequests() throws {
        let before = MemberCounters(cpuSeconds: 10, fsyncs: 1_000, entries: 5_000)
        let after = MemberCounters(cpuSeconds: 11, fsyncs: 3_000, entries: 25_000)
        let cost = try #require(MemberCost(member: "n1", before: before, after: after, seconds: 2, requests: 10_000))
        #expect(cost.cpuMicrosecondsPerRequest == 100)
        #expect(cost.cores == 0.5)
        #expect(cost.fsyncsPerSecond == 1_000)
        #expect(cost.entriesPerFsync == 10)
        #expect(cost.text == "n1  CPU 100.0 µs/op (0.50 cores)  fsyncs 1000/s  entries/fsync 10.0")
        let text = MemberCost.text([cost, cost])
        #expect(text.hasSuffix("cluster CPU 200.0 µs/op"))
    }

    @Test func aCounterGoingBackwardsMeansARestartAndGivesNoCost() {
        let before = MemberCounters(cpuSeconds: 10, fsyncs: 1_000, entries: 5_000)
        let restarted = MemberCounters(cpuSeconds: 0.2, fsyncs: 4, entries: 9)
        #expect(MemberCost(member: "n1", before: before, after: restarted, seconds: 1, requests: 5) == nil)
    }

    @Test func noRequestsAndNoFsyncsGiveDashesNotNonsense() throws {
        let idle = MemberCounters(cpuSeconds: 1, fsyncs: 0, entries: 0)
        let cost = try #require(MemberCost(member: "n1", before: idle, after: idle, seconds: 1, requests: 0))
        #expect(cost.cpuMicrosecondsPerRequest == nil)
        #expect(cost.entriesPerFsync == nil)
        #expect(cost.text.contains("- µs/op") && cost.text.contains("entries/fsync -"))
    }
}
