import Foundation
import Synchronization
import Testing
import WRaftCertificates
import WRaftClient

/// The client side of the trust boundary: bearer tokens, HTTPS against a cluster's CA, client
/// certificates, and list paging with the continuation cursor. Fake servers, no node.
@Suite struct ClientCredentialsTests {
    static let patientTimeoutMs = 60_000

    /// A CA in a fresh folder, with `node.pem` for 127.0.0.1 and `client.pem`.
    static func makeCertificates(_ name: String) throws -> String {
        let directory = ClusterFixture.makeDirectory(name) + "/certs"
        let authority = try CertificateAuthority.make()
        try CertificateFiles.writeAuthority(authority, to: directory)
        try CertificateFiles.writeIssued(
            try authority.issue(name: "node", hosts: [.ipAddress([127, 0, 0, 1]), .dnsName("localhost")]), name: "node",
            to: directory)
        try CertificateFiles.writeIssued(try authority.issue(name: "client", hosts: [.dnsName("client")]), name: "client", to: directory)
        return directory
    }

    static let readAnswer = FakeHTTPSServer.Reply(status: 200, headers: [("X-Raft-Index", "5"), ("X-Raft-Term", "1")], body: Array("v".utf8))

    @Test func theTokenIsSentWithEveryRequestFromTheFlagOrTheEnvironment() async throws {
        let server = try FakeHTTPServer { request in
            request.method == "GET"
                ? .respond(status: 200, headers: [("X-Raft-Index", "3"), ("X-Raft-Term", "1")], body: Array("v".utf8))
                : .respond(status: 200, body: json(#"{"key":"k","index":4,"term":1}"#))
        }
        defer { server.stop() }
        let client = try NodeClient(
            address: try NodeAddress(parsing: server.address), tls: nil, bearerToken: "s3cr3t-Token_1",
            requestTimeoutMs: Self.patientTimeoutMs)
        _ = try await client.get("k")
        try await client.put("k", "v")
        await client.shutDown()
        #expect(server.requests.count == 2)
        #expect(server.requests.allSatisfy { $0.headers["authorization"] == "Bearer s3cr3t-Token_1" })

        let flag = try await CommandRunner.run(["get", "k", "--node", server.address, "--token", "from-flag"])
        #expect(flag.status == 0, "\(flag.standardError)")
        #expect(server.requests.last?.headers["authorization"] == "Bearer from-flag")
        let environment = try await CommandRunner.run(
            ["put", "k", "v", "--node", server.address], environment: ["WRAFT_TOKEN": "from-env"])
        #expect(environment.status == 0, "\(environment.standardError)")
        #expect(server.requests.last?.headers["authorization"] == "Bearer from-env")
        let both = try await CommandRunner.run(
            ["get", "k", "--node", server.address, "--token", "flag-wins"], environment: ["WRAFT_TOKEN": "from-env"])
        #expect(both.status == 0)
        #expect(server.requests.last?.headers["authorization"] == "Bearer flag-wins")
        let none = try await CommandRunner.run(["get", "k", "--node", server.address], environment: ["WRAFT_TOKEN": ""])
        #expect(none.status == 0)
        #expect(server.requests.last?.headers["authorization"] == nil)
    }

    @Test func addressesParseWithOrWithoutAScheme() throws {
        let secure = try NodeAddress(parsing: "https://node1.example.com:8443/")
        #expect(secure == NodeAddress(host: "node1.example.com", port: 8443, isSecure: true))
        #expect(secure.url == "https://node1.example.com:8443")
        #expect(secure.description == "node1.example.com:8443", "the Host header has no scheme")
        #expect(try NodeAddress(parsing: "HTTP://[::1]:9") == NodeAddress(host: "::1", port: 9))
        #expect(try NodeAddress(parsing: "https://[::1]:9").url == "https://[::1]:9")
        for bad in ["https://", "https://:1", "ftp://h:1", "https://user@h:1", "https://h:1/path", "https://h:0"] {
            #expect(throws: WRaftClientError.invalidAddress(bad)) { try NodeAddress(parsing: bad) }
        }
        // TLS files for a plain address are a mistake the caller hears about.
        #expect(throws: WRaftClientError.self) {
            try NodeClient(address: NodeAddress(host: "127.0.0.1", port: 1), tls: ClientTLS(trustedCAFile: "/ca.pem"), bearerToken: nil)
        }
    }

    @Test func aTokenThatCouldSplitAHeaderIsRefusedBeforeAnythingIsSent() async throws {
        let server = try FakeHTTPServer { _ in .respond(status: 200) }
        defer { server.stop() }
        for bad in ["two words", "line\r\nX-Injected: 1", "", String(repeating: "t", count: NodeClient.tokenBytesMax + 1), "é"] {
            #expect(throws: WRaftClientError.self, "\(bad.debugDescription)") {
                try NodeClient(address: try NodeAddress(parsing: server.address), tls: nil, bearerToken: bad)
            }
        }
        let injected = try await CommandRunner.run(["get", "k", "--node", server.address, "--token", "a\r\nX-Evil: 1"])
        #expect(injected.status != 0)
        #expect(injected.standardError.contains("--token"), "\(injected.standardError)")
        #expect(server.requests.isEmpty)
    }

    @Test func httpsTrustsTheClusterCAAndRefusesAnyOtherCertificate() async throws {
        let directory = try Self.makeCertificates("https-client")
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let server = try await FakeHTTPSServer(certificateFile: directory + "/node.pem", keyFile: directory + "/node-key.pem") { _ in
            Self.readAnswer
        }
        let address = try NodeAddress(parsing: "https://\(server.address)")
        #expect(address.isSecure)
        let trusting = try NodeClient(
            address: address, tls: ClientTLS(trustedCAFile: directory + "/ca.pem"), bearerToken: "t",
            requestTimeoutMs: Self.patientTimeoutMs)
        #expect(try await trusting.get("k")?.text == "v")
        await trusting.shutDown()
        #expect(server.requests.first?.headers["authorization"] == "Bearer t")

        // The node's certificate does not chain to this CA: no request may leave.
        let strangerDirectory = try Self.makeCertificates("https-stranger")
        defer { try? FileManager.default.removeItem(atPath: (strangerDirectory as NSString).deletingLastPathComponent) }
        let doubting = try NodeClient(
            address: address, tls: ClientTLS(trustedCAFile: strangerDirectory + "/ca.pem"), bearerToken: "leaked?",
            requestTimeoutMs: Self.patientTimeoutMs)
        let refused = await #expect(throws: WRaftClientError.self) { _ = try await doubting.get("k") }
        #expect(refused?.description.contains("TLS handshake failed") == true, "\(String(describing: refused))")
        #expect(refused?.mayHaveTakenEffect == false, "a refused certificate means the request never left")
        await doubting.shutDown()
        #expect(server.requests.count == 1, "the token never went to a node the CA did not vouch for")

        // Plain HTTP to an HTTPS port fails cleanly too, and the CLI says which file to give.
        let cli = try await CommandRunner.run(
            ["get", "k", "--node", "https://\(server.address)", "--cacert", directory + "/ca.pem"])
        #expect(cli.status == 0, "\(cli.standardError)")
        #expect(cli.standardOutput == "v")
        let wrongCA = try await CommandRunner.run(
            ["get", "k", "--node", "https://\(server.address)", "--cacert", strangerDirectory + "/ca.pem"])
        #expect(wrongCA.status != 0)
        #expect(wrongCA.standardError.contains("TLS handshake failed"), "\(wrongCA.standardError)")
        let missingCA = try await CommandRunner.run(
            ["get", "k", "--node", "https://\(server.address)", "--cacert", directory + "/absent.pem"])
        #expect(missingCA.status != 0)
        #expect(missingCA.standardError.contains("absent.pem"), "\(missingCA.standardError)")
        let caForPlain = try await CommandRunner.run(["get", "k", "--node", server.address, "--cacert", directory + "/ca.pem"])
        #expect(caForPlain.status != 0)
        #expect(caForPlain.standardError.contains("https://"))
        await server.stop()
    }

    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let directory = try Self.makeCertificates("https-wrong-host")
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        // `client.pem` is from the right CA but names only the host `client`, not 127.0.0.1.
        let server = try await FakeHTTPSServer(certificateFile: directory + "/client.pem", keyFile: directory + "/client-key.pem") { _ in
            Self.readAnswer
        }
        let client = try NodeClient(
            address: try NodeAddress(parsing: "https://\(server.address)"), tls: ClientTLS(trustedCAFile: directory + "/ca.pem"),
            bearerToken: nil, requestTimeoutMs: Self.patientTimeoutMs)
        await #expect(throws: WRaftClientError.self) { _ = try await client.get("k") }
        await client.shutDown()
        #expect(server.requests.isEmpty)
        await server.stop()
    }

    @Test func aClientCertificateIsPresentedWhenTheNodeAsksForOne() async throws {
        let directory = try Self.makeCertificates("https-client-cert")
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let server = try await FakeHTTPSServer(
            certificateFile: directory + "/node.pem", keyFile: directory + "/node-key.pem", clientCAFile: directory + "/ca.pem"
        ) { _ in Self.readAnswer }
        let node = "https://\(server.address)"
        let anonymous = try await CommandRunner.run(["get", "k", "--node", node, "--cacert", directory + "/ca.pem"])
        #expect(anonymous.status != 0)
        #expect(server.requests.isEmpty)
        let presented = try await CommandRunner.run([
            "get", "k", "--node", node, "--cacert", directory + "/ca.pem", "--cert", directory + "/client.pem", "--key",
            directory + "/client-key.pem",
        ])
        #expect(presented.status == 0, "\(presented.standardError)")
        #expect(server.requests.count == 1)
        let halfPair = try await CommandRunner.run(["get", "k", "--node", node, "--cert", directory + "/client.pem"])
        #expect(halfPair.status != 0)
        #expect(halfPair.standardError.contains("--cert and --key"))
        await server.stop()
    }

    @Test func theTLSProbeTellsAMemberFromAStrangerAndFromPlaintext() async throws {
        let directory = try Self.makeCertificates("probe")
        let stranger = try Self.makeCertificates("probe-stranger")
        defer {
            try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent)
            try? FileManager.default.removeItem(atPath: (stranger as NSString).deletingLastPathComponent)
        }
        let server = try await FakeHTTPSServer(
            certificateFile: directory + "/node.pem", keyFile: directory + "/node-key.pem", clientCAFile: directory + "/ca.pem"
        ) { _ in Self.readAnswer }
        let member = await TLSProbe.handshake(
            host: "127.0.0.1", port: server.port, certificateFile: directory + "/client.pem",
            keyFile: directory + "/client-key.pem", trustedCAFile: directory + "/ca.pem")
        #expect(throws: Never.self) { try member.get() }
        let intruder = await TLSProbe.handshake(
            host: "127.0.0.1", port: server.port, certificateFile: stranger + "/client.pem", keyFile: stranger + "/client-key.pem",
            trustedCAFile: directory + "/ca.pem")
        #expect(throws: (any Error).self, "the server refuses a certificate from another CA") { try intruder.get() }
        await server.stop()
        let plaintext = try FakeHTTPServer { _ in .respond(status: 200) }
        defer { plaintext.stop() }
        let plain = await TLSProbe.handshake(
            host: "127.0.0.1", port: plaintext.port, certificateFile: directory + "/client.pem",
            keyFile: directory + "/client-key.pem", trustedCAFile: directory + "/ca.pem", timeoutMs: 2_000)
        #expect(throws: (any Error).self, "a plaintext port is no TLS port") { try plain.get() }
    }

    /// A fake node holding keys k00...k(count-1) that pages them `limit` at a time with an opaque cursor.
    static func pagingServer(count: Int, cursor: @escaping @Sendable (_ lastIndex: Int) -> String?) throws -> FakeHTTPServer {
        try FakeHTTPServer { request in
            let components = URLComponents(string: "http://x" + request.target)
            let query = Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { first, _ in first }
            let limit = Int(query["limit"] ?? "") ?? 100
            let start = query["cursor"].flatMap { Int($0.dropFirst("after-".count)) }.map { $0 + 1 } ?? 0
            let end = min(count, start + limit)
            let items = (start..<max(start, end)).map { index in
                #"{"key":"k\#(String(format: "%02d", index))","value":"v\#(index)","index":\#(index + 1)}"#
            }
            let more = end < count
            let next = more ? cursor(end - 1).map { #","next":"\#($0)""# } ?? "" : ""
            return .respond(status: 200, body: json(#"{"items":[\#(items.joined(separator: ","))],"more":\#(more)\#(next)}"#))
        }
    }

    @Test func listAllFollowsTheCursorUntilEveryKeyIsPrinted() async throws {
        let server = try Self.pagingServer(count: 7) { last in "after-\(last)" }
        defer { server.stop() }
        let all = try await CommandRunner.run(["list", "--all", "--limit", "3", "--node", server.address])
        #expect(all.status == 0, "\(all.standardError)")
        let lines = all.standardOutput.split(separator: "\n")
        #expect(lines.map(String.init) == (0..<7).map { "k0\($0) = v\($0)  (index \($0 + 1))" })
        let targets = server.requests.map(\.target)
        #expect(targets.count == 3)
        #expect(targets.count == 3 && !targets[0].contains("cursor="))
        #expect(targets.count == 3 && targets[1].contains("cursor=after-2") && targets[2].contains("cursor=after-5"))

        let onePage = try await CommandRunner.run(["list", "--limit", "3", "--node", server.address])
        #expect(onePage.status == 0)
        #expect(onePage.standardOutput.contains("k02 = v2"))
        #expect(!onePage.standardOutput.contains("k03"))
        #expect(onePage.standardOutput.contains("use --all"))
    }

    @Test func listAllStopsOnACursorThatDoesNotAdvanceOrIsMissing() async throws {
        let stuck = try Self.pagingServer(count: 10) { _ in "after-1" }
        defer { stuck.stop() }
        let looping = try await CommandRunner.run(["list", "--all", "--limit", "2", "--node", stuck.address])
        #expect(looping.status != 0)
        #expect(looping.standardError.contains("same list cursor twice"), "\(looping.standardError)")
        #expect(stuck.requests.count <= 3)

        let old = try Self.pagingServer(count: 10) { _ in nil }
        defer { old.stop() }
        let noCursor = try await CommandRunner.run(["list", "--all", "--limit", "2", "--node", old.address])
        #expect(noCursor.status == 0)
        #expect(noCursor.standardOutput.contains("gives no continuation cursor"))
        #expect(old.requests.count == 1)
    }
}
