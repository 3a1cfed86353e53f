import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import WRaftServer

// Limits on the HTTP port (issue 8): a deadline for the whole request, connection caps that keep
// room for loopback clients, and list answers capped by bytes with a continuation cursor.

@Suite struct HTTPRequestDeadlineTests {
    /// Sends `head` then `body` one byte every `gapMs`; returns how long until the server closed
    /// the connection or answered, and whether it answered.
    private func trickle(port: Int, head: [UInt8], body: [UInt8], gapMs: Int) async throws -> (Duration, Bool) {
        let started = ContinuousClock.now
        let answered = try await withTimeout(.seconds(30)) {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await chunk in inbound where chunk.readableBytes > 0 { return true }
                        return false
                    }
                    group.addTask {
                        try await outbound.write(ByteBuffer(bytes: head))
                        for byte in body {
                            try await Task.sleep(for: .milliseconds(gapMs))
                            try await outbound.write(ByteBuffer(bytes: [byte]))
                        }
                        try await Task.sleep(for: .seconds(20))
                        return false
                    }
                    defer { group.cancelAll() }
                    // The reader ends first: the server answered or closed. A write error means
                    // the server closed too.
                    do {
                        return try await group.next() ?? false
                    } catch {
                        return false
                    }
                }
            }
        }
        return (ContinuousClock.now - started, answered)
    }

    /// A body sent a byte at a time used to reset the idle timer on every byte and hold the
    /// connection (and the request's buffer) as long as the sender liked.
    @Test func aTrickledBodyIsCutOffAtTheRequestDeadline() async throws {
        var options = HTTPOptions()
        options.idleTimeoutMs = 400
        options.requestReceiveMs = 600
        let service = FakeNodeService()
        try await withHTTPServer(service, options: options) { client in
            let body = [UInt8](repeating: UInt8(ascii: "v"), count: 40)
            let head = Array("PUT /data/slow HTTP/1.1\r\nHost: 127.0.0.1:\(client.port)\r\nContent-Length: 40\r\n\r\n".utf8)
            let (elapsed, answered) = try await trickle(port: client.port, head: head, body: body, gapMs: 100)
            #expect(!answered, "the request never completes, so it is never answered")
            #expect(elapsed < .milliseconds(2_500), "closed at the deadline, not after the whole trickle: \(elapsed)")
            #expect(await service.calls.isEmpty)
        }
    }

    @Test func trickledHeadersAreCutOffAtTheRequestDeadline() async throws {
        var options = HTTPOptions()
        // The idle timer would not end it before 10 s: the deadline must.
        options.idleTimeoutMs = 10_000
        options.requestReceiveMs = 600
        try await withHTTPServer(FakeNodeService(), options: options) { client in
            let head = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1:\(client.port)\r\nX-Slow: ".utf8)
            let rest = Array("abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n".utf8)
            let (elapsed, answered) = try await trickle(port: client.port, head: head, body: rest, gapMs: 100)
            #expect(!answered)
            #expect(elapsed < .milliseconds(2_500), "\(elapsed)")
        }
    }

    @Test func aConnectionServesManyRequestsAcrossTheDeadline() async throws {
        var options = HTTPOptions()
        options.requestReceiveMs = 300
        try await withHTTPServer(FakeNodeService(), options: options) { client in
            // Keep-alive: each request arrives whole at once; the deadline is per request.
            let requests = (0..<6).map { _ in rawRequest("GET", "/health") }
            let responses = try await client.exchange(requests)
            #expect(responses.map(\.status) == Array(repeating: 200, count: 6))
        }
    }

    @Test func theDeadlineStateMachineArmsOncePerRequest() {
        var state = RequestDeadlineState()
        #expect(state.bytesReceived() == .arm)
        #expect(state.bytesReceived() == .none, "more bytes of the same request do not extend it")
        #expect(state.requestEnded() == .cancel)
        #expect(state.bytesReceived() == .none, "a pipelined request behind the answer waits")
        #expect(state.responseEnded() == .arm, "and its deadline starts with the next answer's end")
        #expect(state.requestEnded() == .cancel)
        #expect(state.responseEnded() == .none)
        // An early answer (a refused body) before the request's end: the deadline holds the drain.
        #expect(state.bytesReceived() == .arm)
        #expect(state.responseEnded() == .none)
        #expect(state.bytesReceived() == .none)
        #expect(state.requestEnded() == .cancel)
        #expect(state.bytesReceived() == .arm)
    }
}

@Suite struct HTTPConnectionLimitTests {
    private func address(_ ip: String) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: 40_000) }

    @Test func oneRemoteSourceCannotTakeEverySlotAndLoopbackKeepsItsReserve() throws {
        var options = HTTPOptions()
        options.connectionsMax = 10
        options.connectionsReservedForLoopback = 3
        options.connectionsPerSourceMax = 4
        let limiter = ConnectionLimiter(options: options)
        var admitted: [ConnectionLimiter.Admission] = []
        for _ in 0..<4 { admitted.append(limiter.admit(try address("10.0.0.1"))) }
        #expect(admitted.allSatisfy { if case .admitted = $0 { true } else { false } })
        let fifth = limiter.admit(try address("10.0.0.1"))
        guard case .refused = fifth else {
            Issue.record("the fifth connection from one source is refused, got \(fifth)")
            return
        }
        for _ in 0..<3 { admitted.append(limiter.admit(try address("10.0.0.2"))) }
        #expect(limiter.openCount == 7)
        let overShared = limiter.admit(try address("10.0.0.3"))
        guard case .refused = overShared else {
            Issue.record("7 of 10 open, 3 kept for loopback: a remote source is refused, got \(overShared)")
            return
        }
        for _ in 0..<3 {
            let local = limiter.admit(try address("127.0.0.1"))
            #expect(local == .admitted(source: nil), "loopback uses the reserve")
            admitted.append(local)
        }
        let ipv6Local = limiter.admit(try address("::1"))
        #expect(ipv6Local == .admitted(source: nil))
        admitted.append(ipv6Local)
        for admission in admitted { limiter.release(admission) }
        limiter.release(fifth)
        limiter.release(overShared)
        #expect(limiter.openCount == 0, "every admission released, refusals never counted")
        #expect(limiter.admit(try address("10.0.0.1")) == .admitted(source: "10.0.0.1"))
    }

    @Test func theOptionsRefuseAReserveThatLeavesNoSharedSlot() {
        var options = HTTPOptions()
        options.connectionsMax = 10
        options.connectionsReservedForLoopback = 10
        #expect(throws: HTTPOptionsError.self) { try options.validate() }
    }
}

@Suite struct HTTPListPagingTests {
    /// One answer used to hold `limit` (up to 10,000) values of up to 1 MiB each: 10 GB of JSON.
    @Test func listsAreCappedByBytesAndPagedWithACursor() async throws {
        let service = FakeNodeService()
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: 100_000)
        let keys = (0..<45).map { String(format: "big/%03d", $0) }
        for key in keys { await service.seed(key, value) }
        await service.seed("other", [1])
        var options = HTTPOptions()
        options.listBytesMax = 1 << 20
        let bytesMax = options.listBytesMax
        try await withHTTPServer(service, options: options) { client in
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                pages += 1
                let target = "/data?prefix=big/&limit=10000" + (cursor.map { "&cursor=\($0)" } ?? "")
                let response = try await client.request("GET", target)
                try #require(response.status == 200, "\(response.text.prefix(300))")
                #expect(response.body.count <= bytesMax, "page \(pages) is \(response.body.count) bytes")
                let json = try #require(response.json)
                let items = try #require(json["items"] as? [[String: Any]])
                seen += items.compactMap { $0["key"] as? String }
                let more = try #require(json["more"] as? Bool)
                cursor = json["next"] as? String
                #expect(more == (cursor != nil), "next comes exactly with more")
                if let cursor {
                    #expect(cursor.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }, "URL-safe: \(cursor)")
                }
            } while cursor != nil && pages < 20
            #expect(seen == keys, "every key once, in order, over \(pages) pages")
            #expect(pages >= 5, "100 KB values in 1 MiB pages: \(pages) pages")
        }
    }

    @Test func aSingleItemLargerThanTheCapStillComesAlone() async throws {
        let service = FakeNodeService()
        for key in ["a", "b"] { await service.seed(key, [UInt8](repeating: 0x01, count: 3_000)) }
        var options = HTTPOptions()
        options.listBytesMax = 1_024
        try await withHTTPServer(service, options: options) { client in
            let first = try await client.request("GET", "/data")
            let json = try #require(first.json)
            #expect((json["items"] as? [Any])?.count == 1)
            let next = try #require(json["next"] as? String)
            let second = try await client.request("GET", "/data?cursor=\(next)")
            let items = try #require(second.json?["items"] as? [[String: Any]])
            #expect(items.map { $0["key"] as? String } == ["b"])
            #expect(second.json?["more"] as? Bool == false)
            #expect(second.json?["next"] == nil)
        }
    }

    @Test func aBadCursorIsABadRequest() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let otherPrefix = ListCursor.encode(key: "zzz")
            let tooLong = String(repeating: "A", count: 3_000)
            for cursor in ["!!!", "%FF%FE", otherPrefix, tooLong, "", "_-_-"] {
                let response = try await client.request("GET", "/data?prefix=a&cursor=\(cursor)")
                #expect(response.status == 400, "cursor \(cursor.prefix(20)): \(response.text)")
                #expect(response.errorCode == "bad_request")
            }
            #expect(await service.calls.isEmpty)
        }
    }

    @Test func cursorsRoundTripAnyKey() throws {
        for key in ["a", "user/1", "ключ", "a+b/c?d=e&f", String(repeating: "é", count: 512)] {
            let cursor = ListCursor.encode(key: key)
            #expect(try ListCursor.key(decoding: cursor, prefix: "", keyBytesMax: 1_024) == key)
        }
    }
}
