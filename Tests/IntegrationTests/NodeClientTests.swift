import Foundation
import Synchronization
import Testing
import WRaftAPI
import WRaftClient
import WRaftLoad

/// `NodeClient` against a scripted fake server: request encoding, answer decoding, keep-alive,
/// bounds and every error case. No node needed.
@Suite struct NodeClientTests {
    /// The deadline of requests that must succeed: generous, because the whole test process
    /// can be starved of its few cooperative threads for many seconds by CPU-bound suites, and
    /// a deadline counts from the start of a request.
    static let patientTimeoutMs = 60_000

    @Test func putEncodesTheKeyTheConditionAndTheBodyAndDecodesTheAnswer() async throws {
        let server = try FakeHTTPServer { _ in
            .respond(status: 200, body: json(#"{"key":"a/b c?%é","index":12,"term":3}"#))
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        let result = try await client.put("a/b c?%é", "new", prevValue: "old value&x", timeoutMs: 50_000)
        await client.shutDown()

        #expect(result == WriteOutcome(key: "a/b c?%é", index: 12, term: 3))
        let request = try #require(server.requests.first)
        #expect(request.method == "PUT")
        #expect(request.target == "/data/a%2Fb%20c%3F%25%C3%A9?prevValue=old%20value%26x&timeoutMs=50000")
        #expect(request.body == Array("new".utf8))
        #expect(request.headers["host"] == server.address)
    }

    @Test func getDecodesValueAndIndexHeadersAndMapsNotFoundToNil() async throws {
        let server = try FakeHTTPServer { request in
            if request.target.hasPrefix("/data/present") {
                return .respond(status: 200, headers: [("X-Raft-Index", "7"), ("X-Raft-Term", "2")], body: [0, 1, 255])
            }
            return .respond(status: 404, body: json(#"{"error":"not_found","message":"no such key"}"#))
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        let present = try await client.get("present", consistency: .local)
        let absent = try await client.get("absent")
        await client.shutDown()

        #expect(present == ReadOutcome(value: [0, 1, 255], index: 7, term: 2))
        #expect(absent == nil)
        #expect(server.requests.map(\.target) == ["/data/present?consistency=local", "/data/absent"])
    }

    @Test func errorStatusesDecodeTheirJSONBodyAndRetryAfter() async throws {
        let server = try FakeHTTPServer { request in
            switch request.target {
            case "/start":
                return .respond(
                    status: 503, headers: [("Retry-After", "2")],
                    body: json(#"{"error":"no_leader","message":"no leader within 5000 ms"}"#))
            case "/state":
                return .respond(status: 500, body: Array("not json".utf8))
            default:
                return .respond(status: 412, body: json(#"{"error":"compare_failed","message":"value differs"}"#))
            }
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        let noLeader = await #expect(throws: WRaftClientError.self) { try await client.start() }
        let serverError = await #expect(throws: WRaftClientError.self) { try await client.state() }
        let compare = await #expect(throws: WRaftClientError.self) { try await client.delete("k", prevIndex: 4) }
        await client.shutDown()

        #expect(noLeader == .http(status: 503, code: .noLeader, message: "no leader within 5000 ms", retryAfterSeconds: 2))
        #expect(noLeader?.mayHaveTakenEffect == false)
        #expect(serverError == .http(status: 500, code: nil, message: "not json", retryAfterSeconds: nil))
        #expect(compare?.httpErrorCode == .compareFailed)
        #expect(compare?.mayHaveTakenEffect == false)
    }

    @Test func sequentialRequestsReuseOneKeepAliveConnection() async throws {
        let server = try FakeHTTPServer { _ in .respond(status: 200, body: json(#"{"serving":true,"status":"running","role":"leader","health":true}"#)) }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        for _ in 0..<20 {
            let health = try await client.health()
            #expect(health == HealthView(serving: true, status: "running", role: "leader"))
        }
        await client.shutDown()
        #expect(server.connectionCount == 1)
        #expect(server.requests.count == 20)
    }

    @Test func concurrentRequestsStayWithinConnectionsMax() async throws {
        let server = try FakeHTTPServer { _ in .respond(status: 200, body: json(#"{"key":"k","index":1,"term":1}"#), delayMs: 20) }
        defer { server.stop() }
        let client = NodeClient(
            address: try NodeAddress(parsing: server.address), connectionsMax: 3, requestTimeoutMs: Self.patientTimeoutMs)
        let successes = await withTaskGroup(of: Bool.self) { group in
            for number in 0..<24 {
                group.addTask { (try? await client.put("k\(number)", "v")) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        await client.shutDown()
        #expect(successes == 24)
        #expect(server.openConnectionsMax <= 3)
        #expect(server.connectionCount <= 3)
    }

    @Test func aNodeThatNeverAnswersTimesOutWithinTheBound() async throws {
        let server = try FakeHTTPServer(accepting: false) { _ in .hang }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: 300)
        let started = ContinuousClock.now
        let error = await #expect(throws: WRaftClientError.self) { try await client.state() }
        let elapsed = ContinuousClock.now - started
        await client.shutDown()
        #expect(error == .timeout(afterMs: 300))
        #expect(error?.mayHaveTakenEffect == true)
        #expect(elapsed < .milliseconds(Self.patientTimeoutMs), "the deadline is enforced, not waited out")
    }

    @Test func aConnectionClosedBeforeTheAnswerIsReportedAndTheNextRequestReconnects() async throws {
        let calls = Atomic<Int>(0)
        let server = try FakeHTTPServer { _ in
            calls.add(1, ordering: .relaxed).newValue == 1 ? .close : .respond(status: 200, body: json(#"{"key":"k","index":2,"term":1}"#))
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        let error = await #expect(throws: WRaftClientError.self) { try await client.put("k", "v") }
        let retried = try await client.put("k", "v")
        await client.shutDown()
        #expect(error == .connectionClosed(address: server.address))
        #expect(error?.mayHaveTakenEffect == true)
        #expect(retried.index == 2)
        #expect(server.connectionCount == 2)
    }

    @Test func nothingListeningIsConnectionRefused() async throws {
        let closed = try RefusingPort()
        let client = try NodeClient("127.0.0.1:\(closed.port)", requestTimeoutMs: Self.patientTimeoutMs)
        let error = await #expect(throws: WRaftClientError.self) { try await client.health() }
        await client.shutDown()
        #expect(error == .connectionRefused(address: "127.0.0.1:\(closed.port)"))
        withExtendedLifetime(closed) {}
        #expect(error?.mayHaveTakenEffect == false)
    }

    @Test func anAnswerLargerThanTheBoundFails() async throws {
        let server = try FakeHTTPServer { _ in .respond(status: 200, body: [UInt8](repeating: 65, count: 100_000)) }
        defer { server.stop() }
        let client = NodeClient(
            address: try NodeAddress(parsing: server.address), requestTimeoutMs: Self.patientTimeoutMs,
            responseBytesMax: 10_000)
        let error = await #expect(throws: WRaftClientError.self) { try await client.metricsText() }
        await client.shutDown()
        #expect(error == .responseTooLarge(bytesMax: 10_000))
    }

    @Test func faultsListSetAndRemoveSendTheDocumentedBodies() async throws {
        let server = try FakeHTTPServer { request in
            if request.target.hasPrefix("/data?") {
                return .respond(status: 200, body: json(#"{"items":[{"key":"a","value":"1","index":3}],"more":true}"#))
            }
            if request.target.hasPrefix("/set") { return .respond(status: 200, body: json(#"{"key":"a","index":4,"term":1,"deleted":true}"#)) }
            if request.target.hasPrefix("/op/") {
                return .respond(status: 200, body: json(#"{"op":"\#(request.target.dropFirst("/op/".count))","ok":true}"#))
            }
            return .respond(status: 200, body: json(#"{"removed":"n4"}"#))
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        try await client.inject(.isolate(peers: ["n2"]))
        try await client.inject(.isolate(peers: nil))
        try await client.inject(.delay(ms: 50, jitterMs: 20))
        try await client.inject(.drop(rate: 0.25))
        try await client.inject(.transfer(to: "n3"))
        try await client.inject(.stepDown)
        try await client.removeMember(id: "n4")
        let list = try await client.list(prefix: "a b", limit: 10)
        let deleted = try await client.set(deleting: "a")
        await client.shutDown()

        #expect(list == ListView(items: [.init(key: "a", value: "1", index: 3)], more: true))
        #expect(deleted.deleted == true)
        let sent = server.requests.map { "\($0.method) \($0.target) \(canonicalJSON($0.body))" }
        #expect(
            sent == [
                #"POST /op/isolate {"peers":["n2"]}"#, "POST /op/isolate {}", #"POST /op/delay {"jitterMs":20,"ms":50}"#,
                #"POST /op/drop {"rate":0.25}"#, #"POST /op/transfer {"to":"n3"}"#, "POST /op/step-down ",
                #"POST /members/remove {"id":"n4"}"#, "GET /data?prefix=a%20b&limit=10 ",
                #"POST /set {"delete":true,"key":"a"}"#,
            ])
    }

    @Test func aClosedLoopSendsRequestsInOrderCountsAnswersAndReplacesABrokenConnection() async throws {
        let calls = Atomic<Int>(0)
        let server = try FakeHTTPServer { _ in
            // Every 50th request loses its connection; the loop must carry on with a new one.
            calls.add(1, ordering: .relaxed).newValue % 50 == 0 ? .close : .respond(status: 200, body: json("{}"))
        }
        defer { server.stop() }
        let client = try NodeClient(server.address, requestTimeoutMs: Self.patientTimeoutMs)
        let start = ContinuousClock.now
        let result = await client.runClosedLoop(
            measureFrom: start, end: start + .seconds(60), requestsMax: 200, timeoutMs: 2_000, samplesMax: 1_000_000
        ) { sequence in
            HTTPRequest(method: "PUT", target: "/data/loop-\(sequence)", body: [1, 2, 3])
        }
        await client.shutDown()

        // 200 requests, every 50th answered by closing the connection.
        #expect(result.completed == 196)
        #expect(result.failed == 4)
        #expect(result.firstError == .connectionClosed(address: server.address))
        #expect(result.latenciesMicroseconds.count == result.completed)
        #expect(server.connectionCount == 4, "a new connection after each of the first three closes")
        let targets = server.requests.map(\.target)
        #expect(targets == (0..<200).map { "/data/loop-\($0)" }, "one request after another, in order")
    }

    @Test func addressesParseAndBadOnesAreRefused() throws {
        #expect(try NodeAddress(parsing: "127.0.0.1:8081") == NodeAddress(host: "127.0.0.1", port: 8081))
        #expect(try NodeAddress(parsing: "[::1]:9") == NodeAddress(host: "::1", port: 9))
        for bad in ["", "localhost", ":80", "host:0", "host:65536", "host:x"] {
            #expect(throws: WRaftClientError.invalidAddress(bad)) { try NodeAddress(parsing: bad) }
        }
    }
}

/// JSON text with sorted keys, so bodies compare whatever order the encoder wrote.
private func canonicalJSON(_ bytes: [UInt8]) -> String {
    guard !bytes.isEmpty, let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    else { return String(decoding: bytes, as: UTF8.self) }
    return String(decoding: data, as: UTF8.self)
}
