import Foundation
import Testing
import WRaftAPI
import WRaftClient
import WRaftLauncher

extension NodeClient {
    func scrape() async throws -> MetricsScrape { MetricsScrape(try await metricsText(timeoutMs: 2_000)) }

    /// `GET /health` as status and body, whatever the status.
    func healthAnswer() async throws -> (status: Int, view: HealthView) {
        let response = try await send(HTTPRequest(method: "GET", target: "/health"), timeoutMs: 2_000)
        return (response.status, try NodeClient.decoded(HealthView.self, from: response))
    }
}

extension RealProcessTests {
    /// Issue 11: metrics and health an operator can alert on, and JSON logs.
    @Suite struct MetricsTests {
        /// The leader changes a survivor counted between two scrapes: exactly one per new leader.
        /// A term that passed without a leader (a split vote) adds no change, so with the term up
        /// by one the count is up by exactly one, and never by more than the terms that passed.
        static func expectOneChangePerNewLeader(
            node: Int, before: MetricsScrape, after: MetricsScrape, termBefore: UInt64, termAfter: UInt64,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            let changes = (after.value("wraft_leader_changes_total") ?? -1) - (before.value("wraft_leader_changes_total") ?? 0)
            let terms = Double(termAfter) - Double(termBefore)
            if terms == 1 {
                #expect(changes == 1, "node \(node): \(changes) leader changes for one new leader", sourceLocation: sourceLocation)
            } else {
                #expect(changes >= 1 && changes <= terms, "node \(node): \(changes) changes over \(terms) terms", sourceLocation: sourceLocation)
            }
        }

        @Test func leaderChangesHasLeaderAndHealthThroughAPartitionAndAFailover() async throws {
            // A longer election timeout keeps a loaded machine from electing for other reasons.
            try await ClusterFixture.withCluster(nodes: 3, name: "metrics", configure: { $0.electionTimeoutMs = 1_000 }) {
                cluster in
                let clients = await cluster.clients
                let first = try await cluster.waitForLeader()
                let all = [0, 1, 2]
                // Every member knows the leader before the first scrape.
                let everyoneKnowsTheLeader = await eventually(timeoutMs: 10_000) {
                    for client in clients {
                        guard let state = try? await client.state(timeoutMs: 1_000), state.leader != nil else { return false }
                    }
                    return true
                }
                #expect(everyoneKnowsTheLeader)
                var scrapes: [Int: MetricsScrape] = [:]
                var terms: [Int: UInt64] = [:]
                for index in all {
                    scrapes[index] = try await clients[index].scrape()
                    terms[index] = try await clients[index].state().term
                    #expect(scrapes[index]?.value("wraft_has_leader") == 1, "node \(index)")
                    let health = try await clients[index].healthAnswer()
                    #expect(health.status == 200, "node \(index)")
                    #expect(health.view.health && health.view.reason == nil)
                }

                // The leader cut off from the others: check-quorum makes it drop its leadership,
                // so it knows no leader: has_leader 0, /health 503 no_leader.
                try await clients[first].inject(.isolate(peers: nil))
                let majority = all.filter { $0 != first }
                _ = try await cluster.waitForLeader(among: majority, timeoutMs: 15_000)
                let cutOff = await eventually(timeoutMs: 10_000) {
                    (try? await clients[first].scrape().value("wraft_has_leader")) == 0
                }
                #expect(cutOff, "the isolated member reports has_leader 0")
                let isolatedHealth = try await clients[first].healthAnswer()
                #expect(isolatedHealth.status == 503)
                #expect(isolatedHealth.view.health == false)
                #expect(isolatedHealth.view.reason == HealthView.Reason.noLeader)
                #expect(isolatedHealth.view.serving, "it still runs: only the leader is missing")
                let body = try await clients[first].send(HTTPRequest(method: "GET", target: "/health"), timeoutMs: 2_000)
                #expect(try NodeClient.decoded(ErrorBody.self, from: body).code == .noLeader)

                for index in majority {
                    let followsTheNewLeader = await eventually(timeoutMs: 10_000) {
                        guard let state = try? await clients[index].state(timeoutMs: 1_000), state.leader != nil else { return false }
                        return (try? await clients[index].scrape().value("wraft_has_leader")) == 1
                    }
                    #expect(followsTheNewLeader, "node \(index)")
                    let after = try await clients[index].scrape()
                    let term = try await clients[index].state().term
                    Self.expectOneChangePerNewLeader(
                        node: index, before: try #require(scrapes[index]), after: after, termBefore: try #require(terms[index]),
                        termAfter: term)
                    scrapes[index] = after
                    terms[index] = term
                    #expect(try await clients[index].healthAnswer().status == 200)
                }

                // Healed, the old leader follows the new one: one change for it too.
                try await clients[first].inject(.heal)
                let rejoined = await eventually(timeoutMs: 15_000) {
                    guard let state = try? await clients[first].state(timeoutMs: 1_000), !state.isLeader, state.leader != nil
                    else { return false }
                    return (try? await clients[first].healthAnswer().status) == 200
                }
                #expect(rejoined, "the healed member follows a leader and is healthy again")
                let healedScrape = try await clients[first].scrape()
                #expect(healedScrape.value("wraft_has_leader") == 1)
                let healedTerm = try await clients[first].state().term
                Self.expectOneChangePerNewLeader(
                    node: first, before: try #require(scrapes[first]), after: healedScrape,
                    termBefore: try #require(terms[first]), termAfter: healedTerm)
                scrapes[first] = healedScrape
                terms[first] = healedTerm

                // The second leader killed by pid: the survivors count its successor once.
                let secondLeaderNow = try await cluster.waitForLeader()
                try await cluster.kill(secondLeaderNow, signal: SIGKILL)
                let survivors = all.filter { $0 != secondLeaderNow }
                _ = try await cluster.waitForLeader(among: survivors, timeoutMs: 15_000)
                for index in survivors {
                    let healthy = await eventually(timeoutMs: 10_000) {
                        guard (try? await clients[index].scrape().value("wraft_has_leader")) == 1 else { return false }
                        return (try? await clients[index].healthAnswer().status) == 200
                    }
                    #expect(healthy, "node \(index)")
                    let after = try await clients[index].scrape()
                    let term = try await clients[index].state().term
                    Self.expectOneChangePerNewLeader(
                        node: index, before: try #require(scrapes[index]), after: after, termBefore: try #require(terms[index]),
                        termAfter: term)
                }
            }
        }

        @Test func everyFamilyHasHelpLatencyBucketsStartAt50MicrosecondsAndJSONLogsParse() async throws {
            try await ClusterFixture.withCluster(
                nodes: 3, name: "metrics-help", configure: { $0.extraArguments += ["--log-format", "json"] }
            ) { cluster in
                let (leaderIndex, leader) = try await cluster.leaderClient()
                let write = try await leader.put("metered", "1")
                #expect(await cluster.waitForApplied(write.index))
                #expect(try await leader.get("metered")?.text == "1", "a linearizable read: one read barrier")
                let followerIndex = (leaderIndex + 1) % 3
                // The leader times heartbeats for a while before the scrape.
                try await Task.sleep(for: .milliseconds(500))
                let scrape = try await leader.scrape()

                // HELP on every family, and the TYPE of each.
                #expect(scrape.types.count > 30, "\(scrape.types.count) families")
                let withoutHelp = scrape.types.keys.filter { (scrape.help[$0] ?? "").isEmpty }.sorted()
                #expect(withoutHelp.isEmpty, "families without HELP: \(withoutHelp)")
                let sampled = Set(scrape.samples.map(\.name))
                for family in scrape.types.keys {
                    let names = [family, family + "_bucket", family + "_count", family + "_sum"]
                    #expect(names.contains { sampled.contains($0) }, "family \(family) has samples")
                }

                // Latency buckets from 50 µs for fsync, apply, HTTP and read barriers.
                for family in [
                    "wraft_fsync_seconds", "wraft_apply_seconds", "wraft_http_request_duration_seconds",
                    "wraft_read_barrier_seconds", "wraft_persist_seconds", "wraft_peer_round_trip_seconds",
                ] {
                    let bounds = scrape.bucketBounds(family)
                    #expect(bounds.contains(5e-05), "\(family) buckets \(bounds.sorted())")
                    #expect(bounds.min() == 5e-05, "\(family): 50 µs is the first bucket")
                    #expect(bounds.contains(10), "\(family) reaches 10 s")
                }
                let fsyncCount = scrape.samples.first { $0.name == "wraft_fsync_seconds_count" }?.value ?? 0
                #expect(fsyncCount > 0, "the leader fsynced")

                // Peer round trips and send failures, per follower id.
                let followerID = try await cluster.client(followerIndex).state().id
                let roundTrips = scrape.samples.first {
                    $0.name == "wraft_peer_round_trip_seconds_count" && $0.labels["peer"] == followerID
                }
                #expect((roundTrips?.value ?? 0) > 0, "round trips of \(followerID) were measured")

                // Build, process and leader gauges.
                let build = scrape.samples.first { $0.name == "wraft_build_info" }
                #expect(build?.value == 1)
                #expect(build?.labels["version"]?.isEmpty == false)
                #expect(build?.labels["swift"]?.isEmpty == false)
                #expect((scrape.value("process_cpu_seconds_total") ?? 0) > 0)
                #expect((scrape.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
                #expect((scrape.value("process_open_fds") ?? 0) >= 3)
                let started = scrape.value("process_start_time_seconds") ?? 0
                #expect(abs(started - Date().timeIntervalSince1970) < 3_600, "started within the hour: \(started)")
                #expect(scrape.value("wraft_has_leader") == 1)
                #expect(scrape.value("wraft_is_leader") == 1)
                #expect(scrape.types["wraft_snapshots_sent_total"] == nil, "the duplicate snapshot counter is gone")

                // JSON logs: every line an object with the fixed fields; a leader line names
                // the leader's id and addresses.
                let node = await cluster.nodes[followerIndex]
                let log = try String(contentsOfFile: node.logFile, encoding: .utf8)
                let lines = log.split(separator: "\n").filter { !$0.isEmpty }
                #expect(lines.count > 3)
                var leaderLine: [String: Any]?
                for line in lines {
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    #expect(object != nil, "not a JSON object: \(line.prefix(200))")
                    guard let object else { continue }
                    for field in ["time", "level", "message", "label"] {
                        #expect(object[field] is String, "\(field) in \(line.prefix(200))")
                    }
                    if object["message"] as? String == "leader known" { leaderLine = object }
                }
                let leaderState = try await leader.state()
                let known = try #require(leaderLine, "a leader line")
                #expect(known["raft.leader_id"] as? String == leaderState.id)
                #expect(known["raft.leader_address"] as? String == leaderState.raftAddress)
                #expect(known["raft.leader_http_address"] as? String == leaderState.httpAddress)
                #expect(known["raft.node_id"] as? String == node.id)
                #expect((known["raft.term"] as? String).flatMap(UInt64.init) != nil)
            }
        }
    }
}
