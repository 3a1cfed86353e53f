import Foundation
import RaftCore
import Testing
import WRaftSupport

@testable import WRaftServer

// The one error mapping, unknown paths and methods, and requests that must not hurt the node.

@Suite struct HTTPErrorTests {
    /// Every `NodeError` case, the status and code it must map to, and its Retry-After.
    static let errorMapping: [(NodeError, Int, String, String?)] = [
        (.badRequest(code: .badKey, message: "m"), 400, "bad_key", nil),
        (.valueTooLarge(bytes: 5, limit: 4), 413, "value_too_large", nil),
        (.notFound(message: "m"), 404, "not_found", nil),
        (.compareFailed(message: "m"), 412, "compare_failed", nil),
        (.clusterConflict(message: "m"), 409, "cluster_conflict", nil),
        (.wrongState(code: .notRunning, message: "m"), 409, "not_running", nil),
        (.noLeader(retryAfterMs: 1_500), 503, "no_leader", "2"),
        (.noLeader(retryAfterMs: 0), 503, "no_leader", "1"),
        (.overloaded(retryAfterMs: 100), 503, "overloaded", "1"),
        (.unknownOutcome(message: "m"), 504, "unknown_outcome", nil),
        (.faultsDisabled, 403, "faults_disabled", nil),
        (.peerUnreachable(message: "m"), 502, "peer_unreachable", nil),
        (.internalError(message: "disk full"), 500, "internal", nil),
    ]

    @Test func everyNodeErrorMapsToOneStatusAndCode() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for (error, status, code, retryAfter) in Self.errorMapping {
                await service.failNext(with: error)
                let response = try await client.request("PUT", "/data/k", body: [1])
                #expect(response.status == status, "\(error)")
                #expect(response.header("content-type") == "application/json", "\(error)")
                #expect(response.header("Retry-After") == retryAfter, "\(error)")
                let json = try #require(response.json, "\(error)")
                #expect(json["error"] as? String == code, "\(error)")
                #expect((json["message"] as? String)?.isEmpty == false, "\(error)")
                #expect(json.count == 2, "\(error)")
            }
        }
    }

    @Test func nodeErrorsReachTheClientWithRetryAfter() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            await service.failNext(with: .noLeader(retryAfterMs: 2_500))
            let noLeader = try await client.request("PUT", "/data/k", body: [1])
            #expect(noLeader.status == 503)
            #expect(noLeader.errorCode == "no_leader")
            #expect(noLeader.header("Retry-After") == "3")
            await service.failNext(with: .overloaded(retryAfterMs: 200))
            let overloaded = try await client.request("GET", "/data/k")
            #expect(overloaded.status == 503)
            #expect(overloaded.header("Retry-After") == "1")
            await service.failNext(with: .unknownOutcome(message: "leader changed"))
            let unknown = try await client.request("DELETE", "/data/k")
            #expect(unknown.status == 504)
            #expect(unknown.errorCode == "unknown_outcome")
            #expect(unknown.header("Retry-After") == nil)
            await service.failNext(with: .internalError(message: "fsync failed"))
            let failed = try await client.request("GET", "/data?prefix=a")
            #expect(failed.status == 500)
            #expect(failed.json?["message"] as? String == "fsync failed")
        }
    }

    @Test func unknownPathsAre404JSON() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            for target in ["/nope", "/state/", "/data2/k", "/op", "/members", "/DATA/k", "//data/k"] {
                let response = try await client.request("GET", target)
                #expect(response.status == 404, "\(target)")
                #expect(response.errorCode == "not_found", "\(target)")
            }
        }
    }

    @Test func wrongMethodsAre405JSONWithAllow() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            let cases: [(String, String, String)] = [
                ("POST", "/data/k", "GET, HEAD, PUT, DELETE"), ("PATCH", "/data/k", "GET, HEAD, PUT, DELETE"),
                ("PUT", "/data", "GET, HEAD"), ("GET", "/set", "POST"), ("GET", "/connect", "POST"),
                ("POST", "/state", "GET, HEAD"), ("DELETE", "/health", "GET, HEAD"), ("GET", "/op/pause", "POST"),
                ("POST", "/", "GET, HEAD"), ("POST", "/log", "GET, HEAD"), ("PUT", "/metrics", "GET, HEAD"),
                ("GET", "/start", "POST"), ("GET", "/members/remove", "POST"), ("HEAD", "/set", "POST"),
            ]
            for (method, target, allow) in cases {
                let response = try await client.request(method, target)
                #expect(response.status == 405, "\(method) \(target)")
                #expect(response.header("Allow") == allow, "\(method) \(target)")
                if method != "HEAD" {
                    #expect(response.errorCode == "method_not_allowed", "\(method) \(target)")
                }
            }
        }
    }

    @Test func headAnswersAsGetWithoutABody() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            for target in ["/state", "/health", "/metrics", "/", "/data"] {
                let get = try await client.request("GET", target)
                let head = try await client.request("HEAD", target)
                #expect(head.status == get.status, "\(target)")
                #expect(head.body.isEmpty, "\(target)")
                #expect(head.header("Content-Type") == get.header("Content-Type"), "\(target)")
            }
            let missing = try await client.request("HEAD", "/data/absent")
            #expect(missing.status == 404)
            #expect(missing.body.isEmpty)
        }
    }

    @Test func optionsListsTheMethodsAndAnswersCORSPreflight() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            let preflight = try await client.request(
                "OPTIONS", "/op/pause", headers: [("Origin", "http://127.0.0.1:8082"), ("Access-Control-Request-Method", "POST")])
            #expect(preflight.status == 204)
            #expect(preflight.header("Allow") == "POST, OPTIONS")
            // A member's page (the fake's second member answers at 127.0.0.1:8082): its origin is
            // reflected, never `*`.
            #expect(preflight.header("Access-Control-Allow-Origin") == "http://127.0.0.1:8082")
            #expect(preflight.header("Vary") == "Origin")
            #expect(preflight.header("Access-Control-Allow-Methods") == "POST, OPTIONS")
            #expect(preflight.header("Access-Control-Allow-Headers") == "Content-Type, Authorization")
            let data = try await client.request("OPTIONS", "/data/k")
            #expect(data.status == 204)
            #expect(data.header("Allow") == "GET, HEAD, PUT, DELETE, OPTIONS")
            #expect(data.header("Access-Control-Allow-Origin") == nil, "writes are not opened to other origins")
            let unknown = try await client.request("OPTIONS", "/nope")
            #expect(unknown.status == 404)
            #expect(unknown.errorCode == "not_found")
        }
    }

    /// Random garbage (paths, queries, methods, bodies) must each get a well-formed answer, and
    /// the node must keep serving. `WRAFT_HTTP_FUZZ_SEEDS` sets the number of seeds (default 3).
    @Test func randomRequestsNeverHurtTheNode() async throws {
        let seedCount = ProcessInfo.processInfo.environment["WRAFT_HTTP_FUZZ_SEEDS"].flatMap { Int($0) } ?? 3
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for seed in 1...UInt64(seedCount) {
                var random = SplitMix64(seed: seed)
                let requests = (0..<40).map { _ in randomRequest(&random) }
                let responses = try await client.exchange(requests.map(\.bytes))
                for (request, response) in zip(requests, responses) {
                    let wellFormed = (200..<600).contains(response.status) && (response.status < 400 || response.method(request.method, hasErrorBody: true))
                    #expect(wellFormed, "seed=\(seed) \(request.summary) -> \(response.status) \(response.text.prefix(80))")
                }
                let status1 = try await client.request("GET", "/health").status
                #expect(status1 == 200, "seed=\(seed)")
            }
        }
    }

    @Test func malformedHTTPIsRefusedAndTheNodeKeepsServing() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            for bytes in [Array("NOT HTTP AT ALL\r\n\r\n".utf8), [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x0D, 0x0A, 0x0D, 0x0A]] {
                let garbage = try await client.send(bytes)
                #expect(garbage.status == 400)
                #expect(garbage.errorCode == "bad_request", "an unparsable request gets the API's JSON error")
                #expect(garbage.header("Connection") == "close")
            }
            let health = try await client.request("GET", "/health")
            #expect(health.status == 200)
        }
    }

    @Test func optionsValidationNamesTheBound() {
        #expect(throws: Never.self) { try HTTPOptions().validate() }
        var options = HTTPOptions()
        options.listLimitDefault = options.listLimitMax + 1
        #expect(throws: HTTPOptionsError.invalid("listLimitDefault must lie in 1...listLimitMax")) { try options.validate() }
        options = HTTPOptions()
        options.jsonBodyBytesMax = options.valueBytesMax - 1
        #expect(throws: HTTPOptionsError.self) { try options.validate() }
        options = HTTPOptions()
        options.defaultTimeoutMs = 0
        #expect(throws: HTTPOptionsError.self) { try options.validate() }
    }
}

struct RandomRequest {
    var method: String
    var bytes: [UInt8]
    var summary: String
}

/// A random request that is valid HTTP/1.1 (so it reaches the API, not the parser) but whose
/// path, query and body are anything: stray `%`, bad UTF-8, wrong types, huge numbers.
private func randomRequest(_ random: inout SplitMix64) -> RandomRequest {
    let methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
    let paths = [
        "/data/", "/data/k", "/data", "/set", "/op/", "/op/delay", "/op/isolate", "/op/transfer", "/op/drop",
        "/connect", "/members/remove", "/log", "/state", "/zz", "/", "/health", "/metrics", "/start",
    ]
    let queryNames = ["prevIndex", "prevValue", "timeoutMs", "consistency", "limit", "prefix", "from", "x"]
    let fragments = ["a", "Z", "0", "9", "%", "%2", "%FF", "%C3%A9", "%00", "+", "/", "-", "1", "-1", "99999999999999999999", "local"]
    func randomText(_ random: inout SplitMix64, maxCount: Int) -> String {
        (0..<Int.random(in: 0...maxCount, using: &random)).map { _ in fragments.randomElement(using: &random) ?? "" }.joined()
    }
    let method = methods.randomElement(using: &random) ?? "GET"
    var target = (paths.randomElement(using: &random) ?? "/") + randomText(&random, maxCount: 4)
    for _ in 0..<Int.random(in: 0...2, using: &random) {
        let name = queryNames.randomElement(using: &random) ?? "x"
        target += (target.contains("?") ? "&" : "?") + "\(name)=\(randomText(&random, maxCount: 4))"
    }
    let jsonish = [
        "{", "}", "\"peers\":", "\"ms\":", "\"rate\":", "\"to\":", "\"key\":", "\"value\":", "\"delete\":", "\"id\":",
        "\"peer\":", "1", "-1", "1e999", "null", "true", "[", "]", ",", "\"x\"", "\"\\u0000\"",
    ]
    var body: [UInt8]?
    if Bool.random(using: &random) {
        body = Array((0..<Int.random(in: 0...12, using: &random)).map { _ in jsonish.randomElement(using: &random) ?? "" }.joined().utf8)
    }
    let summary = "\(method) \(target) body=\(body.map { String(decoding: $0, as: UTF8.self) } ?? "none")"
    return RandomRequest(method: method, bytes: rawRequest(method, target, body: body), summary: summary)
}

extension RawResponse {
    /// True when an error response carries the JSON error shape (HEAD answers have no body).
    fileprivate func method(_ method: String, hasErrorBody: Bool) -> Bool {
        method == "HEAD" || (errorCode != nil && json?["message"] is String)
    }
}
