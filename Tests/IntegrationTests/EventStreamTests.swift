#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
import WRaftClient
import WRaftLauncher

/// `GET /events` on real nodes: an election seen in the stream, `since` replay, messages while
/// a stream is open, the bound on open streams.
@Suite(.serialized) struct EventStreamTests {
    @Test func aFailoverAppearsInTheSurvivorsStreams() async throws {
        try await ClusterFixture.withCluster(nodes: 3, name: "events-failover") { cluster in
            let (leader, _) = try await cluster.leaderClient()
            let survivor = leader == 0 ? 1 : 0
            let port = await cluster.nodes[survivor].httpAddress.port
            let before = try #require(EventStreamReader.read(port: port, query: "", forMs: 1_000))
            #expect(before.status == 200)
            #expect(before.events.first?["type"] as? String == "timing", "\(before.events.prefix(2))")
            // Sequence numbers are consecutive from the first event kept.
            let sequences = before.events.compactMap { $0["seq"] as? Int }.filter { $0 > 0 }
            #expect(!sequences.isEmpty && sequences == Array(sequences[0]..<(sequences[0] + sequences.count)))
            let lastSeen = sequences.last ?? 0
            let oldTerm = before.events.compactMap { $0["type"] as? String == "state" ? $0["term"] as? Int : nil }.max() ?? 0

            try await cluster.kill(leader)
            let newLeader = try await cluster.waitForLeader(among: cluster.runningIndexes)
            let after = try #require(EventStreamReader.read(port: port, query: "?since=\(lastSeen)", forMs: 1_500))
            let events = after.events.filter { ($0["seq"] as? Int ?? 0) > 0 }
            // `since` replays exactly what followed.
            #expect(events.first?["seq"] as? Int == lastSeen + 1, "\(events.prefix(3))")
            let types = Set(events.compactMap { $0["type"] as? String })
            #expect(types.contains("commit"), "\(types)")
            let states = events.filter { $0["type"] as? String == "state" }
            #expect(states.contains { ($0["term"] as? Int ?? 0) > oldTerm }, "\(states)")
            // The survivor either campaigned or voted in the new term.
            let voted = events.contains { $0["type"] as? String == "vote-cast" && $0["granted"] as? Bool == true }
            let campaigned = events.contains { $0["type"] as? String == "campaign" && $0["preVote"] as? Bool == false }
            #expect(voted || campaigned, "\(events.map { $0["type"] as? String ?? "" })")
            if newLeader == survivor {
                #expect(states.contains { $0["role"] as? String == "leader" })
            }
            // Messages are in the stream while it is open (heartbeats at least).
            #expect(events.contains { $0["type"] as? String == "sent" || $0["type"] as? String == "received" })
        }
    }

    @Test func openStreamsAreBoundedAndABadSinceIsRefused() async throws {
        try await ClusterFixture.withCluster(nodes: 1, name: "events-bounds") { cluster in
            let port = await cluster.nodes[0].httpAddress.port
            let bad = try #require(EventStreamReader.read(port: port, query: "?since=-3", forMs: 500))
            #expect(bad.status == 400)
            var held: [Int32] = []
            defer { for descriptor in held { close(descriptor) } }
            for _ in 0..<8 {
                let descriptor = try #require(EventStreamReader.open(port: port, query: ""))
                held.append(descriptor)
                let head = EventStreamReader.receive(descriptor, forMs: 2_000) { $0.contains("\r\n\r\n") }
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head.prefix(200))")
            }
            let refused = try #require(EventStreamReader.read(port: port, query: "", forMs: 1_000))
            #expect(refused.status == 503, "\(refused.text.prefix(300))")
            // A closed stream frees its slot (noticed at its next write: events keep coming).
            close(held.removeLast())
            let reopened = await eventually(timeoutMs: 15_000, pollMs: 200) {
                EventStreamReader.read(port: port, query: "", forMs: 300)?.status == 200
            }
            #expect(reopened)
        }
    }
}

/// Reads a node's `/events` over a plain socket for a while, bounded in time and bytes.
enum EventStreamReader {
    struct Result {
        var status: Int
        var text: String
        /// The JSON objects of the `data:` lines, in order.
        var events: [[String: Any]]
    }

    static let bytesMax = 4 << 20

    static func read(
        port: Int, query: String, forMs: Int, path: String = "/events", headers: String = "", until done: (String) -> Bool = { _ in false }
    ) -> Result? {
        guard let descriptor = open(port: port, query: query, path: path, headers: headers) else { return nil }
        defer { close(descriptor) }
        let text = receive(descriptor, forMs: forMs, done: done)
        guard text.hasPrefix("HTTP/1.1 "), let status = Int(text.dropFirst(9).prefix(3)) else { return nil }
        // `\.isNewline`, not "\n": the chunk framing's "\r\n" is one Character, which "\n" would not split.
        var events: [[String: Any]] = []
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("data: ") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any] {
                events.append(object)
            }
        }
        return Result(status: status, text: text, events: events)
    }

    /// Connects and sends the request; the caller closes the descriptor.
    static func open(port: Int, query: String, path: String = "/events", headers: String = "") -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        let request = Array("GET \(path)\(query) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\(headers)\r\n".utf8)
        guard connected, request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// Reads until `done` holds, the peer closes, `forMs` pass or `bytesMax` arrive.
    static func receive(_ descriptor: Int32, forMs: Int, done: (String) -> Bool) -> String {
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let deadline = ContinuousClock.now + .milliseconds(forMs)
        var received: [UInt8] = []
        var scratch = [UInt8](repeating: 0, count: 16_384)
        while ContinuousClock.now < deadline, received.count < bytesMax {
            let count = recv(descriptor, &scratch, scratch.count, 0)
            if count == 0 { break }
            if count > 0 {
                received += scratch[..<count]
                if done(String(decoding: received, as: UTF8.self)) { break }
            }
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// Slow motion and freeze (`--slow-motion`, `/op/freeze`, `/op/release`).
@Suite(.serialized) struct SlowMotionTests {
    /// Every node of a `--slow-motion 5` cluster tells its stream a tick of 50 ms. Frozen, no node
    /// ticks: killing the leader elects nobody until the others are released.
    @Test func slowMotionStretchesTheClockAndFreezeStopsIt() async throws {
        try await ClusterFixture.withCluster(nodes: 3, name: "events-freeze", configure: { $0.slowMotionFactor = 5 }) { cluster in
            let port = await cluster.nodes[0].httpAddress.port
            let timing = try #require(EventStreamReader.read(port: port, query: "", forMs: 500)?.events.first)
            #expect(timing["tickMs"] as? Int == 50 && timing["heartbeatMs"] as? Int == 500, "\(timing)")

            let leader = try await cluster.waitForLeader()
            for index in await cluster.runningIndexes {
                _ = try await cluster.client(index).inject(.freeze)
            }
            let frozen = try await cluster.client(leader).state()
            #expect(frozen.faults.contains("frozen"), "\(frozen.faults)")
            let others = await cluster.runningIndexes.filter { $0 != leader }
            let termBefore = try await cluster.client(others[0]).state().term
            try await cluster.kill(leader)
            // Ten election timeouts of a normal cluster, more than one of this slowed one: nobody
            // campaigns while frozen.
            try await Task.sleep(for: .milliseconds(3_000))
            for index in others {
                let state = try await cluster.client(index).state()
                #expect(state.term == termBefore && state.role != "leader", "node \(index): \(state.role ?? "-") term \(state.term)")
            }
            for index in others { _ = try await cluster.client(index).inject(.release) }
            let newLeader = try await cluster.waitForLeader(among: others, timeoutMs: 30_000)
            #expect(others.contains(newLeader))
        }
    }
}
