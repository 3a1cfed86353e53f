#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import WRaftAPI
import WRaftClient
import WRaftLauncher

/// The client's Server-Sent Events parser alone: line endings, comments, ids, bounds.
@Suite struct ServerSentEventParserTests {
    @Test func messagesSplitOnEveryLineEndingAndKeepTheLastID() throws {
        var parser = ServerSentEventParser()
        var messages = try parser.feed(Array(": keepalive\r\n\r\nevent: created\ndata: {\"revision\":3}\n\nid: 4\r".utf8))
        #expect(messages == [ServerSentEvent(id: nil, event: "created", data: #"{"revision":3}"#)])
        // The rest arrives in pieces, one split inside the CRLF.
        messages = try parser.feed(Array("\ndata: a\ndata:b\r".utf8))
        #expect(messages.isEmpty)
        messages = try parser.feed(Array("\n\r\nevent: error\ndata: x\n\n".utf8))
        #expect(messages == [ServerSentEvent(id: "4", data: "a\nb"), ServerSentEvent(id: "4", event: "error", data: "x")])
    }

    @Test func aLineOrAMessagePastItsBoundIsRefused() throws {
        var parser = ServerSentEventParser()
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: ServerSentEventParser.lineBytesMax + 1)
        #expect(throws: ServerSentEventError.lineTooLong(bytesMax: ServerSentEventParser.lineBytesMax)) {
            _ = try parser.feed(long)
        }
        var many = ServerSentEventParser()
        let line = Array("data: ".utf8) + [UInt8](repeating: UInt8(ascii: "b"), count: 1 << 20) + [UInt8(ascii: "\n")]
        #expect(throws: ServerSentEventError.eventTooLarge(bytesMax: ServerSentEventParser.eventBytesMax)) {
            for _ in 0..<9 { _ = try many.feed(line) }
        }
    }

    @Test func theWatchErrorCodesDecode() throws {
        #expect(ErrorCode.watchTooSlow.httpStatus == 503 && ErrorCode.tooManyWatchers.httpStatus == 503)
        for view in [
            WatchErrorView(code: .compacted, message: "m", compactRevision: 9), WatchErrorView(code: .watchTooSlow, message: "m"),
        ] {
            let decoded = try JSONDecoder().decode(WatchErrorView.self, from: Data(view.encodedJSON().readableBytesView))
            #expect(decoded == view && decoded.code != nil)
        }
        let message = try JSONDecoder().decode(
            WatchMessageView.self,
            from: Data(#"{"revision":5,"events":[{"type":"put","kv":{"key":"k","value":"v","index":5,"createRevision":5,"modRevision":5,"version":1,"lease":0}}]}"#.utf8))
        #expect(message.revision == 5 && message.events.first?.kv.value == "v" && message.events.first?.prevKV == nil)
    }
}

/// `wraft watch` against a real cluster: the node it watches on is killed, and it resumes on
/// the next endpoint after the last revision it printed.
@Suite(.serialized) struct WatchCommandTests {
    @Test func theWatchResumesOnTheNextEndpointWhenItsNodeIsKilled() async throws {
        try await resumesElsewhere(after: SIGKILL, name: "watch-cli")
    }

    /// A stopped node keeps its connections open and sends nothing: the watch takes 15 s of
    /// silence (three missed progress notifications) as the node gone, and resumes elsewhere.
    @Test func theWatchResumesOnTheNextEndpointWhenItsNodeIsStopped() async throws {
        try await resumesElsewhere(after: SIGSTOP, name: "watch-cli-stop")
    }

    /// Watches a prefix on a follower (the first of three `--endpoints`), sends that follower
    /// `signal` halfway through 20 puts, and expects all 20 printed once, in order, and a
    /// "resuming" line. The node is stopped (and continued) by the fixture.
    private func resumesElsewhere(after signal: Int32, name: String) async throws {
        try await ClusterFixture.withCluster(nodes: 3, name: name) { cluster in
            let leader = try await cluster.waitForLeader()
            let victim = (leader + 1) % 3
            let other = (leader + 2) % 3
            let nodes = await cluster.nodes.map(\.httpAddress.description)
            let clients = await cluster.clients
            let first = try #require(try await clients[leader].put("w/00", "v0").revision)
            let directory = ClusterFixture.makeDirectory("watch-cli-out")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let endpoints = [nodes[victim], nodes[other], nodes[leader]].joined(separator: ",")
            let process = try CommandRunner.start(
                ["watch", "w/", "--prefix", "--rev", String(first), "--count", "20", "--endpoints", endpoints],
                standardOutputPath: directory + "/out", standardErrorPath: directory + "/err")
            defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
            for step in 1..<10 { _ = try await clients[leader].put(String(format: "w/%02d", step), "v\(step)") }
            // Let the watch print what was written so far, then kill the node it watches on.
            var printed = 0
            for _ in 0..<100 where printed < 30 {
                try await Task.sleep(for: .milliseconds(100))
                printed = ((try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? "").split(separator: "\n").count
            }
            try await cluster.kill(victim, signal: signal)
            for step in 10..<20 { _ = try await clients[leader].put(String(format: "w/%02d", step), "v\(step)") }
            for _ in 0..<400 where process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
            #expect(!process.isRunning, "it stops after --count 20 events")
            let output = (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? ""
            let errors = (try? String(contentsOfFile: directory + "/err", encoding: .utf8)) ?? ""
            let lines = output.split(separator: "\n").map(String.init)
            let expected = (0..<20).flatMap { ["PUT", String(format: "w/%02d", $0), "v\($0)"] }
            #expect(lines == expected, "every put once, in order, across the failover; stderr: \(errors)")
            #expect(errors.contains("resuming after revision"), "\(errors)")
            #expect(process.terminationStatus == 0)
        }
    }
}
