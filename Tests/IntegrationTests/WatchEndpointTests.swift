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

/// `GET /watch` on real processes: a follower's stream during writes from several clients,
/// resuming with `Last-Event-ID` after a disconnect, a compacted start, the watcher limit.
@Suite(.serialized) struct WatchEndpointTests {
    /// The SSE messages of a watch response: `id`, `event` and the decoded `data`.
    struct Message {
        var id: UInt64?
        var event: String
        var data: [String: Any]
    }

    static func messages(_ text: String) -> [Message] {
        var messages: [Message] = []
        var id: UInt64?
        var event = "message"
        // By newline Characters: "\r\n" (the chunk framing around each message) is one.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if line.hasPrefix("id: ") {
                id = UInt64(line.dropFirst(4))
            } else if line.hasPrefix("event: ") {
                event = String(line.dropFirst(7))
            } else if line.hasPrefix("data: ") {
                let data = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]) ?? [:]
                messages.append(Message(id: id, event: event, data: data))
                id = nil
                event = "message"
            }
        }
        return messages
    }

    /// (revision, type, key) of every event of the `message` messages.
    static func changes(_ messages: [Message]) -> [String] {
        messages.filter { $0.event == "message" }.flatMap { message in
            (message.data["events"] as? [[String: Any]] ?? []).map { event in
                let kv = event["kv"] as? [String: Any] ?? [:]
                return "\(message.data["revision"] as? Int ?? -1):\(event["type"] as? String ?? "?"):\(kv["key"] as? String ?? "?")"
            }
        }
    }

    @Test func aFollowersStreamResumesAfterADisconnectLosingAndRepeatingNothing() async throws {
        try await ClusterFixture.withCluster(nodes: 3, name: "watch-resume") { cluster in
            let leader = try await cluster.waitForLeader()
            let follower = (leader + 1) % 3
            let clients = await cluster.clients
            let port = await cluster.nodes[follower].httpAddress.port
            let first = try await clients[leader].put("w/start", "0")
            let start = try #require(first.revision)
            // Writers on every node, a transaction among them, while the stream is read in two parts.
            let writes = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for writer in 0..<3 {
                        group.addTask {
                            for step in 0..<30 {
                                _ = try await clients[writer].put("w/\(writer)/\(step % 4)", "\(step)")
                                if step % 10 == 9 { _ = try await clients[writer].delete("w/\(writer)/\(step % 4)") }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let part1 = try #require(
                EventStreamReader.read(port: port, query: "?prefix=w/&fromRevision=\(start)&prevKV=true", forMs: 1_500, path: "/watch"))
            #expect(part1.status == 200, "\(part1.text.prefix(300))")
            let messages1 = Self.messages(part1.text)
            #expect(messages1.first?.event == "created")
            let lastID = try #require(messages1.last(where: { $0.id != nil })?.id, "\(part1.text.prefix(500))")
            try await writes.value
            let txn = #"{"compare": [], "success": [{"op": "put", "key": "w/t1", "value": "a"}, {"op": "put", "key": "w/t2", "value": "b"}]}"#
            let txnAnswer = try await RealProcessTests.RevisionEndpointTests.send(clients[leader], "POST", "/txn", json: txn)
            let end = try #require(try RealProcessTests.RevisionEndpointTests.object(txnAnswer)["revision"] as? Int)
            // Resume after the last id seen, as EventSource does on a reconnect (the URL's own
            // fromRevision is older: Last-Event-ID wins).
            let part2 = try #require(
                EventStreamReader.read(
                    port: port, query: "?prefix=w/&fromRevision=\(start)", forMs: 10_000, path: "/watch",
                    headers: "Last-Event-ID: \(lastID)\r\n"
                ) { text in Self.changes(Self.messages(text)).contains { $0.hasPrefix("\(end):") && $0.hasSuffix("w/t2") } })
            let seen = Self.changes(messages1) + Self.changes(Self.messages(part2.text))
            // The reference: the history of the prefix, read at once from the same node.
            let history = try #require(
                EventStreamReader.read(port: port, query: "?prefix=w/&fromRevision=\(start)", forMs: 10_000, path: "/watch") { text in
                    Self.changes(Self.messages(text)).contains { $0.hasPrefix("\(end):") && $0.hasSuffix("w/t2") }
                })
            let expected = Self.changes(Self.messages(history.text))
            let expectedCount = 102  // 1 + 90 puts + 9 deletes + 2 transaction puts
            #expect(expected.count == expectedCount, "every put, delete and txn op of w/")
            #expect(seen == expected, "nothing lost and nothing repeated across the reconnect")
            // prevKV was asked for in part 1: a second put of a key carries the first value.
            let withPrevious = messages1.flatMap { ($0.data["events"] as? [[String: Any]]) ?? [] }.filter { $0["prevKV"] != nil }
            #expect(!withPrevious.isEmpty || messages1.count < 3)
        }
    }

    @Test func aCompactedStartIs410AndBadInputAndTheWatcherLimitAreRefused() async throws {
        try await ClusterFixture.withCluster(nodes: 1, name: "watch-bounds", configure: { $0.extraArguments += ["--watchers-max", "2"] }) {
            cluster in
            let client = try await cluster.client(0)
            let port = await cluster.nodes[0].httpAddress.port
            for step in 0..<3 { _ = try await client.put("c/\(step)", "x") }
            let current = try #require(try await client.put("c/last", "x").revision)
            let compacted = try await RealProcessTests.RevisionEndpointTests.send(client, "POST", "/compact", json: #"{"revision": \#(current - 1)}"#)
            #expect(compacted.status == 200)
            let gone = try #require(EventStreamReader.read(port: port, query: "?prefix=c/&fromRevision=\(current - 2)", forMs: 1_000, path: "/watch"))
            #expect(gone.status == 410, "\(gone.text.prefix(300))")
            #expect(gone.text.contains("\"compacted\"") && gone.text.contains("X-WRaft-Compact-Revision: \(current - 1)"))

            for bad in ["", "?key=a&prefix=b", "?prefix=a&fromRevision=-1", "?prefix=a&progressMs=5", "?prefix=a&noPut=maybe", "?prefix=a&end=b"] {
                let refused = try #require(EventStreamReader.read(port: port, query: bad, forMs: 1_000, path: "/watch"))
                #expect(refused.status == 400, "\(bad): \(refused.text.prefix(200))")
            }

            // Two watches are the limit; a third is 503 too_many_watchers; closing one frees its place.
            var held: [Int32] = []
            defer { for descriptor in held { close(descriptor) } }
            for _ in 0..<2 {
                let descriptor = try #require(EventStreamReader.open(port: port, query: "?prefix=c/", path: "/watch"))
                held.append(descriptor)
                let head = EventStreamReader.receive(descriptor, forMs: 3_000) { $0.contains("event: created") }
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head.prefix(200))")
            }
            let third = try #require(EventStreamReader.read(port: port, query: "?prefix=c/", forMs: 1_000, path: "/watch"))
            #expect(third.status == 503 && third.text.contains("too_many_watchers"), "\(third.text.prefix(300))")
            close(held.removeLast())
            var reopened = false
            for _ in 0..<50 where !reopened {
                try await Task.sleep(for: .milliseconds(100))
                let again = EventStreamReader.read(port: port, query: "?prefix=c/&progressMs=100", forMs: 400, path: "/watch")
                reopened = again?.status == 200 && again?.text.contains("event: progress") == true
            }
            #expect(reopened, "a closed watch frees its place (the node notices the closed connection)")
        }
    }
}
