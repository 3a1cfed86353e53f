import Foundation
import Testing
import WRaftClient

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Issue 8, findings 1 and 4, done as an outsider would, against real node processes: a number
// that overflowed, and a web page (text/plain POSTs, a foreign Origin, a rebinding Host) driving
// the cluster. Every node stays up, nothing changes, and the legitimate path still writes.

/// One HTTP/1.1 exchange over a plain socket with `Connection: close`, exactly the bytes given
/// (an attacker's client: any Host, any header). Waits at most `timeoutMs` for the answer.
func rawExchange(port: Int, _ head: String, body: [UInt8] = [], timeoutMs: Int = 10_000) -> (status: Int, text: String)? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    guard connected else { return nil }
    var timeout = timeval(tv_sec: timeoutMs / 1_000, tv_usec: Int((timeoutMs % 1_000) * 1_000))
    setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array((head + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n").utf8) + body
    var sent = 0
    while sent < request.count {
        let count = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard count > 0 else { return nil }
        sent += count
    }
    var received: [UInt8] = []
    var scratch = [UInt8](repeating: 0, count: 16_384)
    while received.count < 1 << 20 {
        let count = recv(descriptor, &scratch, scratch.count, 0)
        guard count > 0 else { break }
        received += scratch[..<count]
    }
    let text = String(decoding: received, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else { return nil }
    return (status, text)
}

@Suite(.serialized) struct HTTPAttackTests {
    @Test func anOutsiderCanNeitherCrashNorDriveTheCluster() async throws {
        try await ClusterFixture.withCluster(nodes: 3, name: "httpattack") { cluster in
            let nodes = await cluster.nodes
            let before = try await cluster.states()
            let termsBefore = before.mapValues(\.term)

            for node in nodes {
                let port = node.httpAddress.port
                let host = "Host: 127.0.0.1:\(port)\r\n"
                // Finding 1: this killed the node (an overflow trap); any page could send it as <img>.
                for from in ["18446744073709551615", "18446744073709551000", "9223372036854775808"] {
                    let answer = rawExchange(port: port, "GET /log?from=\(from) HTTP/1.1\r\n" + host)
                    #expect(answer?.status == 400, "node \(node.index) /log?from=\(from): \(answer?.text.prefix(300) ?? "no answer")")
                    #expect(answer?.text.contains("from must be") == true)
                }
                let prevIndex = rawExchange(port: port, "PUT /data/attack?prevIndex=18446744073709551615 HTTP/1.1\r\n" + host, body: [0x61])
                #expect(prevIndex?.status == 400)

                // Finding 4: a page's simple requests (no preflight): text/plain and form bodies.
                let simplePosts: [(String, String)] = [
                    ("/set", #"{"key": "attack", "value": "pwned"}"#), ("/connect", #"{"peer": "127.0.0.1:9"}"#),
                    ("/start", ""), ("/members/remove", #"{"id": "\#(before[node.index]?.id ?? "1")"}"#),
                    ("/op/isolate", "{}"), ("/op/pause", ""), ("/op/crash", ""), ("/op/drop", #"{"rate": 1}"#),
                ]
                for (path, body) in simplePosts {
                    for type in ["text/plain", "application/x-www-form-urlencoded"] {
                        let answer = rawExchange(
                            port: port, "POST \(path) HTTP/1.1\r\n" + host + "Content-Type: \(type)\r\nOrigin: null\r\n",
                            body: Array(body.utf8))
                        #expect(answer.map { [403, 415].contains($0.status) } == true, "\(path) as \(type): \(answer?.text.prefix(300) ?? "no answer")")
                    }
                    // Same-origin-looking JSON from a foreign page (its preflight fails too).
                    let foreign = rawExchange(
                        port: port,
                        "POST \(path) HTTP/1.1\r\n" + host + "Content-Type: application/json\r\nOrigin: http://evil.example\r\n",
                        body: Array(body.utf8))
                    #expect(foreign?.status == 403, "\(path) from a foreign origin: \(foreign?.text.prefix(300) ?? "no answer")")
                    #expect(foreign?.text.contains("forbidden_origin") == true)
                    let preflight = rawExchange(
                        port: port,
                        "OPTIONS \(path) HTTP/1.1\r\n" + host + "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n")
                    #expect(preflight?.status == 403)
                    // DNS rebinding: evil.example now resolves to 127.0.0.1; the page is same-origin
                    // with itself, so it sends no foreign Origin, but its Host names evil.example.
                    let rebound = rawExchange(
                        port: port, "POST \(path) HTTP/1.1\r\nHost: evil.example:\(port)\r\nContent-Type: application/json\r\n",
                        body: Array(body.utf8))
                    #expect(rebound?.status == 421, "\(path) rebound: \(rebound?.text.prefix(300) ?? "no answer")")
                }
                // A read from a foreign page is answered but not shared with it; nothing is `*`.
                let state = rawExchange(port: port, "GET /state HTTP/1.1\r\n" + host + "Origin: http://evil.example\r\n")
                #expect(state?.status == 200)
                #expect(state?.text.lowercased().contains("access-control-allow-origin") == false)
                let rebinding = rawExchange(port: port, "GET /data/attack?consistency=local HTTP/1.1\r\nHost: evil.example:\(port)\r\n")
                #expect(rebinding?.status == 421, "a rebinding page cannot read either")
            }

            // Nodes up, nothing changed: no key, no fault, same members, the term not driven.
            for node in nodes {
                #expect(await cluster.isRunning(node.index), "node \(node.index) still runs")
                let client = try await cluster.client(node.index)
                #expect(try await client.health().serving, "node \(node.index) serves")
            }
            let after = try await cluster.states()
            for (index, state) in after {
                #expect(state.faults.isEmpty, "node \(index) faults: \(state.faults)")
                #expect(state.members.count == 3, "node \(index) members: \(state.members.map(\.id))")
                #expect(state.term <= (termsBefore[index] ?? 0) + 2, "no election storm on node \(index)")
            }
            let (_, leader) = try await cluster.leaderClient()
            #expect(try await leader.get("attack") == nil, "the page's write never happened")

            // The legitimate path still works: the CLI's client, and a member's own page.
            let written = try await leader.put("legit", "ok")
            #expect(written.index > 0)
            let pagePort = nodes[0].httpAddress.port
            let memberPage = rawExchange(
                port: nodes[1].httpAddress.port,
                "POST /set HTTP/1.1\r\nHost: 127.0.0.1:\(nodes[1].httpAddress.port)\r\nContent-Type: application/json\r\n"
                    + "Origin: http://localhost:\(pagePort)\r\n",
                body: Array(#"{"key": "from-dashboard", "value": "ok"}"#.utf8))
            #expect(memberPage?.status == 200, "a member's dashboard writes: \(memberPage?.text.prefix(300) ?? "no answer")")
            #expect(memberPage?.text.contains("Access-Control-Allow-Origin: http://localhost:\(pagePort)") == true)
            #expect(try await leader.get("from-dashboard")?.value == Array("ok".utf8))
        }
    }

    /// `--auth-token-file`: a malformed file stops the node at start, naming the line; a good one
    /// closes every endpoint but `/health` to requests without a known token of the right role.
    @Test func tokensProtectARealNode() async throws {
        let directory = ClusterFixture.makeDirectory("tokens")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let badFile = directory + "/bad-tokens"
        try "# tokens\nadmin-token-0123456789 admin\nread-token-0123456789 reader\n".write(toFile: badFile, atomically: true, encoding: .utf8)
        let refused = try await CommandRunner.run([
            "serve", "--http-port", "0", "--raft-port", "0", "--data-dir", directory + "/refused", "--auth-token-file", badFile,
        ])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("line 3"), "\(refused.standardError.suffix(400))")

        let goodFile = directory + "/tokens"
        try "admin-token-0123456789 admin\nread-token-0123456789 read\n".write(toFile: goodFile, atomically: true, encoding: .utf8)
        let (httpSocket, httpPort) = try bindLoopbackSocket(listening: false)
        let (raftSocket, raftPort) = try bindLoopbackSocket(listening: false)
        close(httpSocket)
        close(raftSocket)
        let process = try CommandRunner.start(
            [
                "serve", "--http-port", String(httpPort), "--raft-port", String(raftPort), "--data-dir", directory + "/node",
                "--auth-token-file", goodFile,
            ], standardOutputPath: directory + "/out", standardErrorPath: directory + "/err")
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let host = "Host: 127.0.0.1:\(httpPort)\r\n"
        let up = await eventually(timeoutMs: 20_000, pollMs: 100) {
            rawExchange(port: httpPort, "GET /health HTTP/1.1\r\n" + host, timeoutMs: 1_000) != nil
        }
        try #require(up, "the node did not answer /health")
        let anonymous = rawExchange(port: httpPort, "GET /state HTTP/1.1\r\n" + host)
        #expect(anonymous?.status == 401)
        #expect(anonymous?.text.contains("WWW-Authenticate: Bearer") == true)
        let reader = "Authorization: Bearer read-token-0123456789\r\n"
        #expect(rawExchange(port: httpPort, "GET /state HTTP/1.1\r\n" + host + reader)?.status == 200)
        let weak = rawExchange(port: httpPort, "POST /start HTTP/1.1\r\n" + host + reader)
        #expect(weak?.status == 403)
        #expect(weak?.text.contains("\"forbidden\"") == true)
        let admin = "Authorization: Bearer admin-token-0123456789\r\n"
        #expect(rawExchange(port: httpPort, "POST /start HTTP/1.1\r\n" + host + admin)?.status == 200)
        #expect(process.isRunning)
    }

    /// The whole client trust path on a real node: HTTPS with a certificate from `wraft certs`,
    /// client certificates required, tokens with roles; the CLI (`--cacert --cert --key --token`)
    /// writes and pages a list across the byte cap with `--all`; no certificate, a stranger's, or
    /// no token gets nothing.
    @Test func httpsClientCertificatesAndTokensEndToEnd() async throws {
        let directory = ClusterFixture.makeDirectory("https")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/certs"
        let other = directory + "/other"
        for command in [
            ["certs", "init", "--dir", certs], ["certs", "issue", "--dir", certs, "--name", "node", "--host", "127.0.0.1"],
            ["certs", "issue", "--dir", certs, "--name", "ops", "--host", "127.0.0.1"], ["certs", "init", "--dir", other],
            ["certs", "issue", "--dir", other, "--name", "intruder", "--host", "127.0.0.1"],
        ] {
            let outcome = try await CommandRunner.run(command)
            try #require(outcome.status == 0, "wraft \(command.joined(separator: " ")): \(outcome.standardError)")
        }
        let tokens = directory + "/tokens"
        try "admin-token-0123456789 admin\nread-token-0123456789 read\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let (httpSocket, httpPort) = try bindLoopbackSocket(listening: false)
        let (raftSocket, raftPort) = try bindLoopbackSocket(listening: false)
        close(httpSocket)
        close(raftSocket)
        let process = try CommandRunner.start(
            [
                "serve", "--http-port", String(httpPort), "--raft-port", String(raftPort), "--data-dir", directory + "/node",
                "--cert-file", certs + "/node.pem", "--key-file", certs + "/node-key.pem", "--trusted-ca-file", certs + "/ca.pem",
                "--client-cert-auth", "--auth-token-file", tokens,
            ], standardOutputPath: directory + "/out", standardErrorPath: directory + "/err")
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let node = "https://127.0.0.1:\(httpPort)"
        let member = ["--cacert", certs + "/ca.pem", "--cert", certs + "/ops.pem", "--key", certs + "/ops-key.pem"]
        let admin = try NodeClient(
            address: try NodeAddress(parsing: node),
            tls: ClientTLS(trustedCAFile: certs + "/ca.pem", certificateFile: certs + "/ops.pem", privateKeyFile: certs + "/ops-key.pem"),
            bearerToken: "admin-token-0123456789")
        defer { Task { await admin.shutDown() } }
        let up = await eventually(timeoutMs: 20_000, pollMs: 200) { (try? await admin.health()) != nil }
        try #require(up, "the HTTPS node did not answer: \((try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? "")")
        try await admin.start()
        let leader = await eventually(timeoutMs: 20_000, pollMs: 100) { (try? await admin.state())?.role == "leader" }
        try #require(leader)

        // Writes through the CLI; 6 values of 1 MiB make more than one 4 MiB list page.
        let value = String(repeating: "v", count: 1 << 20)
        for index in 0..<6 {
            try await admin.put("big/\(index)", value)
        }
        let put = try await CommandRunner.run(["put", "small", "x", "--node", node, "--token", "admin-token-0123456789"] + member)
        #expect(put.status == 0, "\(put.standardError)")
        let listed = try await CommandRunner.run(
            ["list", "--prefix", "big/", "--all", "--node", node, "--token", "read-token-0123456789"] + member, timeoutMs: 60_000)
        #expect(listed.status == 0, "\(listed.standardError.suffix(400))")
        for index in 0..<6 { #expect(listed.standardOutput.contains("big/\(index)"), "list --all pages to big/\(index)") }
        let firstPage = try await admin.list(prefix: "big/", limit: 100)
        #expect(firstPage.more, "one answer stops at 4 MiB: \(firstPage.items.count) items")

        let weak = try await CommandRunner.run(["put", "k", "v", "--node", node, "--token", "read-token-0123456789"] + member)
        #expect(weak.status != 0, "a read token cannot write")
        let anonymous = try await CommandRunner.run(["get", "small", "--node", node] + member)
        #expect(anonymous.status != 0, "no token")
        let noCertificate = try await CommandRunner.run(
            ["get", "small", "--node", node, "--token", "read-token-0123456789", "--cacert", certs + "/ca.pem"])
        #expect(noCertificate.status != 0, "no client certificate")
        let stranger = try await CommandRunner.run(
            ["get", "small", "--node", node, "--token", "read-token-0123456789", "--cacert", certs + "/ca.pem", "--cert",
             other + "/intruder.pem", "--key", other + "/intruder-key.pem"])
        #expect(stranger.status != 0, "a certificate from another CA")
        let got = try await CommandRunner.run(["get", "small", "--node", node, "--token", "read-token-0123456789"] + member)
        #expect(got.status == 0 && got.standardOutput.contains("x"), "\(got.standardError)")
        #expect(process.isRunning)
    }
}
