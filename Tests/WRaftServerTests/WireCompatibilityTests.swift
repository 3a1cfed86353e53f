import Foundation
import RaftCore
import Synchronization
import Testing
import WRaftAPI
import WRaftClient

@testable import WRaftServer

// Every body the server writes, read back by the client: the real HTTP handlers (in-process, on
// 127.0.0.1) answer the real `NodeClient`, and each answer must decode to exactly what the node
// said. A field renamed, dropped or added on one side fails here: the values differ, or the keys
// the server wrote are not the keys the decoded value encodes back to.

@Suite struct WireCompatibilityTests {
    /// A state with every optional field set, so a renamed optional field cannot hide as nil.
    static let fullState = NodeStateView(
        id: "00000000000000aa", clusterID: "00000000000000c1", raftAddress: "127.0.0.1:10001",
        httpAddress: "127.0.0.1:8081", status: "running", role: "leader", term: 7, votedFor: "00000000000000aa",
        leader: LeaderView(id: "00000000000000aa", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081"),
        commitIndex: 41, appliedIndex: 40, lastLogIndex: 42, snapshotIndex: 30, keys: 12,
        faults: ["paused", "drop:0.2"],
        members: [
            MemberView(id: "00000000000000aa", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081", voter: true),
            MemberView(
                id: "00000000000000bb", raftAddress: "[::1]:10002", httpAddress: "[::1]:8082", voter: false,
                matchIndex: 40, nextIndex: 41, lastContactMs: 15),
        ])

    /// A state of an `initial` node: the optional fields are null.
    static let initialState = NodeStateView(
        id: "00000000000000aa", raftAddress: "127.0.0.1:10001", httpAddress: "127.0.0.1:8081", status: "initial")

    @Test func clusterBodiesDecodeToWhatTheNodeSaid() async throws {
        let service = FakeNodeService()
        try await withNodeClient(service) { client, raw in
            for state in [Self.fullState, Self.initialState] {
                await service.setState(state)
                #expect(try await client.state() == state)
                try expectSameKeys(try await raw.request("GET", "/state"), as: NodeStateView.self)
            }

            for health in [
                HealthView(serving: true, status: "running", role: "follower"),
                HealthView(serving: false, status: "initial", role: nil),
            ] {
                await service.setHealth(health)
                #expect(try await client.health() == health)
                let response = try await raw.request("GET", "/health")
                #expect(response.status == (health.serving ? 200 : ErrorCode.notServing.httpStatus))
                // A node that does not serve adds an error's fields to the same body.
                try expectSameKeys(response, as: HealthView.self, alsoAllowing: health.serving ? [] : ["error", "message"])
                if !health.serving {
                    #expect(try NodeClient.decoded(ErrorBody.self, from: response.asClientResponse).code == .notServing)
                }
            }

            let members = Self.fullState.members
            await service.setConnectOutcome(.merged(members: members))
            #expect(try await client.connect(peer: "127.0.0.1:10002") == ConnectView(result: .merged, clusterID: nil, members: members))
            await service.setConnectOutcome(.joined(clusterID: "00000000000000c1", members: members))
            #expect(
                try await client.connect(peer: "127.0.0.1:10002")
                    == ConnectView(result: .joined, clusterID: "00000000000000c1", members: members))
            try expectSameKeys(
                try await raw.request("POST", "/connect", body: Array(#"{"peer": "127.0.0.1:10002"}"#.utf8)), as: ConnectView.self)

            try await client.start()
            try expectSameKeys(try await raw.request("POST", "/start"), as: StartedView.self)
            #expect(try await client.removeMember(id: "00000000000000bb") == "00000000000000bb")
            try expectSameKeys(
                try await raw.request("POST", "/members/remove", body: Array(#"{"id": "bb"}"#.utf8)), as: RemovedView.self)

            let log = try await client.log(from: 95, limit: 6)
            #expect(log == (await service.log(from: LogIndex(95), limit: 6)))
            try expectSameKeys(try await raw.request("GET", "/log?from=95&limit=6"), as: LogView.self)

            let faults: [Fault] = [
                .pause, .resume, .isolate(peers: ["00000000000000bb"]), .isolate(peers: nil), .delay(ms: 50, jitterMs: 20),
                .drop(rate: 0.25), .heal, .crash, .stepDown, .transfer(to: "00000000000000bb"), .snapshot,
                .freeze, .release,
            ]
            #expect(Set(faults.map(\.name)) == Set(FaultName.allCases))
            for fault in faults {
                // The client checks the answer's `op` and `ok` itself.
                try await client.inject(fault)
            }
            let injected = await service.calls.compactMap { call -> FaultCommand? in
                if case .inject(let command) = call { return command }
                return nil
            }
            #expect(injected.count == faults.count)
            #expect(injected.contains(.delay(ms: 50, jitterMs: 20)))
            #expect(injected.contains(.transfer(to: NodeID(0xbb))))
            try expectSameKeys(try await raw.request("POST", "/op/pause"), as: FaultInjectedView.self)
        }
    }

    @Test func dataBodiesDecodeToWhatTheNodeSaid() async throws {
        let service = FakeNodeService()
        try await withNodeClient(service) { client, raw in
            let put = try await client.put("k/1", "v1")
            #expect(put.key == "k/1" && put.term == 3 && put.deleted == nil)
            let stored = try #require(try await client.get("k/1"))
            #expect(stored == ReadOutcome(value: Array("v1".utf8), index: put.index, term: 3))
            let conditional = try await client.put("k/1", "v2", prevIndex: put.index)
            #expect(conditional.index == put.index + 1)

            let set = try await client.set(key: "k/3", value: "three")
            #expect(set == WriteOutcome(key: "k/3", index: conditional.index + 1, term: 3, deleted: nil))
            let deleted = try await client.delete("k/3")
            #expect(deleted == WriteOutcome(key: "k/3", index: set.index + 1, term: 3, deleted: true))
            let deletedAgain = try await client.set(deleting: "k/3")
            #expect(deletedAgain.deleted == false)
            try expectSameKeys(try await raw.request("PUT", "/data/k2", body: Array("x".utf8)), as: WriteOutcome.self)
            try expectSameKeys(try await raw.request("DELETE", "/data/k2"), as: WriteOutcome.self)
            #expect(try await client.get("k/3") == nil)

            await service.seed("k/bin", [0xff, 0x00, 0x80])
            let firstPage = try await client.list(prefix: "k/", limit: 1)
            var expected = ListView.Item(key: "k/1", value: "v2", index: conditional.index)
            // The fake service's revision fields: create and mod revision are the index.
            expected.createRevision = conditional.index
            expected.modRevision = conditional.index
            expected.version = 1
            expected.lease = 0
            #expect(firstPage.items == [expected])
            #expect(firstPage.more)
            let next = try #require(firstPage.next)
            let secondPage = try await client.list(prefix: "k/", limit: 5, cursor: next)
            #expect(secondPage.items.map(\.key) == ["k/bin"])
            #expect(secondPage.items.first?.valueBytes == [0xff, 0x00, 0x80])
            #expect(secondPage.items.first?.encoding == ListView.Item.base64)
            #expect(!secondPage.more && secondPage.next == nil)
            try expectSameKeys(try await raw.request("GET", "/data?prefix=k/&limit=1"), as: ListView.self)
            try expectSameKeys(try await raw.request("GET", "/data?prefix=k/bin"), as: ListView.self)
        }
    }

    /// Every `ErrorCode` reaches the client as itself, with its status, message and Retry-After.
    @Test func everyErrorCodeReachesTheClient() async throws {
        var security = HTTPSecurity()
        security.tokens = try HTTPTokenTests.tokens()
        let service = FakeNodeService()
        let covered = Mutex<Set<ErrorCode>>([])
        try await withNodeClient(service, security: security, token: HTTPTokenTests.adminToken) { client, raw in
            // The codes a node error carries: thrown by the node, mapped by the HTTP layer.
            for code in ErrorCode.allCases {
                let error = NodeError(code: code, message: "m-\(code.wireString)", retryAfterMs: 1_500, sizes: (9, 8))
                guard error.code == code else { continue }
                await service.failNext(with: error)
                let thrown = await #expect(throws: WRaftClientError.self) { try await client.put("k", "v") }
                let expected = WRaftClientError.http(
                    status: code.httpStatus, code: code, message: error.message,
                    retryAfterSeconds: error.retryAfterMs.map { _ in 2 })
                #expect(thrown == expected, "\(code)")
                covered.withLock { _ = $0.insert(code) }
            }

            // The codes only the HTTP layer answers with (asked on a raw connection, which may
            // send what the client library never would).
            let jsonBodyBytesMax = HTTPOptions().jsonBodyBytesMax
            let httpOnly: [(ErrorCode, String, String, [UInt8]?, [(String, String)])] = [
                (.methodNotAllowed, "PATCH", "/state", nil, []),
                (.bodyTooLarge, "POST", "/connect", Array(repeating: UInt8(ascii: " "), count: jsonBodyBytesMax + 1), []),
                (.misdirectedRequest, "GET", "/state", nil, [("Host", "evil.example")]),
                (.forbiddenOrigin, "POST", "/start", nil, [("Origin", "http://evil.example")]),
                (.unauthenticated, "GET", "/state", nil, [("Authorization", "Bearer nobody-0123456789")]),
                (.forbidden, "POST", "/start", nil, [("Authorization", "Bearer " + HTTPTokenTests.readToken)]),
                (.unsupportedMediaType, "POST", "/connect", Array("{}".utf8), [("Content-Type", "text/plain")]),
                (.notFound, "GET", "/nowhere", nil, []),
                (.badJSON, "POST", "/connect", Array("[".utf8), []),
            ]
            for (code, method, target, body, headers) in httpOnly {
                let response = try await raw.request(method, target, body: body, headers: headers)
                #expect(response.status == code.httpStatus, "\(code): \(response.text)")
                let error = NodeClient.error(from: response.asClientResponse)
                #expect(error.httpErrorCode == code, "\(code): \(response.text)")
                #expect(error.httpStatus == code.httpStatus)
                try expectSameKeys(response, as: ErrorBody.self)
                covered.withLock { _ = $0.insert(code) }
            }

            await service.setHealth(HealthView(serving: false, status: "initial", role: nil))
            let health = try await raw.request("GET", "/health")
            #expect(NodeClient.error(from: health.asClientResponse).httpErrorCode == .notServing)
            covered.withLock { _ = $0.insert(.notServing) }
        }
        // A code added to the table without a way to reach the client fails here.
        let uncovered = Set(ErrorCode.allCases).subtracting(covered.withLock { $0 })
        #expect(uncovered.isEmpty, "not covered: \(uncovered)")
    }

    @Test func theKeyCheckCatchesARenamedField() throws {
        // The check itself: a body with a renamed field, or one more, is not the type's.
        let renamed = RawResponse(status: 200, headers: [], body: Array(#"{"serving":true,"state":"running","role":null,"health":true,"reason":null}"#.utf8))
        let extra = RawResponse(status: 200, headers: [], body: Array(#"{"serving":true,"status":"running","role":null,"health":true,"reason":null,"x":1}"#.utf8))
        let same = RawResponse(status: 200, headers: [], body: Array(#"{"serving":true,"status":"running","role":null,"health":true,"reason":null}"#.utf8))
        #expect(throws: (any Error).self) { try keysMismatch(renamed, as: HealthView.self) }
        #expect(try keysMismatch(extra, as: HealthView.self) != nil)
        #expect(try keysMismatch(same, as: HealthView.self) == nil)
    }
}

/// Runs `body` with a `NodeClient` and a raw connection to the HTTP application of `service`.
private func withNodeClient(
    _ service: FakeNodeService, security: HTTPSecurity = HTTPSecurity(), token: String? = nil,
    _ body: @escaping @Sendable (NodeClient, RawHTTPConnection) async throws -> Void
) async throws {
    try await withHTTPServer(service, security: security) { raw in
        let client = try NodeClient(
            address: NodeAddress(parsing: "127.0.0.1:\(raw.port)"), tls: nil, bearerToken: token, requestTimeoutMs: 20_000)
        do {
            let authorized = RawHTTPConnection(port: raw.port, tls: nil, bearerToken: token)
            try await body(client, authorized)
            await client.shutDown()
        } catch {
            await client.shutDown()
            throw error
        }
    }
}

/// Expects the body's JSON keys (nested, nulls left out) to be exactly those of `type` decoded
/// from it and encoded back, plus `alsoAllowing` at the top level.
private func expectSameKeys<Value: Codable>(
    _ response: RawResponse, as type: Value.Type, alsoAllowing: Set<String> = [],
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect((200..<600).contains(response.status), sourceLocation: sourceLocation)
    let mismatch = try keysMismatch(response, as: type, alsoAllowing: alsoAllowing)
    #expect(mismatch == nil, "\(Value.self): \(mismatch ?? "")", sourceLocation: sourceLocation)
}

/// Nil when the keys agree; else what differs. Throws when the body does not decode at all.
private func keysMismatch<Value: Codable>(
    _ response: RawResponse, as type: Value.Type, alsoAllowing: Set<String> = []
) throws -> String? {
    let decoded = try NodeClient.decoded(type, from: response.asClientResponse)
    let written = try JSONSerialization.jsonObject(with: Data(response.body))
    let reencoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(decoded))
    let writtenKeys = keyPaths(written).subtracting(alsoAllowing)
    let readKeys = keyPaths(reencoded)
    guard writtenKeys != readKeys else { return nil }
    return "server wrote \(writtenKeys.subtracting(readKeys).sorted()), client has \(readKeys.subtracting(writtenKeys).sorted())"
}

/// Every key path of a JSON value (`members.voter`), keys whose value is null left out.
private func keyPaths(_ value: Any, prefix: String = "") -> Set<String> {
    var paths: Set<String> = []
    if let object = value as? [String: Any] {
        for (key, child) in object where !(child is NSNull) {
            let path = prefix.isEmpty ? key : prefix + "." + key
            paths.insert(path)
            paths.formUnion(keyPaths(child, prefix: path))
        }
    } else if let array = value as? [Any] {
        for element in array { paths.formUnion(keyPaths(element, prefix: prefix)) }
    }
    return paths
}

extension RawResponse {
    /// The response as the client library holds one.
    var asClientResponse: WRaftClient.HTTPResponse {
        var fields: [String: String] = [:]
        for (name, value) in headers { fields[name.lowercased()] = value }
        return WRaftClient.HTTPResponse(status: status, headers: fields, body: body)
    }

}
