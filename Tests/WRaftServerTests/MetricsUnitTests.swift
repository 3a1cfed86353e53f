import Foundation
import RaftCore
import Testing
import WRaftAPI
import WRaftSupport

@testable import WRaftServer

// Issue 11: health, the metric catalog, peer round trips, process metrics.

@Suite struct MetricsUnitTests {
    // MARK: /health

    @Test func healthIs503NoLeaderForARunningNodeThatKnowsNoLeader() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let healthy = try await client.request("GET", "/health")
            #expect(healthy.status == 200)
            #expect(healthy.json?["health"] as? Bool == true)
            #expect(healthy.json?["reason"] is NSNull)
            #expect(healthy.json?["error"] == nil)

            await service.setHealth(
                HealthView(serving: true, status: "running", role: "pre-candidate", health: false, reason: HealthView.Reason.noLeader))
            let leaderless = try await client.request("GET", "/health")
            #expect(leaderless.status == 503)
            #expect(leaderless.json?["health"] as? Bool == false)
            #expect(leaderless.json?["reason"] as? String == "no_leader")
            #expect(leaderless.json?["serving"] as? Bool == true)
            #expect(leaderless.errorCode == "no_leader")

            await service.setHealth(HealthView(serving: false, status: "running", role: "follower"))
            let paused = try await client.request("GET", "/health")
            #expect(paused.status == 503)
            #expect(paused.json?["reason"] as? String == "paused")
            #expect(paused.errorCode == "not_serving")
        }
    }

    @Test func healthViewDefaultsFollowServing() {
        #expect(HealthView(serving: true, status: "running", role: "leader").health)
        #expect(HealthView(serving: true, status: "running", role: "leader").reason == nil)
        #expect(HealthView(serving: false, status: "initial", role: nil).reason == HealthView.Reason.notRunning)
        #expect(HealthView(serving: false, status: "initial", role: nil).errorCode == .notServing)
        // A healthy view carries no reason, whatever was given.
        #expect(HealthView(serving: true, status: "running", role: "leader", health: true, reason: "x").reason == nil)
    }

    // MARK: The catalog

    @Test func everyRegistryFamilyIsDescribedOnceWithValidNames() {
        let names = NodeMetrics.descriptions.map(\.name)
        #expect(Set(names).count == names.count, "duplicate families: \(names.filter { name in names.filter { $0 == name }.count > 1 })")
        #expect(names.allSatisfy(MetricDescription.isValidName))
        #expect(NodeMetrics.descriptions.allSatisfy { !$0.help.isEmpty })
        for required in [
            "wraft_has_leader", "wraft_leader_changes_total", "wraft_peer_round_trip_seconds", "wraft_peer_send_failures_total",
            "wraft_build_info", "wraft_apply_seconds", "wraft_fsync_seconds", "wraft_read_barrier_seconds",
            "wraft_http_request_duration_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes",
            "process_open_fds", "process_start_time_seconds",
        ] {
            #expect(names.contains(required), "\(required)")
        }
        // One snapshots-sent counter: the transport's.
        #expect(!names.contains("wraft_snapshots_sent_total"))
        #expect(names.contains("wraft_transport_snapshots_sent_total"))
    }

    @Test func latencyBucketsStartAt50MicrosecondsAndIncrease() {
        let buckets = NodeMetrics.latencyBuckets
        #expect(buckets.first == .microseconds(50))
        #expect(buckets.last == .seconds(10))
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0 < $1 })
        #expect(zip(NodeMetrics.countBuckets, NodeMetrics.countBuckets.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func metricsReferenceDocumentsEveryFamily() throws {
        // Docs/METRICS.md sits two folders above this file's.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let reference = try String(contentsOf: root.appendingPathComponent("Docs/METRICS.md"), encoding: .utf8)
        let missing = NodeMetrics.descriptions.map(\.name).filter { !reference.contains("`\($0)`") }
        #expect(missing.isEmpty, "not in Docs/METRICS.md: \(missing)")
    }

    // MARK: Peer round trips

    @Test func aRoundTripIsTimedFromTheFirstUnansweredHeartbeat() {
        let peer = NodeID(rawValue: 7)
        let start = ContinuousClock.now
        var trips = PeerRoundTrips(staleAfter: .seconds(1))
        #expect(trips.responseReceived(from: peer, at: start) == nil, "nothing timed yet")
        trips.heartbeatSent(to: peer, at: start)
        trips.heartbeatSent(to: peer, at: start + .milliseconds(100))
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(130)) == .milliseconds(130))
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(140)) == nil, "one sample per timed heartbeat")
        trips.heartbeatSent(to: peer, at: start + .milliseconds(200))
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(205)) == .milliseconds(5))
    }

    @Test func aLostHeartbeatIsForgottenOnceStale() {
        let peer = NodeID(rawValue: 7)
        let start = ContinuousClock.now
        var trips = PeerRoundTrips(staleAfter: .milliseconds(300))
        trips.heartbeatSent(to: peer, at: start)
        // Lost: no answer. A heartbeat after `staleAfter` is timed afresh.
        trips.heartbeatSent(to: peer, at: start + .milliseconds(400))
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(410)) == .milliseconds(10))
        // An answer only after `staleAfter` yields no sample.
        trips.heartbeatSent(to: peer, at: start + .milliseconds(500))
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(900)) == nil)
        trips.heartbeatSent(to: peer, at: start + .seconds(1))
        trips.reset()
        #expect(trips.responseReceived(from: peer, at: start + .milliseconds(1_010)) == nil, "reset forgets")
    }

    @Test func peerRoundTripsAreBounded() {
        var trips = PeerRoundTrips(staleAfter: .seconds(1))
        let now = ContinuousClock.now
        for raw in 1...UInt64(PeerRoundTrips.peersMax + 10) { trips.heartbeatSent(to: NodeID(rawValue: raw), at: now) }
        #expect(trips.timedSince.count == PeerRoundTrips.peersMax)
    }

    // MARK: Process metrics

    static let stat =
        "4242 (wraft (serve) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 150 0 0 20 0 9 0 123456 1000000 5000 "
        + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"

    @Test func processStatParsesPastANameWithSpacesAndParentheses() throws {
        #expect(ProcessMetrics.cpuSeconds(stat: Self.stat, ticksPerSecond: 100) == 4.0)
        let start = try #require(
            ProcessMetrics.startTimeSeconds(stat: Self.stat, procStat: "cpu 1 2 3\nbtime 1700000000\nprocesses 9\n", ticksPerSecond: 100))
        #expect(start == 1_700_000_000 + 1_234.56)
        #expect(ProcessMetrics.residentBytes(statm: "1000 250 30 1 0 100 0\n", pageBytes: 4096) == 250 * 4096)
    }

    @Test func unreadableProcessTextLeavesTheMetricOut() {
        #expect(ProcessMetrics.cpuSeconds(stat: "garbage", ticksPerSecond: 100) == nil)
        #expect(ProcessMetrics.cpuSeconds(stat: "1 (x) S 1 2", ticksPerSecond: 100) == nil)
        #expect(ProcessMetrics.cpuSeconds(stat: Self.stat, ticksPerSecond: 0) == nil)
        #expect(ProcessMetrics.startTimeSeconds(stat: Self.stat, procStat: "cpu 1 2\n", ticksPerSecond: 100) == nil)
        #expect(ProcessMetrics.residentBytes(statm: "1000", pageBytes: 4096) == nil)
        #expect(ProcessMetrics.residentBytes(statm: "1 \(Int.max)", pageBytes: 4096) == nil, "overflow")
        let partial = ProcessMetrics(cpuSeconds: 1.5)
        #expect(partial.exposition.contains("process_cpu_seconds_total 1.5\n"))
        #expect(!partial.exposition.contains("process_open_fds"))
        #expect(ProcessMetrics().exposition.isEmpty)
    }

    @Test func thisProcessReportsItsResources() {
        let metrics = ProcessMetrics.read()
        #if os(Linux)
        #expect((metrics.cpuSeconds ?? 0) > 0)
        #expect((metrics.residentMemoryBytes ?? 0) > 1_000_000)
        #expect((metrics.openFileDescriptors ?? 0) >= 3)
        let started = metrics.startTimeSeconds ?? 0
        #expect(started > 1_600_000_000 && started <= Date().timeIntervalSince1970 + 1)
        for family in ProcessMetrics.descriptions where family.name != "process_max_fds" || metrics.fileDescriptorsMax != nil {
            #expect(metrics.exposition.contains("# HELP \(family.name) "), "\(family.name)")
        }
        #else
        _ = metrics
        #endif
    }
}
