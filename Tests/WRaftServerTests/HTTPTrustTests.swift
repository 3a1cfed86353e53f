import Foundation
import RaftCore
import Testing

@testable import WRaftServer

// The trust boundary of the HTTP port (issue 8): client numbers are range-checked, browser pages
// cannot drive a node (Content-Type, Origin, Host), bearer tokens with roles.

@Suite struct HTTPNumberTests {
    /// Finding 1: `GET /log?from=2^64-1` trapped the node (`from + limit` overflowed).
    @Test func logFromAtTheTopOfUInt64IsABadRequestNamingTheParameter() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for from in ["18446744073709551615", "9223372036854775808", "18446744073709551616", "-1"] {
                let response = try await client.request("GET", "/log?from=\(from)")
                #expect(response.status == 400, "from=\(from): \(response.text)")
                #expect(response.errorCode == "bad_request")
                #expect((response.json?["message"] as? String)?.hasPrefix("from must be") == true, "\(response.text)")
            }
            let highest = try await client.request("GET", "/log?from=\(HTTPOptions.logIndexMax)&limit=1000")
            #expect(highest.status == 200, "the largest index allowed is answered: \(highest.text)")
            #expect(await service.calls == [.log(from: LogIndex(HTTPOptions.logIndexMax), limit: 1_000)])
        }
    }

    @Test func everyClientIndexAndNumberIsRangeChecked() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let query = try await client.request("PUT", "/data/k?prevIndex=18446744073709551615", body: Array("v".utf8))
            #expect(query.status == 400 && query.text.contains("prevIndex"), "\(query.text)")
            let set = try await client.request(
                "POST", "/set", body: Array(#"{"key": "k", "value": "v", "prevIndex": 18446744073709551615}"#.utf8))
            #expect(set.status == 400 && set.text.contains("prevIndex"), "\(set.text)")
            let hugeMs = try await client.request("POST", "/op/delay", body: Array(#"{"ms": 99999999999999999999999}"#.utf8))
            #expect(hugeMs.status == 400 && hugeMs.text.contains("ms"), "\(hugeMs.text)")
            let jitter = try await client.request("POST", "/op/delay", body: Array(#"{"ms": 1, "jitterMs": 1e300}"#.utf8))
            #expect(jitter.status == 400 && jitter.text.contains("jitterMs"), "\(jitter.text)")
            let rate = try await client.request("POST", "/op/drop", body: Array(#"{"rate": 1e999}"#.utf8))
            #expect(rate.status == 400, "\(rate.text)")
            for target in ["/log?limit=9223372036854775807", "/data?limit=99999999999999999999", "/data/k?timeoutMs=9223372036854775807"] {
                let response = try await client.request("GET", target)
                #expect(response.status == 400, "\(target): \(response.text)")
            }
            #expect(await service.calls.isEmpty, "no refused request reached the node")
        }
    }

    @Test func quotaExceededIs507AndDeletesStillGoThrough() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            await service.failNext(with: .quotaExceeded(bytes: 3 << 30, limit: 2 << 30))
            let put = try await client.request("PUT", "/data/k", body: Array("v".utf8))
            #expect(put.status == 507)
            #expect(put.errorCode == "quota_exceeded")
            let delete = try await client.request("DELETE", "/data/k")
            #expect(delete.status == 200)
        }
    }
}

@Suite struct HTTPBrowserSafetyTests {
    /// Finding 4: a page's `text/plain` or form POST needs no CORS preflight; JSON endpoints now
    /// refuse it before reading it.
    @Test func jsonEndpointsRefuseBodiesThatDoNotSayJSON() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let attempts: [(String, String, String)] = [
                ("/set", "text/plain", #"{"key": "k", "value": "v"}"#),
                ("/set", "application/x-www-form-urlencoded", "key=k&value=v"),
                ("/connect", "text/plain;charset=UTF-8", #"{"peer": "127.0.0.1:9"}"#),
                ("/members/remove", "multipart/form-data; boundary=x", #"{"id": "bb"}"#),
                ("/op/isolate", "text/plain", "{}"),
                ("/start", "text/plain", ""),
            ]
            for (path, type, body) in attempts {
                let response = try await client.request("POST", path, body: Array(body.utf8), headers: [("Content-Type", type)])
                #expect(response.status == 415, "\(path) as \(type): \(response.status) \(response.text)")
                #expect(response.errorCode == "unsupported_media_type")
            }
            var noType = rawRequest("POST", "/set", body: Array(#"{"key": "k", "value": "v"}"#.utf8))
            noType = Array(String(decoding: noType, as: UTF8.self).replacingOccurrences(of: "Content-Type: application/json\r\n", with: "").utf8)
            let untyped = try await client.send(noType)
            #expect(untyped.status == 415, "a JSON body without Content-Type: \(untyped.text)")
            #expect(await service.calls.isEmpty, "nothing reached the node")

            let start = try await client.request("POST", "/start")
            #expect(start.status == 200, "a bodiless POST needs no Content-Type: \(start.text)")
            let charset = try await client.request(
                "POST", "/set", body: Array(#"{"key": "k", "value": "v"}"#.utf8),
                headers: [("Content-Type", "Application/JSON; charset=utf-8")])
            #expect(charset.status == 200, "\(charset.text)")
            let raw = try await client.request("PUT", "/data/k", body: Array("v".utf8), headers: [("Content-Type", "text/plain")])
            #expect(raw.status == 200, "a raw value may be of any type: \(raw.text)")
        }
    }

    @Test func stateChangingRequestsFromForeignOriginsAreRefused() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for (method, path, body) in [
                ("POST", "/set", #"{"key": "k", "value": "v"}"#), ("PUT", "/data/k", "v"), ("DELETE", "/data/k", ""),
                ("POST", "/op/pause", ""), ("POST", "/connect", #"{"peer": "127.0.0.1:9"}"#), ("POST", "/start", ""),
                ("OPTIONS", "/op/pause", ""),
            ] {
                for origin in ["http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8082"] {
                    let response = try await client.request(
                        method, path, body: body.isEmpty ? nil : Array(body.utf8), headers: [("Origin", origin)])
                    #expect(response.status == 403, "\(method) \(path) from \(origin): \(response.status) \(response.text)")
                    #expect(response.errorCode == "forbidden_origin")
                    #expect(response.header("Access-Control-Allow-Origin") == nil)
                }
            }
            #expect(await service.calls.isEmpty, "nothing reached the node")
        }
    }

    @Test func membersConfiguredAndSameOriginPagesMayChangeStateAndSeeTheAnswer() async throws {
        let service = FakeNodeService()
        var security = HTTPSecurity()
        security.corsAllowedOrigins = ["https://ops.example.com/"]
        try await withHTTPServer(service, security: security) { client in
            let allowed = [
                "http://127.0.0.1:8082", "http://localhost:8082", "http://[::1]:8081", "https://ops.example.com",
                "http://127.0.0.1:\(client.port)", "http://localhost:\(client.port)",
            ]
            for origin in allowed {
                let host = origin.hasPrefix("http://localhost:\(client.port)") ? "localhost:\(client.port)" : "127.0.0.1:\(client.port)"
                let response = try await client.request(
                    "POST", "/set", body: Array(#"{"key": "k", "value": "v"}"#.utf8), headers: [("Origin", origin), ("Host", host)])
                #expect(response.status == 200, "from \(origin): \(response.text)")
                #expect(response.header("Access-Control-Allow-Origin") == origin)
                #expect(response.header("Vary") == "Origin")
            }
        }
    }

    @Test func noAnswerOpensToAnyOriginAndForeignReadsAreNotShared() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            for path in ["/state", "/health", "/log", "/data/k", "/data", "/metrics", "/op/pause", "/"] {
                let plain = try await client.request("GET", path)
                #expect(plain.header("Access-Control-Allow-Origin") == nil, "\(path)")
                let foreign = try await client.request("GET", path, headers: [("Origin", "http://evil.example")])
                #expect(foreign.header("Access-Control-Allow-Origin") == nil, "\(path) from a foreign page")
                #expect(foreign.header("Vary") == "Origin")
            }
            let member = try await client.request("GET", "/state", headers: [("Origin", "http://127.0.0.1:8082")])
            #expect(member.status == 200)
            #expect(member.header("Access-Control-Allow-Origin") == "http://127.0.0.1:8082")
        }
    }

    /// DNS rebinding: a page at `evil.example` whose name now resolves to 127.0.0.1 sends
    /// `Host: evil.example:PORT`.
    @Test func hostMustNameTheNodeAtItsPort() async throws {
        let service = FakeNodeService()
        var security = HTTPSecurity()
        security.hostAllowlist = ["wraft.internal", "proxy.example:443"]
        try await withHTTPServer(service, security: security) { client in
            let port = client.port
            for host in [
                "evil.example:\(port)", "evil.example", "127.0.0.1:\(port + 1)", "127.0.0.1", "localhost",
                "0.0.0.0:\(port)", "127.0.0.1.evil.example:\(port)", "proxy.example:\(port)", "[::1", "127.0.0.1:\(port)@evil",
            ] {
                // `host`, lowercase: the test connection leaves it as is (it adds its port to `Host: 127.0.0.1`).
                let response = try await client.request(
                    "POST", "/set", body: Array(#"{"key": "k", "value": "v"}"#.utf8), headers: [("host", host)])
                #expect(response.status == 421, "Host \(host): \(response.status) \(response.text)")
                #expect(response.errorCode == "misdirected_request")
            }
            #expect(await service.calls.isEmpty, "nothing reached the node")
            for host in [
                "127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST:\(port)", "[::1]:\(port)", "wraft.internal:\(port)",
                "proxy.example:443",
            ] {
                let response = try await client.request("GET", "/state", headers: [("Host", host)])
                #expect(response.status == 200, "Host \(host): \(response.status) \(response.text)")
            }
        }
    }
}

@Suite struct HTTPTokenTests {
    static let adminToken = "admin-0123456789abcdef"
    static let writeToken = "write-0123456789abcdef"
    static let readToken = "read-0123456789abcdef="

    static func tokens() throws -> AuthTokens {
        try AuthTokens(
            parsing: """
                # operators
                \(adminToken) admin

                \(writeToken)\twrite
                  \(readToken)   read
                """, source: "tokens.txt")
    }

    @Test func malformedTokenFilesAreRefusedNamingTheLine() throws {
        let cases: [(String, String)] = [
            ("# only comments\n\n", "no TOKEN ROLE line"),
            ("good-token-0123456789 admin\nlonely-token-0123456789\n", "line 2"),
            ("good-token-0123456789 admin\n\nshort read\n", "line 3"),
            ("good-token-0123456789 superuser\n", "line 1: the role"),
            ("good-token-0123456789 read\ngood-token-0123456789 admin\n", "line 2: the token appears twice"),
            ("bad\"token\"0123456789 read\n", "line 1"),
            ("a-token-0123456789 read extra\n", "line 1"),
        ]
        for (text, expected) in cases {
            let error = #expect(throws: AuthTokenFileError.self) { try AuthTokens(parsing: text, source: "tokens.txt") }
            #expect(error?.description.contains(expected) == true, "\(error?.description ?? "accepted"): wanted \(expected)")
        }
        let parsed = try Self.tokens()
        #expect(parsed.role(of: Array(Self.adminToken.utf8)) == .admin)
        #expect(parsed.role(of: Array(Self.writeToken.utf8)) == .write)
        #expect(parsed.role(of: Array(Self.readToken.utf8)) == .read)
        #expect(parsed.role(of: Array(Self.readToken.dropLast().utf8)) == nil)
        #expect(parsed.role(of: Array((Self.readToken + "x").utf8)) == nil)
        #expect(parsed.role(of: [UInt8]()) == nil)
    }

    @Test func constantTimeEqualsIsEquality() {
        let known = Array("abcdefgh".utf8)
        #expect(AuthTokens.constantTimeEquals(known, known))
        #expect(!AuthTokens.constantTimeEquals(Array("abcdefgx".utf8), known))
        #expect(!AuthTokens.constantTimeEquals(Array("abcdefghabcdefgh".utf8), known), "a repetition is not the token")
        #expect(!AuthTokens.constantTimeEquals(Array("abcd".utf8), known))
        #expect(!AuthTokens.constantTimeEquals([], known))
    }

    @Test func everyEndpointButHealthNeedsATokenOfTheRightRole() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service, security: HTTPSecurity(tokens: try Self.tokens())) { client in
            func call(_ method: String, _ path: String, _ body: String? = nil, token: String?) async throws -> RawResponse {
                let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
                return try await client.request(method, path, body: body.map { Array($0.utf8) }, headers: headers)
            }
            let open = try await call("GET", "/health", token: nil)
            #expect(open.status == 200)
            let page = try await call("GET", "/", token: nil)
            #expect(page.status == 200, "the dashboard page holds no data")
            let preflight = try await client.request(
                "OPTIONS", "/state", headers: [("Origin", "http://127.0.0.1:8082"), ("Access-Control-Request-Headers", "authorization")])
            #expect(preflight.status == 204, "browsers send preflights without credentials")

            let requests: [(String, String, String?, AccessRole)] = [
                ("GET", "/state", nil, .read), ("GET", "/log", nil, .read), ("GET", "/metrics", nil, .read),
                ("GET", "/data/k?consistency=local", nil, .read), ("GET", "/data", nil, .read), ("GET", "/nope", nil, .read),
                ("PUT", "/data/k", "v", .write), ("DELETE", "/data/k", nil, .write),
                ("POST", "/set", #"{"key": "k", "value": "v"}"#, .write),
                ("POST", "/start", nil, .admin), ("POST", "/op/heal", nil, .admin),
                ("POST", "/members/remove", #"{"id": "bb"}"#, .admin), ("POST", "/connect", #"{"peer": "127.0.0.1:9"}"#, .admin),
            ]
            for (method, path, body, needed) in requests {
                for token in [nil, "unknown-0123456789abcdef", Self.adminToken + "x"] {
                    let response = try await call(method, path, body, token: token)
                    #expect(response.status == 401, "\(method) \(path) with \(token ?? "no token"): \(response.text)")
                    #expect(response.errorCode == "unauthenticated")
                    #expect(response.header("WWW-Authenticate") == "Bearer")
                }
                let basic = try await client.request(
                    method, path, body: body.map { Array($0.utf8) }, headers: [("Authorization", "Basic \(Self.adminToken)")])
                #expect(basic.status == 401, "only Bearer: \(basic.text)")
                for (token, role) in [(Self.readToken, AccessRole.read), (Self.writeToken, .write), (Self.adminToken, .admin)] {
                    let response = try await call(method, path, body, token: token)
                    if role >= needed {
                        #expect(![401, 403].contains(response.status), "\(method) \(path) as \(role): \(response.text)")
                    } else {
                        #expect(response.status == 403, "\(method) \(path) as \(role): \(response.text)")
                        #expect(response.errorCode == "forbidden")
                    }
                }
            }
            let lowercase = try await client.request("GET", "/state", headers: [("Authorization", "bearer \(Self.readToken)")])
            #expect(lowercase.status == 200, "the scheme is case-insensitive")
        }
    }
}

@Suite struct HTTPDashboardTrustTests {
    /// The dashboard drives other members from its own page: its calls must pass the rules above
    /// (JSON said as JSON, so cross-origin calls are preflighted; the token on every call).
    @Test func theDashboardsCallsPassTheBrowserRules() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            let page = try await client.request("GET", "/").text
            let fetches = page.components(separatedBy: "fetch(").count - 1
            let wrapped = page.components(separatedBy: "fetchWithTimeout(").count - 1
            let withToken = page.components(separatedBy: "headers: authHeaders(").count - 1
            // Two raw fetches: fetchWithTimeout's, and the event streams' (which must not time out
            // as a whole); both take their headers from authHeaders, which adds the token.
            #expect(fetches == 2 && withToken == 2 && wrapped >= 5, "every call carries the token: \(fetches) raw fetch, \(withToken) with authHeaders, \(wrapped) wrapped")
            #expect(page.contains(#"headers["Authorization"] = "Bearer " + token"#))
            #expect(page.contains("sessionStorage.setItem(TOKEN_KEY"), "the token is kept for the tab only")
            #expect(page.contains(#"headers: { "Content-Type": "application/json" }"#), "POSTs say JSON")
            #expect(page.contains(#"location.protocol === "https:""#), "other members under the page's scheme")
            #expect(!page.contains(#"return "http://" + host"#))
        }
    }

    /// The dashboard's cross-member calls as a browser makes them: the preflight of a POST with
    /// JSON and a token, then the POST, from another member's page.
    @Test func aMembersPageDrivesThisNodeThroughAPreflight() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service, security: HTTPSecurity(tokens: try HTTPTokenTests.tokens())) { client in
            let origin = ("Origin", "http://127.0.0.1:8082")
            let preflight = try await client.request(
                "OPTIONS", "/op/pause",
                headers: [origin, ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization,content-type")])
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == "http://127.0.0.1:8082")
            #expect(preflight.header("Access-Control-Allow-Headers")?.contains("Authorization") == true)
            #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
            let pause = try await client.request(
                "POST", "/op/pause", body: Array("{}".utf8), headers: [origin, ("Authorization", "Bearer \(HTTPTokenTests.adminToken)")])
            #expect(pause.status == 200, "\(pause.text)")
            #expect(pause.header("Access-Control-Allow-Origin") == "http://127.0.0.1:8082")
            #expect(await service.calls == [.inject(.pause)])
        }
    }
}
