import Foundation
import Testing
import WRaftAPI
import WRaftClient

extension RealProcessTests {
    /// Issue 12 over HTTP on real processes: revisions, reads at a revision, ranges, `/txn`,
    /// `/compact`, leases and their expiry through a `kill -9` of the leader.
    @Suite struct RevisionEndpointTests {
        static func send(
            _ client: NodeClient, _ method: String, _ target: String, json: String? = nil, body: [UInt8] = []
        ) async throws -> HTTPResponse {
            let headers: [(name: String, value: String)] = json == nil ? [] : [("Content-Type", "application/json")]
            return try await client.send(
                HTTPRequest(method: method, target: target, headers: headers, body: json.map { Array($0.utf8) } ?? body))
        }

        static func object(_ response: HTTPResponse) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        }

        @Test func revisionsRangesTransactionsAndCompaction() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "revisions") { cluster in
                let client = try await cluster.client(1)
                let first = try await client.put("app/a", "1")
                let second = try await client.put("app/a", "2")
                let firstRevision = try #require(first.revision)
                #expect(second.revision == firstRevision + 1)
                _ = try await client.put("app/b", "x")

                // A read now, and at the first revision.
                let now = try await Self.send(client, "GET", "/data/app/a")
                #expect(now.bodyText == "2" && now.header(RevisionHeader.version) == "2")
                #expect(now.header(RevisionHeader.createRevision) == String(firstRevision))
                #expect(now.header(RevisionHeader.revision) == String(firstRevision + 2))
                let then = try await Self.send(client, "GET", "/data/app/a?revision=\(firstRevision)")
                #expect(then.status == 200 && then.bodyText == "1")
                let future = try await Self.send(client, "GET", "/data/app/a?revision=\(firstRevision + 100)")
                #expect(future.status == 400)
                #expect(try Self.object(future)["error"] as? String == "future_revision")

                // Ranges: a prefix at a past revision, start/end, paging.
                let past = try Self.object(try await Self.send(client, "GET", "/data?prefix=app/&revision=\(firstRevision + 1)"))
                #expect((past["items"] as? [[String: Any]])?.map { $0["key"] as? String } == ["app/a"])
                let ranged = try Self.object(try await Self.send(client, "GET", "/data?start=app/a&end=app/b"))
                #expect((ranged["items"] as? [[String: Any]])?.count == 1)
                let paged = try Self.object(try await Self.send(client, "GET", "/data?prefix=app/&limit=1"))
                #expect(paged["more"] as? Bool == true)
                let cursor = try #require(paged["next"] as? String)
                let rest = try Self.object(try await Self.send(client, "GET", "/data?prefix=app/&limit=1&cursor=\(cursor)"))
                #expect((rest["items"] as? [[String: Any]])?.first?["key"] as? String == "app/b")

                // A transaction: compare the version, then write two keys at one revision.
                let txn = """
                    {"compare": [{"key": "app/a", "target": "version", "op": "=", "number": 2},
                                 {"key": "app/c", "target": "version", "op": "=", "number": 0}],
                     "success": [{"op": "put", "key": "app/c", "value": "3"}, {"op": "delete", "key": "app/b"},
                                 {"op": "range", "key": "app/", "prefix": true}],
                     "failure": []}
                    """
                let answer = try Self.object(try await Self.send(client, "POST", "/txn", json: txn))
                #expect(answer["succeeded"] as? Bool == true)
                let txnRevision = try #require(answer["revision"] as? Int)
                #expect(txnRevision == Int(firstRevision) + 3)
                let responses = try #require(answer["responses"] as? [[String: Any]])
                #expect(responses.map { $0["op"] as? String } == ["put", "delete", "range"])
                #expect((responses[2]["items"] as? [[String: Any]])?.map { $0["key"] as? String } == ["app/a", "app/c"])
                let failed = try Self.object(try await Self.send(client, "POST", "/txn", json: txn))
                #expect(failed["succeeded"] as? Bool == false)
                let badTxn = try await Self.send(client, "POST", "/txn", json: #"{"compare": [{"key": "a", "target": "colour", "op": "=", "number": 1}]}"#)
                #expect(badTxn.status == 400)

                // Compaction: reads below it are refused with 410 compacted.
                let compacted = try await Self.send(client, "POST", "/compact", json: #"{"revision": \#(txnRevision)}"#)
                #expect(compacted.status == 200)
                let gone = try await Self.send(client, "GET", "/data/app/a?revision=\(firstRevision)")
                #expect(gone.status == 410)
                #expect(try Self.object(gone)["error"] as? String == "compacted")
            }
        }

        @Test func aKeptAliveLeaseSurvivesKillingTheLeaderAndALapsedOneExpires() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "leases") { cluster in
                let clients = await cluster.clients
                let leader = try await cluster.waitForLeader()
                let follower = (leader + 1) % 3
                let other = (leader + 2) % 3
                func grant(_ ttl: Int) async throws -> Int {
                    let granted = try Self.object(try await Self.send(clients[follower], "POST", "/lease", json: #"{"ttl": \#(ttl)}"#))
                    return try #require(granted["id"] as? Int)
                }
                let kept = try await grant(3)
                let lapsing = try await grant(2)
                #expect(try await Self.send(clients[follower], "PUT", "/data/kept?lease=\(kept)", body: [1]).status == 200)
                #expect(try await Self.send(clients[follower], "PUT", "/data/lapsing?lease=\(lapsing)", body: [1]).status == 200)
                let unknown = try await Self.send(clients[follower], "PUT", "/data/x?lease=999999", body: [1])
                #expect(unknown.status == 404)
                #expect(try Self.object(unknown)["error"] as? String == "lease_not_found")
                let leases = try Self.object(try await Self.send(clients[other], "GET", "/leases"))
                #expect((leases["leases"] as? [[String: Any]])?.count == 2)
                let info = try Self.object(try await Self.send(clients[other], "GET", "/lease/\(kept)"))
                #expect(info["keys"] as? [String] == ["kept"])

                // Keep one alive (through a follower) while the leader is killed.
                let start = ContinuousClock.now
                try await cluster.kill(leader, signal: SIGKILL)
                let survivors = [follower, other]
                let deadline = start + .seconds(8)
                var lapsedAfter: Duration?
                while ContinuousClock.now < deadline {
                    _ = try? await Self.send(clients[follower], "POST", "/lease/\(kept)/keepalive")
                    if lapsedAfter == nil,
                        (try? await Self.send(clients[other], "GET", "/data/lapsing?consistency=local"))?.status == 404
                    {
                        lapsedAfter = start.duration(to: .now)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                }
                _ = try await cluster.waitForLeader(among: survivors, timeoutMs: 10_000)
                for index in survivors {
                    #expect(try await clients[index].get("kept", consistency: .local) != nil, "node \(index) lost a kept-alive key")
                }
                // TTL 2 s, restarted in full by the new leader: within TTL + an election timeout
                // of the election, which itself takes at most a few election timeouts.
                let lapsed = try #require(lapsedAfter, "the lapsed lease never expired")
                #expect(lapsed <= .seconds(6))
                print("leases: a 2 s lease expired \(lapsed) after the leader was killed")
            }
        }
    }
}
