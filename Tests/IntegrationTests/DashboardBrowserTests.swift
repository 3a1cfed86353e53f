import Foundation
import Testing
import WRaftClient

#if canImport(Glibc)
import Glibc
#endif

/// The dashboard in a real browser (headless Chromium driven by Selenium, through
/// Tests/Browser/dashboard_browser_check.py) against real nodes: the token prompt, the token kept
/// for the tab and sent to every member, a write from the key-value panel; and a page of another
/// origin that can neither read a node nor write to it. `.ci/run` installs the browser; where
/// chromium, chromedriver or Python's selenium is missing, each test says so and skips.
@Suite(.serialized) struct DashboardBrowserTests {
    static let token = "dashboard-admin-token-0123456789"

    /// Two members with `--auth-token-file`: the page asks once, reaches both, writes, and a
    /// reload does not ask again; the key written in the browser is read back through the other
    /// member.
    @Test func theDashboardAsksForTheTokenOnceAndUsesItWithEveryMember() async throws {
        guard let browser = BrowserTools.find() else { return }
        try await withNodes(count: 2, name: "browser-tokens", tokens: true) { nodes in
            let checks = try await browser.run(
                scenario: "tokens",
                ["--url", "http://\(nodes[0].http)", "--members", "2", "--token", Self.token,
                 "--key", "browser-key", "--value", "written-in-a-browser"])
            let read = try await nodes[1].client.get("browser-key")
            #expect(read.map { String(decoding: $0.value, as: UTF8.self) } == "written-in-a-browser", "\(checks)")
        }
    }

    /// One member without tokens: the page works with no prompt; a page served from another
    /// origin on the same machine cannot read `/state` or make a JSON write, and its simple
    /// text/plain and form POSTs (which a browser sends without asking) write nothing.
    @Test func aPageOfAnotherOriginCanNeitherReadNorWrite() async throws {
        guard let browser = BrowserTools.find() else { return }
        try await withNodes(count: 1, name: "browser-origin", tokens: false) { nodes in
            let checks = try await browser.run(
                scenario: "origin", ["--url", "http://\(nodes[0].http)", "--members", "1", "--key", "written-by-a-stranger"])
            #expect(try await nodes[0].client.get("written-by-a-stranger") == nil, "\(checks)")
            // The node is still up and serving.
            #expect(try await nodes[0].client.state().status == "running")
        }
    }

    /// Three members with faults on, the page opened on a follower: the page names the leader,
    /// handles every click during constant updates, partitions a follower and heals with its own
    /// controls, and after the leader is crashed with its card's button names a new leader within
    /// 30 s. Screenshots: `BrowserTools.artifactsDirectory` (`.build/test-artifacts/dashboard`).
    @Test func theDashboardFollowsAFailoverAndDrivesAPartition() async throws {
        guard let browser = BrowserTools.find() else { return }
        try await ClusterFixture.withCluster(nodes: 3, name: "browser-cluster") { cluster in
            let leader = try await cluster.waitForLeader()
            let page = await cluster.nodes[leader == 0 ? 1 : 0].httpAddress
            let checks = try await browser.run(
                scenario: "cluster",
                ["--url", "http://\(page)", "--members", "3", "--artifacts", BrowserTools.artifactsDirectory + "/cluster"])
            // The nodes agree: the old leader's process is gone and another member leads.
            let survivors = await cluster.runningIndexes.filter { $0 != leader }
            let exited = await eventually(timeoutMs: 10_000) { await !cluster.isRunning(leader) }
            #expect(exited, "the crashed leader's process is still running: \(checks)")
            let newLeader = try await cluster.waitForLeader(among: survivors)
            #expect(newLeader != leader, "\(checks)")
        }
    }

    /// A member without `--enable-faults`: the page's crash button is answered 403 and shown as
    /// failed with the node's error; the node keeps running.
    @Test func aCrashAnswered403IsShownAsAFailure() async throws {
        guard let browser = BrowserTools.find() else { return }
        try await withNodes(count: 1, name: "browser-forbidden", tokens: false) { nodes in
            _ = try await browser.run(
                scenario: "forbidden",
                ["--url", "http://\(nodes[0].http)", "--artifacts", BrowserTools.artifactsDirectory + "/forbidden"])
            #expect(try await nodes[0].client.state().status == "running")
        }
    }

    /// Two members and one empty node that allows the page's origin: the page's "Add member"
    /// control joins the empty node, and the page then shows three members up. The nodes agree:
    /// the new node runs in the same cluster and serves a key written through the old ones.
    @Test func theDashboardAddsAMember() async throws {
        guard let browser = BrowserTools.find() else { return }
        try await withNodes(count: 2, name: "browser-add", tokens: false) { nodes in
            let page = "http://\(nodes[0].http)"
            let spare = try startNode(
                directory: ClusterFixture.makeDirectory("browser-add-spare"), index: 0, tokenFile: nil,
                extraArguments: ["--cors-allowed-origins", page])
            defer {
                kill(spare.process.processIdentifier, SIGKILL)
                spare.process.waitUntilExit()
            }
            let up = await eventually(timeoutMs: 20_000, pollMs: 100) { (try? await spare.client.health()) != nil }
            try #require(up, "the empty node did not answer /health")
            let checks = try await browser.run(
                scenario: "add",
                ["--url", page, "--members", "2", "--new-node", spare.http,
                 "--artifacts", BrowserTools.artifactsDirectory + "/add"])
            let state = try await spare.client.state()
            #expect(state.status == "running", "\(checks)")
            #expect(state.members.count == 3, "\(state.members) \(checks)")
            _ = try await nodes[1].client.put("after-add", "three")
            let replicated = await eventually(timeoutMs: 10_000, pollMs: 100) {
                (try? await spare.client.get("after-add", consistency: .local))?.map { Array($0.value) } == Array("three".utf8)
            }
            #expect(replicated, "the added member did not apply a later write")
        }
    }

    // MARK: Nodes

    struct Node {
        let http: String
        let raft: String
        let client: NodeClient
        let process: Process
    }

    /// Starts one standalone node on free loopback ports (with `tokenFile` as its token file, when
    /// given), in `directory/node-index`; the caller kills it.
    private func startNode(
        directory: String, index: Int, tokenFile: String?, extraArguments: [String] = []
    ) throws -> Node {
        let (httpSocket, httpPort) = try bindLoopbackSocket(listening: false)
        let (raftSocket, raftPort) = try bindLoopbackSocket(listening: false)
        close(httpSocket)
        close(raftSocket)
        var arguments = [
            "serve", "--http-port", String(httpPort), "--raft-port", String(raftPort),
            "--data-dir", "\(directory)/node-\(index)",
        ] + extraArguments
        if let tokenFile { arguments += ["--auth-token-file", tokenFile] }
        let process = try CommandRunner.start(
            arguments, standardOutputPath: "\(directory)/node-\(index).out",
            standardErrorPath: "\(directory)/node-\(index).err")
        let address = NodeAddress(host: "127.0.0.1", port: httpPort)
        let client = try NodeClient(address: address, tls: nil, bearerToken: tokenFile == nil ? nil : Self.token)
        return Node(http: address.description, raft: "127.0.0.1:\(raftPort)", client: client, process: process)
    }

    /// Starts `count` nodes (with the admin token file when `tokens`), connects and starts them,
    /// waits for a leader, runs `body`, and always kills them.
    private func withNodes(
        count: Int, name: String, tokens: Bool, _ body: ([Node]) async throws -> Void
    ) async throws {
        let directory = ClusterFixture.makeDirectory(name)
        var nodes: [Node] = []
        defer {
            for node in nodes {
                kill(node.process.processIdentifier, SIGKILL)
                node.process.waitUntilExit()
            }
        }
        let tokenFile = directory + "/tokens"
        try "\(Self.token) admin\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        for index in 0..<count {
            nodes.append(try startNode(directory: directory, index: index, tokenFile: tokens ? tokenFile : nil))
        }
        for node in nodes {
            let up = await eventually(timeoutMs: 20_000, pollMs: 100) { (try? await node.client.health()) != nil }
            try #require(up, "node \(node.http) did not answer /health")
        }
        for node in nodes.dropFirst() { _ = try await nodes[0].client.connect(peer: node.raft) }
        try await nodes[0].client.start()
        let led = await eventually(timeoutMs: 20_000, pollMs: 100) {
            (try? await nodes[0].client.state())?.leader != nil
        }
        try #require(led, "no leader within 20 s")
        try await body(nodes)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Headless Chromium, its driver and Python's selenium, when this machine has them all.
struct BrowserTools {
    let python: String
    let chromium: String
    let chromedriver: String
    let script: String

    /// The tools, or nil after printing why the browser tests skip.
    static func find() -> BrowserTools? {
        let executable = { (names: [String]) in names.first { FileManager.default.isExecutableFile(atPath: $0) } }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Browser/dashboard_browser_check.py").path
        guard let python = executable(pathCandidates("python3")),
            let chromium = executable(pathCandidates("chromium") + pathCandidates("chromium-browser")),
            let chromedriver = executable(pathCandidates("chromedriver"))
        else {
            print("skipped: the browser tests need python3, chromium and chromedriver (.ci/run installs them)")
            return nil
        }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import selenium"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        let probed: Void? = try? probe.run()
        if probed != nil { probe.waitUntilExit() }
        guard probed != nil, probe.terminationStatus == 0 else {
            print("skipped: the browser tests need Python's selenium (pip install selenium; .ci/run does)")
            return nil
        }
        return BrowserTools(python: python, chromium: chromium, chromedriver: chromedriver, script: script)
    }

    /// Where the browser tests write their screenshots: `WRAFT_TEST_ARTIFACTS`, else
    /// `.build/test-artifacts/dashboard` in the package.
    static var artifactsDirectory: String {
        if let explicit = ProcessInfo.processInfo.environment["WRAFT_TEST_ARTIFACTS"] { return explicit + "/dashboard" }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-artifacts/dashboard").path
    }

    private static func pathCandidates(_ name: String) -> [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }
    }

    /// Runs one scenario of the script (bounded at 120 s) and expects every check it made to
    /// pass; returns the checks, to be printed with any later failure.
    func run(scenario: String, _ arguments: [String]) async throws -> String {
        let directory = ClusterFixture.makeDirectory("browser-run")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = try CommandRunner.startProgram(
            python, [script, scenario] + arguments + ["--chromium", chromium, "--chromedriver", chromedriver],
            standardOutputPath: directory + "/out", standardErrorPath: directory + "/err")
        if !(await CommandRunner.waitForExit(process, timeoutMs: 120_000)) {
            kill(process.processIdentifier, SIGKILL)
            _ = await CommandRunner.waitForExit(process, timeoutMs: 5_000)
            Issue.record("the browser script did not finish within 120 s")
        }
        let text = (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? ""
        let standardError = (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? ""
        struct Report: Decodable {
            struct Check: Decodable {
                let name: String
                let ok: Bool
                let detail: String
            }
            let checks: [Check]
        }
        guard let report = try? JSONDecoder().decode(Report.self, from: Data(text.utf8)) else {
            Issue.record("the browser script printed no report (status \(process.terminationStatus)): \(text)\n\(standardError.suffix(2_000))")
            return text
        }
        #expect(!report.checks.isEmpty)
        for check in report.checks {
            #expect(check.ok, "\(scenario): \(check.name): \(check.detail)")
        }
        #expect(process.terminationStatus == 0, "\(standardError.suffix(2_000))")
        return text
    }
}
