import Foundation
import Testing
import WRaftAPI
import WRaftClient
import WRaftSupport

extension RealProcessTests {
    /// Issue 3: every endpoint of API.md, including its errors, and bad input that leaves the
    /// node healthy.
    @Suite struct EndpointTests {
        @Test func keyValueEndpointsAndCompareAndSet() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "kv") { cluster in
                let client = try await cluster.client(1)
                let first = try await client.put("color", "red")
                #expect(first.key == "color")
                #expect(first.index > 1)
                #expect(first.term >= 1)
                let read = try #require(try await client.get("color"))
                #expect(read.text == "red")
                #expect(read.index == first.index)
                #expect(read.term == first.term)

                // Compare-and-set on the value.
                let swapped = try await client.put("color", "green", prevValue: "red")
                #expect(swapped.index > first.index)
                let staleValue = await #expect(throws: WRaftClientError.self) {
                    try await client.put("color", "blue", prevValue: "red")
                }
                #expect(staleValue?.httpStatus == 412)
                #expect(staleValue?.httpErrorCode == .compareFailed)

                // Compare-and-set on the index; 0 means "absent".
                let staleIndex = await #expect(throws: WRaftClientError.self) {
                    try await client.put("color", "blue", prevIndex: first.index)
                }
                #expect(staleIndex?.httpErrorCode == .compareFailed)
                let blue = try await client.put("color", "blue", prevIndex: swapped.index)
                let created = try await client.put("fresh", "1", prevIndex: 0)
                let notAbsent = await #expect(throws: WRaftClientError.self) { try await client.put("fresh", "2", prevIndex: 0) }
                #expect(notAbsent?.httpErrorCode == .compareFailed)
                #expect(try await client.get("fresh")?.index == created.index)
                #expect(try await client.get("color")?.text == "blue")

                // Delete, conditional delete, delete of a missing key.
                let failedDelete = await #expect(throws: WRaftClientError.self) {
                    try await client.delete("color", prevValue: "red")
                }
                #expect(failedDelete?.httpStatus == 412)
                let deleted = try await client.delete("color", prevIndex: blue.index)
                #expect(deleted.deleted == true)
                #expect(try await client.get("color") == nil)
                let missing = try await client.delete("color")
                #expect(missing.deleted == false)

                // /set, the original endpoint.
                let set = try await client.set(key: "legacy", value: "v1")
                #expect(try await client.get("legacy")?.index == set.index)
                let unset = try await client.set(deleting: "legacy")
                #expect(unset.deleted == true)
                #expect(try await client.get("legacy") == nil)

                // Keys with any UTF-8, slashes and spaces travel intact.
                let oddKey = "dir/sub dir/ключ?&=%"
                try await client.put(oddKey, Array("bytes \u{0}\u{1}".utf8))
                #expect(try await client.get(oddKey)?.value == Array("bytes \u{0}\u{1}".utf8))
                try await client.delete(oddKey)

                // Lists: ordered, prefix, limit and `more`; local reads on another node agree once applied.
                for number in [3, 1, 2, 5, 4] {
                    try await client.put("list/\(number)", "value \(number)")
                }
                try await client.put("listed-not", "x")
                let all = try await client.list(prefix: "list/")
                #expect(all.items.map(\.key) == ["list/1", "list/2", "list/3", "list/4", "list/5"])
                #expect(all.items.map(\.value) == (1...5).map { "value \($0)" })
                #expect(all.more == false)
                let limited = try await client.list(prefix: "list/", limit: 2)
                #expect(limited.items.map(\.key) == ["list/1", "list/2"])
                #expect(limited.more == true)
                let last = try await client.put("list/6", "value 6")
                #expect(await cluster.waitForApplied(last.index))
                for index in 0..<3 {
                    let local = try await cluster.client(index).list(prefix: "list/", consistency: .local)
                    #expect(local.items.count == 6, "node \(index)")
                    #expect(try await cluster.client(index).get("list/6", consistency: .local)?.text == "value 6")
                }
            }
        }

        @Test func stateLogHealthMetricsAndDashboard() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "inspect") { cluster in
                let (leaderIndex, leader) = try await cluster.leaderClient()
                let write = try await leader.put("inspected", "1")
                #expect(await cluster.waitForApplied(write.index))

                let state = try await leader.state()
                #expect(state.isLeader)
                #expect(state.commitIndex >= write.index)
                #expect(state.appliedIndex >= write.index)
                #expect(state.lastLogIndex >= write.index)
                #expect(state.keys >= 1)
                #expect(state.faults.isEmpty)
                #expect(state.votedFor != nil)
                let followers = state.members.filter { $0.id != state.id }
                #expect(followers.count == 2)
                #expect(followers.allSatisfy { $0.matchIndex != nil && $0.nextIndex != nil }, "the leader reports progress")

                let log = try await leader.log(from: 1, limit: 1_000)
                #expect(log.entries.first?.index == max(1, log.snapshotIndex + 1))
                #expect(log.entries.contains { $0.type == "membership" } || log.snapshotIndex > 0)
                #expect(log.entries.contains { $0.index == write.index && $0.type == "command" })
                #expect(zip(log.entries, log.entries.dropFirst()).allSatisfy { $0.index + 1 == $1.index })
                let page = try await leader.log(from: 1, limit: 2)
                #expect(page.entries.count <= 2)

                let health = try await leader.health()
                #expect(health.serving)
                #expect(health.role == "leader")
                let follower = try await cluster.client((leaderIndex + 1) % 3)
                #expect(try await follower.health().role == "follower")

                let metrics = try await leader.metricsText()
                #expect(metrics.contains("# TYPE"))
                #expect(metrics.lowercased().contains("term"))
                #expect(metrics.lowercased().contains("commit"))

                let dashboard = try await leader.send(HTTPRequest(method: "GET", target: "/"))
                #expect(dashboard.status == 200)
                #expect(dashboard.header("Content-Type")?.contains("text/html") == true)
                #expect(dashboard.bodyText.lowercased().contains("<html"))
            }
        }

        @Test func faultInjectionEndpointsShowInStateAndHealClearsThem() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "faults") { cluster in
                let (leaderIndex, leader) = try await cluster.leaderClient()
                let followerIndex = (leaderIndex + 1) % 3
                let otherIndex = (leaderIndex + 2) % 3
                let follower = try await cluster.client(followerIndex)
                let leaderID = try await leader.state().id

                try await follower.inject(.pause)
                #expect(try await follower.state().faults.contains { $0.contains("pause") })
                #expect(try await follower.health().serving == false)
                try await follower.inject(.resume)
                #expect(try await follower.state().faults.isEmpty)

                try await follower.inject(.isolate(peers: [leaderID]))
                try await follower.inject(.delay(ms: 5, jitterMs: 2))
                try await follower.inject(.drop(rate: 0.1))
                let faults = try await follower.state().faults
                #expect(faults.count == 3, "isolate, delay and drop show: \(faults)")
                try await follower.inject(.heal)
                #expect(try await follower.state().faults.isEmpty)

                // Transfer leadership to a chosen member, then step down.
                let targetID = try await cluster.client(otherIndex).state().id
                // Both answer once the transfer is under way, not done: wait for the outcome.
                try await leader.inject(.transfer(to: targetID))
                #expect(await eventually(timeoutMs: 5_000) { (try? await cluster.waitForLeader()) == otherIndex })
                let newLeader = try await cluster.client(otherIndex)
                try await newLeader.inject(.stepDown)
                #expect(await eventually(timeoutMs: 5_000) {
                    guard let current = try? await cluster.waitForLeader() else { return false }
                    return current != otherIndex
                })

                // Snapshot now: the node's snapshot index moves up to what it applied.
                let write = try await follower.put("snap", "shot")
                #expect(await cluster.waitForApplied(write.index))
                try await follower.inject(.snapshot)
                #expect(await eventually(timeoutMs: 5_000) { ((try? await follower.state().snapshotIndex) ?? 0) >= write.index })

                // A malformed member id is bad input; a well-formed unknown one is not found.
                let malformed = await #expect(throws: WRaftClientError.self) { try await leader.removeMember(id: "no-such-member") }
                #expect(malformed?.httpStatus == 400)
                let unknownRemoval = await #expect(throws: WRaftClientError.self) {
                    try await leader.removeMember(id: "0123456789abcdef")
                }
                #expect(unknownRemoval?.httpStatus == 404)

                // Crash: the process exits at once; restarted on its data dir it comes back with its data.
                try await follower.inject(.crash)
                #expect(await eventually(timeoutMs: 5_000) { await !cluster.isRunning(followerIndex) })
                try await cluster.restart(followerIndex)
                #expect(await eventually(timeoutMs: 10_000) {
                    (try? await follower.get("snap", consistency: .local))??.text == "shot"
                })
            }
        }

        @Test func faultsAreRefusedWithoutEnableFaults() async throws {
            var options = try ClusterFixture.options(nodes: 1, name: "nofaults")
            options.enableFaults = false
            try await ClusterFixture.withLaunched(options, form: true) { cluster in
                let client = try await cluster.client(0)
                for fault in [Fault.pause, .crash, .heal, .snapshot] {
                    let error = await #expect(throws: WRaftClientError.self) { try await client.inject(fault) }
                    #expect(error?.httpStatus == 403)
                    #expect(error?.httpErrorCode == .faultsDisabled)
                }
                #expect(try await client.health().serving)
            }
        }

        @Test func badInputGetsTheDocumentedAnswerAndTheNodeStaysHealthy() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "badinput") { cluster in
                let client = try await cluster.client(0)
                func expectError(_ request: HTTPRequest, status: Int, code: String? = nil) async throws {
                    let response = try await client.send(request)
                    #expect(response.status == status, "\(request.method) \(request.target.prefix(60)): \(response.bodyText.prefix(200))")
                    let body = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
                    #expect(body?["error"] is String, "errors are JSON: \(response.bodyText.prefix(200))")
                    #expect(body?["message"] is String)
                    if let code { #expect(body?["error"] as? String == code) }
                }
                let json = [("Content-Type", "application/json")].map { (name: $0.0, value: $0.1) }
                try await expectError(HTTPRequest(method: "POST", target: "/set", headers: json, body: Array("{\"key\": ".utf8)), status: 400, code: "bad_json")
                try await expectError(HTTPRequest(method: "POST", target: "/set", headers: json, body: Array("[1,2]".utf8)), status: 400)
                try await expectError(HTTPRequest(method: "POST", target: "/connect", headers: json, body: Array("not json".utf8)), status: 400, code: "bad_json")
                try await expectError(HTTPRequest(method: "POST", target: "/op/drop", headers: json, body: Array("{\"rate\": 7}".utf8)), status: 400)
                try await expectError(HTTPRequest(method: "POST", target: "/set", headers: json, body: Array(#"{"key": "", "value": "v"}"#.utf8)), status: 400, code: "bad_key")
                let emptyKey = try await client.send(HTTPRequest(method: "PUT", target: "/data/", body: Array("v".utf8)))
                #expect((400..<500).contains(emptyKey.status), "PUT /data/ with an empty key: \(emptyKey.status)")
                let longKey = String(repeating: "k", count: 2_048)
                try await expectError(HTTPRequest(method: "PUT", target: "/data/\(longKey)", body: Array("v".utf8)), status: 400, code: "bad_key")
                try await expectError(HTTPRequest(method: "GET", target: "/data/\(longKey)"), status: 400, code: "bad_key")
                let bigValue = [UInt8](repeating: 0x61, count: 2 << 20)
                let tooLarge = try await client.send(HTTPRequest(method: "PUT", target: "/data/big", body: bigValue), timeoutMs: 20_000)
                #expect(tooLarge.status == 413, "2 MiB value: \(tooLarge.status) \(tooLarge.bodyText.prefix(200))")
                try await expectError(HTTPRequest(method: "GET", target: "/no/such/path"), status: 404)
                try await expectError(HTTPRequest(method: "GET", target: "/data/k?timeoutMs=soon"), status: 400)
                try await expectError(HTTPRequest(method: "GET", target: "/data?limit=-3"), status: 400)
                try await expectError(HTTPRequest(method: "PUT", target: "/data/k?prevIndex=abc", body: [1]), status: 400)
                let unreachable = try RefusingPort()
                let connectBody = Array(#"{"peer": "127.0.0.1:\#(unreachable.port)"}"#.utf8)
                let connect = try await client.send(HTTPRequest(method: "POST", target: "/connect", headers: json, body: connectBody))
                withExtendedLifetime(unreachable) {}
                #expect(connect.status >= 400, "connect to a dead address after start: \(connect.status)")

                // Garbage on the raft port: random bytes, then a huge length prefix.
                let raftPort = await cluster.nodes[0].raftAddress.port
                var generator = SplitMix64(seed: 7)
                let noise = (0..<4_096).map { _ in UInt8.random(in: 0...255, using: &generator) }
                #expect(sendRawTCP(port: raftPort, bytes: noise))
                #expect(sendRawTCP(port: raftPort, bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0] + noise.prefix(64)))
                #expect(sendRawTCP(port: raftPort, bytes: [0x00, 0x00, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8]))

                // Still healthy, still in the cluster, still writing.
                #expect(try await client.health().serving)
                let after = try await client.put("after-garbage", "fine")
                #expect(await cluster.waitForApplied(after.index))
                #expect(try await client.get("after-garbage")?.text == "fine")
                #expect(await cluster.runningIndexes == [0, 1, 2])
            }
        }
    }
}
