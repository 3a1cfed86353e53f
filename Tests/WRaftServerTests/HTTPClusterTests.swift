import Foundation
import RaftCore
import Testing
import WRaftAPI

@testable import WRaftServer

// Cluster formation, inspection, operations and fault endpoints against a fake node.

@Suite struct HTTPClusterTests {
    @Test func connectAnswersMergedOrJoinedMembers() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let merged = try await client.request("POST", "/connect", body: Array(#"{"peer":"127.0.0.1:10003"}"#.utf8))
            #expect(merged.status == 200)
            #expect(merged.json?["result"] as? String == "merged")
            let members = try #require(merged.json?["members"] as? [[String: Any]])
            #expect(members.first?["id"] as? String == "00000000000000aa")
            #expect(members.first?["voter"] as? Bool == true)

            await service.setConnectOutcome(.joined(clusterID: "c9", members: []))
            let joined = try await client.request("POST", "/connect", body: Array(#"{"peer":"node-b:10002"}"#.utf8))
            #expect(joined.json?["result"] as? String == "joined")
            #expect(joined.json?["clusterID"] as? String == "c9")
            #expect(await service.calls == [.connect("127.0.0.1:10003"), .connect("node-b:10002")])
        }
    }

    @Test func connectRefusesBadPeersAndReportsConflicts() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for body in [#"{"peer":"nohost"}"#, #"{"peer":"h:0"}"#, #"{"peer":":80"}"#, #"{"peer":"h:99999"}"#] {
                let response = try await client.request("POST", "/connect", body: Array(body.utf8))
                #expect(response.status == 400, "\(body)")
                #expect(response.errorCode == "bad_request", "\(body)")
            }
            let missing = try await client.request("POST", "/connect", body: [])
            #expect(missing.errorCode == "bad_json")
            await service.failNext(with: .clusterConflict(message: "both running"))
            let conflict = try await client.request("POST", "/connect", body: Array(#"{"peer":"h:1"}"#.utf8))
            #expect(conflict.status == 409)
            #expect(conflict.errorCode == "cluster_conflict")
            #expect(conflict.json?["message"] as? String == "both running")
        }
    }

    @Test func startIsForwardedAndIdempotentForTheClient() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("POST", "/start")
            #expect(response.status == 200)
            #expect(response.json?["started"] as? Bool == true)
            await service.failNext(with: .wrongState(code: .notInitial, message: "already running"))
            let again = try await client.request("POST", "/start")
            #expect(again.status == 409)
            #expect(again.errorCode == "not_initial")
            #expect(await service.calls == [.start, .start])
        }
    }

    @Test func stateHasEveryFieldOfTheContractWithNullsAndCORS() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("GET", "/state")
            #expect(response.status == 200)
            #expect(response.header("Access-Control-Allow-Origin") == nil, "never *; only an allowed Origin is reflected")
            let json = try #require(response.json)
            for field in [
                "id", "raftAddress", "httpAddress", "status", "role", "term", "votedFor", "leader", "commitIndex",
                "appliedIndex", "lastLogIndex", "snapshotIndex", "keys", "faults", "members",
            ] {
                #expect(json[field] != nil, "missing \(field)")
            }
            #expect(json["leader"] is NSNull)
            #expect(json["votedFor"] is NSNull)
            #expect(json["faults"] as? [String] == ["paused"])
            let members = try #require(json["members"] as? [[String: Any]])
            #expect(members[0]["matchIndex"] == nil)
            #expect(members[1]["matchIndex"] as? Int == 9)
            #expect(members[1]["nextIndex"] as? Int == 10)
            #expect(members[1]["lastContactMs"] as? Int == 12)
            #expect(members[1]["voter"] as? Bool == false)

            var view = await service.stateView
            view.leader = LeaderView(id: "00000000000000bb", raftAddress: "r:1", httpAddress: "h:2")
            view.votedFor = "00000000000000bb"
            view.role = nil
            await service.setState(view)
            let stateWithLeader = try await client.request("GET", "/state")
            let withLeader = try #require(stateWithLeader.json)
            #expect((withLeader["leader"] as? [String: Any])?["httpAddress"] as? String == "h:2")
            #expect(withLeader["votedFor"] as? String == "00000000000000bb")
            #expect(withLeader["role"] is NSNull)
        }
    }

    @Test func removeMemberTakesAHexID() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("POST", "/members/remove", body: Array(#"{"id":"00000000000000bb"}"#.utf8))
            #expect(response.status == 200)
            #expect(response.json?["removed"] as? String == "00000000000000bb")
            let bad = try await client.request("POST", "/members/remove", body: Array(#"{"id":"not-hex"}"#.utf8))
            #expect(bad.status == 400)
            #expect(bad.errorCode == "bad_request")
            await service.failNext(with: .notFound(message: "no member 00000000000000cc"))
            let unknown = try await client.request("POST", "/members/remove", body: Array(#"{"id":"cc"}"#.utf8))
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "not_found")
            #expect(await service.calls == [.removeMember(NodeID(0xbb)), .removeMember(NodeID(0xcc))])
        }
    }

    @Test func promoteMemberTakesAHexIDAndPassesTheRefusalsOn() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("POST", "/members/promote", body: Array(#"{"id":"00000000000000bb"}"#.utf8))
            #expect(response.status == 200)
            #expect(response.json?["promoted"] as? String == "00000000000000bb")
            let bad = try await client.request("POST", "/members/promote", body: Array(#"{"id":"not-hex"}"#.utf8))
            #expect(bad.status == 400)
            await service.failNext(with: .refused(code: .learnerNotReady, message: "lags"))
            let lagging = try await client.request("POST", "/members/promote", body: Array(#"{"id":"cc"}"#.utf8))
            #expect(lagging.status == 409)
            #expect(lagging.errorCode == "learner_not_ready")
            let get = try await client.request("GET", "/members/promote")
            #expect(get.status == 405)
            #expect(await service.calls == [.promoteMember(NodeID(0xbb)), .promoteMember(NodeID(0xcc))])
        }
    }

    @Test func logAnswersEntriesFromAGivenIndexOrTheLastOnes() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("GET", "/log?from=95&limit=2")
            #expect(response.status == 200)
            #expect(response.header("Access-Control-Allow-Origin") == nil, "never *; only an allowed Origin is reflected")
            let json = try #require(response.json)
            #expect(json["snapshotIndex"] as? Int == 90)
            #expect(json["snapshotTerm"] as? Int == 2)
            let entries = try #require(json["entries"] as? [[String: Any]])
            #expect(entries.count == 2)
            #expect(entries[0]["index"] as? Int == 95)
            #expect(entries[0]["term"] as? Int == 2)
            #expect(entries[0]["type"] as? String == "command")
            #expect(entries[0]["summary"] as? String == "put k0 (1 bytes)")
            // Without `from`: the last `limit` entries (lastLogIndex 120), never before the snapshot.
            _ = try await client.request("GET", "/log?limit=10")
            _ = try await client.request("GET", "/log")
            _ = try await client.request("GET", "/log?limit=1000")
            for target in ["/log?limit=0", "/log?limit=1001", "/log?from=x"] {
                let status1 = try await client.request("GET", target).status
                #expect(status1 == 400, "\(target)")
            }
            #expect(
                await service.calls == [
                    .log(from: 95, limit: 2), .log(from: 111, limit: 10), .log(from: 91, limit: 50),
                    .log(from: 91, limit: 1_000),
                ])
        }
    }

    @Test func healthIs200WhenServingAnd503WhenNot() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let serving = try await client.request("GET", "/health")
            #expect(serving.status == 200)
            #expect(serving.json?["role"] as? String == "leader")
            #expect(serving.json?["serving"] as? Bool == true)
            #expect(serving.header("Access-Control-Allow-Origin") == nil, "never *; only an allowed Origin is reflected")
            await service.setHealth(HealthView(serving: false, status: "initial", role: nil))
            let initial = try await client.request("GET", "/health")
            #expect(initial.status == 503)
            #expect(initial.errorCode == "not_serving")
            #expect(initial.json?["status"] as? String == "initial")
            #expect(initial.json?["role"] is NSNull)
        }
    }

    @Test func metricsServesThePrometheusText() async throws {
        try await withHTTPServer(FakeNodeService(), metricsText: { "# TYPE wraft_commit_index gauge\nwraft_commit_index 7\n" }) {
            client in
            let response = try await client.request("GET", "/metrics")
            #expect(response.status == 200)
            #expect(response.header("content-type")?.hasPrefix("text/plain") == true)
            #expect(response.text == "# TYPE wraft_commit_index gauge\nwraft_commit_index 7\n")
        }
    }

    @Test func dashboardIsOneSelfContainedPage() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            let response = try await client.request("GET", "/")
            #expect(response.status == 200)
            #expect(response.header("content-type") == "text/html; charset=utf-8")
            let page = response.text
            #expect(page.contains("<title>WRaft"))
            #expect(page.contains("/state"))
            // Self-contained: no external scripts, styles or fonts.
            #expect(!page.contains("<script src"))
            #expect(!page.contains("<link"))
            #expect(!page.contains("@import"))
        }
    }

    @Test func everyFaultEndpointInjectsItsCommand() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let requests: [(String, String?)] = [
                ("pause", nil), ("resume", nil), ("isolate", nil), ("isolate", #"{"peers":["bb","00000000000000cc"]}"#),
                ("delay", #"{"ms":50,"jitterMs":20}"#), ("delay", #"{"ms":5}"#), ("drop", #"{"rate":0.2}"#), ("heal", nil),
                ("crash", nil), ("step-down", nil), ("transfer", #"{"to":"bb"}"#), ("snapshot", nil),
            ]
            for (name, body) in requests {
                let response = try await client.request("POST", "/op/\(name)", body: body.map { Array($0.utf8) })
                #expect(response.status == 200, "\(name)")
                #expect(response.json?["op"] as? String == name)
                #expect(response.json?["ok"] as? Bool == true)
                #expect(response.header("Access-Control-Allow-Origin") == nil, "never *; only an allowed Origin is reflected")
            }
            #expect(
                await service.calls == [
                    .inject(.pause), .inject(.resume), .inject(.isolate(peers: nil)),
                    .inject(.isolate(peers: [NodeID(0xbb), NodeID(0xcc)])), .inject(.delay(ms: 50, jitterMs: 20)),
                    .inject(.delay(ms: 5, jitterMs: 0)), .inject(.drop(rate: 0.2)), .inject(.heal), .inject(.crash),
                    .inject(.stepDown), .inject(.transfer(to: NodeID(0xbb))), .inject(.snapshot),
                ])
        }
    }

    @Test func faultBodiesAreValidatedAndDisabledFaultsAre403() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let cases: [(String, String, Int, String)] = [
                ("delay", #"{"ms":-1}"#, 400, "bad_request"),
                ("delay", #"{"ms":10001}"#, 400, "bad_request"),
                ("delay", #"{"ms":1,"jitterMs":20000}"#, 400, "bad_request"),
                ("delay", "{}", 400, "bad_json"),
                ("drop", #"{"rate":1.5}"#, 400, "bad_request"),
                ("drop", #"{"rate":"half"}"#, 400, "bad_json"),
                ("transfer", #"{"to":"xyz"}"#, 400, "bad_request"),
                ("isolate", #"{"peers":["nope"]}"#, 400, "bad_request"),
                ("explode", "", 404, "not_found"),
            ]
            for (name, body, status, code) in cases {
                let response = try await client.request("POST", "/op/\(name)", body: Array(body.utf8))
                #expect(response.status == status, "\(name) \(body)")
                #expect(response.errorCode == code, "\(name) \(body)")
            }
            #expect(await service.calls.isEmpty)
            await service.failNext(with: .faultsDisabled)
            let disabled = try await client.request("POST", "/op/pause")
            #expect(disabled.status == 403)
            #expect(disabled.errorCode == "faults_disabled")
        }
    }
}
