import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import WRaftServer

// The key-value fast path (issue 10): PUT/GET/DELETE /data/{key} and POST /set are read and
// answered on the connection's event loop, everything else by Hummingbird's task. Both must give
// the same answers, keep pipelined answers in order, and survive half-closes and disconnects.

@Suite struct FastPathRouteTests {
    private func head(_ method: HTTPRequest.Method, _ path: String, _ fields: HTTPFields = [:]) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: "127.0.0.1:1", path: path, headerFields: fields)
    }

    @Test func onlyKeyValueRequestsWithABoundedDeclaredBodyTakeTheFastPath() {
        var options = HTTPOptions()
        options.valueBytesMax = 100
        options.jsonBodyBytesMax = 200
        let route = { (request: HTTPRequest) in FastPathRoute.bodyBytes(for: request, options: options) }
        #expect(route(head(.get, "/data/k")) == 0)
        #expect(route(head(.head, "/data/a/b?consistency=local")) == 0)
        #expect(route(head(.delete, "/data/k", [.contentLength: "0"])) == 0)
        #expect(route(head(.put, "/data/k", [.contentLength: "100"])) == 100)
        #expect(route(head(.put, "/data/k")) == 0, "no Content-Length: no body")
        #expect(route(head(.post, "/set?timeoutMs=10", [.contentLength: "200"])) == 200)

        #expect(route(head(.put, "/data/k", [.contentLength: "101"])) == nil, "over the bound: Hummingbird's 413")
        #expect(route(head(.post, "/set", [.contentLength: "201"])) == nil)
        #expect(route(head(.put, "/data/k", [.transferEncoding: "chunked"])) == nil, "no length to bound up front")
        #expect(route(head(.put, "/data/k", [.contentLength: "3", .expect: "100-continue"])) == nil)
        #expect(route(head(.put, "/data/k", [.contentLength: "-1"])) == nil)
        #expect(route(head(.put, "/data/k", [.contentLength: "99999999999999999999999"])) == nil)
        var twice = HTTPFields()
        twice.append(HTTPField(name: .contentLength, value: "3"))
        twice.append(HTTPField(name: .contentLength, value: "3"))
        #expect(route(head(.put, "/data/k", twice)) == nil, "several lengths")
        #expect(route(head(.get, "/data/k", [.contentLength: "5"])) == nil, "a GET with a body")
        for (method, path) in [
            (HTTPRequest.Method.get, "/data"), (.get, "/data?prefix=a"), (.post, "/data/k"), (.options, "/data/k"), (.get, "/state"),
            (.post, "/txn"), (.get, "/set"), (.post, "/set/x"), (.get, "/dataX/k"), (.get, "/watch"), (.post, "/op/pause"),
        ] {
            #expect(route(head(method, path)) == nil, "\(method) \(path)")
        }
        #expect(FastPathRoute.closesConnection(head(.get, "/data/k", [.connection: "Close"])))
        #expect(!FastPathRoute.closesConnection(head(.get, "/data/k", [.connection: "keep-alive"])))
    }
}

@Suite struct FastPathStateTests {
    @Test func requestsAreAnsweredOneAtATimeAndLaterPartsWait() {
        var state = FastPathConnectionState()
        let step1 = state.head(isFast: true, closesConnection: false)
        #expect(step1 == .collect)
        let step2 = state.bodyOrEnd(isEnd: false)
        #expect(step2 == .collect)
        #expect(!state.isHolding, "the request's own parts are read")
        let step3 = state.bodyOrEnd(isEnd: true)
        #expect(step3 == .answer)
        #expect(state.isHolding, "a pipelined request waits for the answer")
        let step4 = state.head(isFast: false, closesConnection: false)
        #expect(step4 == .hold)
        let step5 = state.passThroughResponseEnded()
        #expect(step5 == false, "no Hummingbird response is due")
        let step6 = state.fastAnswerWritten()
        #expect(step6 == .resume)
        #expect(state.state == .idle)

        let step7 = state.head(isFast: false, closesConnection: false)
        #expect(step7 == .forward)
        let step8 = state.bodyOrEnd(isEnd: true)
        #expect(step8 == .forward)
        #expect(state.isHolding, "Hummingbird answers it; later requests wait for that answer's end")
        let step9 = state.fastAnswerWritten()
        #expect(step9 == .none, "no fast answer is due")
        let step10 = state.passThroughResponseEnded()
        #expect(step10)
        #expect(state.state == .idle)
    }

    @Test func anEarlyPassThroughAnswerStillLetsTheBodyThrough() {
        var state = FastPathConnectionState()
        let step11 = state.head(isFast: false, closesConnection: false)
        #expect(step11 == .forward)
        let step12 = state.passThroughResponseEnded()
        #expect(step12 == false, "a 413 before the body was read")
        #expect(!state.isHolding)
        let step13 = state.bodyOrEnd(isEnd: false)
        #expect(step13 == .forward, "Hummingbird drains the rest")
        let step14 = state.bodyOrEnd(isEnd: true)
        #expect(step14 == .forward)
        #expect(state.state == .idle)
    }

    @Test func connectionCloseEndsTheConnectionAfterItsAnswer() {
        var fast = FastPathConnectionState()
        _ = fast.head(isFast: true, closesConnection: true)
        let step15 = fast.bodyOrEnd(isEnd: true)
        #expect(step15 == .answer)
        let step16 = fast.fastAnswerWritten()
        #expect(step16 == .close)
        let step17 = fast.head(isFast: true, closesConnection: false)
        #expect(step17 == .drop)

        var passing = FastPathConnectionState()
        _ = passing.head(isFast: false, closesConnection: true)
        _ = passing.bodyOrEnd(isEnd: true)
        let step18 = passing.passThroughResponseEnded()
        #expect(step18)
        let step19 = passing.head(isFast: false, closesConnection: false)
        #expect(step19 == .drop, "Hummingbird's loop stopped too")
    }

    @Test func brokenOrderAndAbandonedRequestsAreHandled() {
        var state = FastPathConnectionState()
        _ = state.head(isFast: true, closesConnection: false)
        let step20 = state.head(isFast: true, closesConnection: false)
        #expect(step20 == .close, "a head inside a request")
        var abandoned = FastPathConnectionState()
        _ = abandoned.head(isFast: true, closesConnection: false)
        let step21 = abandoned.abandonIncompleteFastRequest()
        #expect(step21)
        #expect(abandoned.state == .idle)
        let again = abandoned.abandonIncompleteFastRequest()
        #expect(!again)
        abandoned.channelClosed()
        let step22 = abandoned.head(isFast: true, closesConnection: false)
        #expect(step22 == .drop)
        var fresh = FastPathConnectionState()
        let freshEnded = fresh.passThroughResponseEnded()
        #expect(freshEnded == false)
    }

    @Test func theDateHeaderIsAnIMFFixdate() {
        #expect(HTTPDateHeader.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDateHeader.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDateHeader().current().hasSuffix(" GMT"))
    }
}

@Suite(.serialized) struct HTTPFastPathTests {
    private static func options(fastPath: Bool) -> HTTPOptions {
        var options = HTTPOptions()
        options.isFastPathEnabled = fastPath
        options.valueBytesMax = 64
        options.jsonBodyBytesMax = 256
        options.keyBytesMax = 32
        return options
    }

    /// A request probing one rule, and the headers a client sends with it.
    private typealias Probe = (name: String, method: String, target: String, body: String?, headers: [(String, String)])

    private static let probes: [Probe] = {
        let write = ("Authorization", "Bearer \(HTTPTokenTests.writeToken)")
        let read = ("Authorization", "Bearer \(HTTPTokenTests.readToken)")
        return [
            ("put", "PUT", "/data/k", "v1", [write]),
            ("get", "GET", "/data/k", nil, [read]),
            ("head", "HEAD", "/data/k", nil, [read]),
            ("get missing", "GET", "/data/none", nil, [read]),
            ("conditional put", "PUT", "/data/k?prevValue=v1", "v2", [write]),
            ("failed condition", "PUT", "/data/k?prevValue=zz", "v3", [write]),
            ("set", "POST", "/set", #"{"key": "s", "value": "x"}"#, [write]),
            ("set bad JSON", "POST", "/set", #"{"key": 1}"#, [write]),
            ("set as text", "POST", "/set", #"{"key": "s", "value": "x"}"#, [write, ("Content-Type", "text/plain")]),
            ("set value too large", "POST", "/set", #"{"key": "s", "value": "\#(String(repeating: "x", count: 65))"}"#, [write]),
            ("delete", "DELETE", "/data/k", nil, [write]),
            ("wrong host", "GET", "/data/k", nil, [read, ("Host", "evil.example:80")]),
            ("foreign origin", "PUT", "/data/k", "v", [write, ("Origin", "http://evil.example")]),
            ("foreign origin read", "GET", "/data/s", nil, [read, ("Origin", "http://evil.example")]),
            ("no token", "PUT", "/data/k", "v", []),
            ("unknown token", "GET", "/data/k", nil, [("Authorization", "Bearer nobody-0123456789abcdef")]),
            ("read token writes", "DELETE", "/data/k", nil, [read]),
            ("value too large", "PUT", "/data/k", String(repeating: "v", count: 65), [write]),
            ("value at the bound", "PUT", "/data/k", String(repeating: "v", count: 64), [write]),
            ("empty key", "GET", "/data/", nil, [read]),
            ("long key", "PUT", "/data/\(String(repeating: "k", count: 33))", "v", [write]),
            ("bad percent", "GET", "/data/%zz", nil, [read]),
            ("bad timeout", "PUT", "/data/k?timeoutMs=0", "v", [write]),
            ("bad consistency", "GET", "/data/k?consistency=maybe", nil, [read]),
            ("bad revision", "GET", "/data/k?revision=-1", nil, [read]),
            ("wrong method", "POST", "/data/k", "v", [write]),
        ]
    }()

    /// Every probe's answer on a fresh server: status, error code, body and headers (but `Date`).
    private static func answers(fastPath: Bool) async throws -> [String] {
        let service = FakeNodeService()
        let security = HTTPSecurity(tokens: try HTTPTokenTests.tokens())
        let collected = Mutex<[String]>([])
        try await withHTTPServer(service, options: options(fastPath: fastPath), security: security) { client in
            for probe in probes {
                let response = try await client.request(
                    probe.method, probe.target, body: probe.body.map { Array($0.utf8) }, headers: probe.headers)
                let headers = response.headers.filter { $0.name.lowercased() != "date" }
                    .map { "\($0.name.lowercased()): \($0.value)" }.sorted()
                let line = "\(probe.name): \(response.status) \(response.errorCode ?? "-") \(headers) \(response.text)"
                collected.withLock { $0.append(line) }
            }
        }
        return collected.withLock { $0 }
    }

    @Test func bothPathsGiveTheSameAnswerToEveryRule() async throws {
        let fast = try await Self.answers(fastPath: true)
        let hummingbird = try await Self.answers(fastPath: false)
        #expect(fast.count == Self.probes.count)
        for (fastAnswer, reference) in zip(fast, hummingbird) {
            #expect(fastAnswer == reference)
        }
        // The rules were exercised, not only matched: spot-check what they said.
        let statuses = fast.map { $0.split(separator: " ").dropFirst().first { Int($0) != nil }.map(String.init) ?? "" }
        #expect(statuses == [
            "200", "200", "200", "404", "200", "412", "200", "400", "415", "413", "200", "421", "403", "200", "401", "401", "403",
            "413", "200", "400", "400", "400", "400", "400", "400", "405",
        ], "\(fast.joined(separator: "\n"))")
    }

    @Test func pipelinedAnswersLeaveInRequestOrderAcrossBothPaths() async throws {
        let service = FakeNodeService()
        // Every write waits, so an answer out of order would overtake it.
        await service.setWriteDelay(.milliseconds(50))
        try await withHTTPServer(service, options: Self.options(fastPath: true)) { client in
            let chunked = Array("PUT /data/c HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nv1\r\n0\r\n\r\n".utf8)
            let requests: [[UInt8]] = [
                rawRequest("PUT", "/data/a", body: Array("1".utf8), headers: [("Content-Type", "text/plain")]),  // fast
                rawRequest("GET", "/health"),  // Hummingbird
                rawRequest("GET", "/data/a"),  // fast: sees the write before it
                chunked,  // Hummingbird: a chunked body
                rawRequest("GET", "/data/c"),  // fast: sees that write
                rawRequest("PUT", "/data/big", body: Array(repeating: UInt8(ascii: "v"), count: 65), headers: [("Content-Type", "x/y")]),
                rawRequest("POST", "/set", body: Array(#"{"key": "a", "delete": true}"#.utf8)),  // fast
                rawRequest("HEAD", "/data/c"),  // fast
                rawRequest("GET", "/data?prefix="),  // Hummingbird: the list
                rawRequest("GET", "/data/a"),  // fast: deleted
            ]
            let responses = try await client.pipeline(requests)
            #expect(responses.map(\.status) == [200, 200, 200, 200, 200, 413, 200, 200, 200, 404])
            guard responses.count == requests.count else { return }
            #expect(responses[2].text == "1")
            #expect(responses[4].text == "v1")
            #expect(responses[5].errorCode == "value_too_large", "refused early, its body drained: the next request still parses")
            #expect(responses[7].header("Content-Length") == "2")
            let items = responses[8].json?["items"] as? [[String: Any]]
            #expect(items?.compactMap { $0["key"] as? String } == ["c"])
        }
        let writes = await service.calls.compactMap { call -> String? in
            guard case .write(let write) = call else { return nil }
            return write.key
        }
        #expect(writes == ["a", "c", "a"], "the refused value never reached the node")
    }

    @Test func aHalfCloseAfterTheRequestsStillGetsEveryAnswer() async throws {
        let service = FakeNodeService()
        await service.setWriteDelay(.milliseconds(100))
        try await withHTTPServer(service, options: Self.options(fastPath: true)) { client in
            let requests = [
                rawRequest("PUT", "/data/h", body: Array("x".utf8), headers: [("Content-Type", "text/plain")]),
                rawRequest("GET", "/health"),
                rawRequest("GET", "/data/h"),
            ]
            let responses = try await client.pipeline(requests, halfClose: true)
            #expect(responses.map(\.status) == [200, 200, 200])
            #expect(responses.last?.text == "x")
        }
    }

    @Test func connectionCloseEndsTheConnectionAfterTheAnswer() async throws {
        try await withHTTPServer(FakeNodeService(), options: Self.options(fastPath: true)) { client in
            let requests = [
                rawRequest("PUT", "/data/k", body: Array("x".utf8), headers: [("Connection", "close"), ("Content-Type", "x/y")]),
                rawRequest("GET", "/data/k"),
            ]
            let responses = try await client.pipeline(requests)
            #expect(responses.map(\.status) == [200], "the second request is never answered; the server closed")
        }
    }

    @Test func aClientThatLeavesMidRequestOrMidAnswerLeavesNothingBehind() async throws {
        let service = FakeNodeService()
        await service.setWriteDelay(.milliseconds(200))
        try await withHTTPServer(service, options: Self.options(fastPath: true)) { client in
            // Half a body, then gone; then a whole request whose answer nobody waits for.
            let partial = Array("PUT /data/p HTTP/1.1\r\nHost: 127.0.0.1:\(client.port)\r\nContent-Length: 10\r\n\r\nabc".utf8)
            let whole = rawRequest("PUT", "/data/q", body: Array("q".utf8), headers: [("Host", "127.0.0.1:\(client.port)")])
            for bytes in [partial, whole] {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: client.port).get()
                try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
                try await channel.close().get()
            }
            // The server goes on answering; the abandoned write completes on its own.
            let after = try await client.request("GET", "/data/q")
            #expect([200, 404].contains(after.status))
            try await Task.sleep(for: .milliseconds(300))
            let writes = await service.calls.compactMap { call -> String? in
                guard case .write(let write) = call else { return nil }
                return write.key
            }
            #expect(writes == ["q"], "the half-sent PUT never reached the node; the whole one did")
        }
    }
}
