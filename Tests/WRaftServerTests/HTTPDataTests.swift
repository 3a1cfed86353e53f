import Foundation
import RaftCore
import Testing

@testable import WRaftServer

// The key-value endpoints of API.md against a fake node.

@Suite struct HTTPDataTests {
    @Test func putAnswersKeyIndexTermAndProposesTheRawValue() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("PUT", "/data/color", body: Array("blue\u{0}\u{FF}".utf8))
            #expect(response.status == 200)
            #expect(response.header("content-type") == "application/json")
            let json = try #require(response.json)
            #expect(json["key"] as? String == "color")
            #expect(json["index"] as? Int == 11)
            #expect(json["term"] as? Int == 3)
            #expect(json["deleted"] == nil)
            let calls = await service.calls
            #expect(calls == [.write(WriteRequest(key: "color", operation: .put(value: Array("blue\u{0}\u{FF}".utf8))))])
        }
    }

    @Test func putWithAnEmptyBodyStoresAnEmptyValue() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let response = try await client.request("PUT", "/data/empty", body: [])
            #expect(response.status == 200)
            #expect(await service.calls == [.write(WriteRequest(key: "empty", operation: .put(value: [])))])
        }
    }

    @Test func compareAndSetConditionsComeFromTheQuery() async throws {
        let service = FakeNodeService()
        await service.seed("k", Array("old value".utf8))  // index 11
        try await withHTTPServer(service) { client in
            let byValue = try await client.request("PUT", "/data/k?prevValue=old+value", body: Array("v2".utf8))
            #expect(byValue.status == 200)
            let byIndex = try await client.request("PUT", "/data/k?prevIndex=12", body: Array("v3".utf8))
            #expect(byIndex.status == 200)
            let stale = try await client.request("PUT", "/data/k?prevIndex=12", body: Array("v4".utf8))
            #expect(stale.status == 412)
            #expect(stale.errorCode == "compare_failed")
            let staleValue = try await client.request("DELETE", "/data/k?prevValue=%6Fld")
            #expect(staleValue.status == 412)
            let calls = await service.calls
            #expect(
                calls == [
                    .write(WriteRequest(key: "k", operation: .put(value: Array("v2".utf8)), condition: .valueEquals(Array("old value".utf8)))),
                    .write(WriteRequest(key: "k", operation: .put(value: Array("v3".utf8)), condition: .indexEquals(12))),
                    .write(WriteRequest(key: "k", operation: .put(value: Array("v4".utf8)), condition: .indexEquals(12))),
                    .write(WriteRequest(key: "k", operation: .delete, condition: .valueEquals(Array("old".utf8)))),
                ])
        }
    }

    @Test func badConditionsAreRefusedBeforeTheNodeSeesThem() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for target in ["/data/k?prevIndex=abc", "/data/k?prevIndex=-1", "/data/k?prevIndex=1&prevValue=x", "/data/k?prevValue=%zz"] {
                let response = try await client.request("PUT", target, body: Array("v".utf8))
                #expect(response.status == 400, "\(target)")
                #expect(response.errorCode == "bad_request", "\(target)")
                #expect(response.json?["message"] is String)
            }
            #expect(await service.calls.isEmpty)
        }
    }

    @Test func getAnswersTheRawValueWithIndexAndTermHeaders() async throws {
        let service = FakeNodeService()
        await service.seed("greeting", Array("hello\r\n\u{1}".utf8))
        try await withHTTPServer(service) { client in
            let response = try await client.request("GET", "/data/greeting")
            #expect(response.status == 200)
            #expect(response.body == Array("hello\r\n\u{1}".utf8))
            #expect(response.header("X-Raft-Index") == "11")
            #expect(response.header("X-Raft-Term") == "3")
            #expect(response.header("content-type") == "application/octet-stream")
            #expect(await service.calls == [.read("greeting", .linearizable)])
        }
    }

    @Test func getOfAMissingKeyIsNotFoundJSON() async throws {
        try await withHTTPServer(FakeNodeService()) { client in
            let response = try await client.request("GET", "/data/nothing")
            #expect(response.status == 404)
            #expect(response.errorCode == "not_found")
            #expect(response.header("content-type") == "application/json")
        }
    }

    @Test func consistencyParameterIsPassedOrRefused() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            _ = try await client.request("GET", "/data/k?consistency=local")
            _ = try await client.request("GET", "/data/k?consistency=linearizable")
            let bad = try await client.request("GET", "/data/k?consistency=eventual")
            #expect(bad.status == 400)
            #expect(bad.errorCode == "bad_request")
            #expect(await service.calls == [.read("k", .local), .read("k", .linearizable)])
        }
    }

    @Test func deleteAnswersWhetherTheKeyExisted() async throws {
        let service = FakeNodeService()
        await service.seed("k", [1])
        try await withHTTPServer(service) { client in
            let first = try await client.request("DELETE", "/data/k")
            #expect(first.status == 200)
            #expect(first.json?["deleted"] as? Bool == true)
            #expect(first.json?["key"] as? String == "k")
            #expect(first.json?["index"] as? Int == 12)
            let second = try await client.request("DELETE", "/data/k")
            #expect(second.json?["deleted"] as? Bool == false)
        }
    }

    @Test func keysMayContainSlashesAndPercentEncodedBytes() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let status1 = try await client.request("PUT", "/data/a/b//c", body: [1]).status
            #expect(status1 == 200)
            let status2 = try await client.request("PUT", "/data/a%2Fb%20c+d", body: [2]).status
            #expect(status2 == 200)
            let status3 = try await client.request("PUT", "/data/%C3%A9t%C3%A9", body: [3]).status
            #expect(status3 == 200)
            let keys = await service.calls.compactMap { call -> String? in
                if case .write(let write) = call { return write.key }
                return nil
            }
            #expect(keys == ["a/b//c", "a/b c+d", "été"])
        }
    }

    @Test func badKeysAreRefused() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let longKey = String(repeating: "k", count: 2_048)
            let cases: [(String, String)] = [
                ("PUT", "/data/"), ("GET", "/data/"), ("DELETE", "/data/"), ("PUT", "/data/\(longKey)"),
                ("GET", "/data/\(longKey)"), ("PUT", "/data/%FF%FE"), ("PUT", "/data/abc%2"), ("PUT", "/data/%G0"),
            ]
            for (method, target) in cases {
                let response = try await client.request(method, target, body: method == "PUT" ? [1] : nil)
                #expect(response.status == 400, "\(method) \(target.prefix(40))")
                #expect(response.errorCode == "bad_key", "\(method) \(target.prefix(40))")
            }
            #expect(await service.calls.isEmpty)
            let longest = String(repeating: "k", count: 1_024)
            let status4 = try await client.request("PUT", "/data/\(longest)", body: [1]).status
            #expect(status4 == 200)
        }
    }

    @Test func valueOverOneMebibyteIs413AndTheNodeStaysHealthy() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let twoMebibytes = [UInt8](repeating: 0x61, count: 2 << 20)
            // Declared length over the limit, then a second request on the same connection:
            // the server drains the refused body and keeps serving.
            let responses = try await client.exchange([
                rawRequest("PUT", "/data/big", body: twoMebibytes), rawRequest("GET", "/health"),
            ])
            #expect(responses.map(\.status) == [413, 200])
            #expect(responses[0].errorCode == "value_too_large")
            // No declared length (chunked): refused once the body grows past the limit.
            let chunked = try await client.send(chunkedRequest("PUT", "/data/big", body: twoMebibytes, chunkBytes: 64 << 10))
            #expect(chunked.status == 413)
            #expect(chunked.errorCode == "value_too_large")
            let exactly = try await client.request("PUT", "/data/max", body: [UInt8](repeating: 1, count: 1 << 20))
            #expect(exactly.status == 200)
            let status5 = try await client.request("GET", "/health").status
            #expect(status5 == 200)
            #expect(await service.calls == [.write(WriteRequest(key: "max", operation: .put(value: [UInt8](repeating: 1, count: 1 << 20))))])
        }
    }

    @Test func listAnswersItemsAndMoreWithBase64ForBinaryValues() async throws {
        let service = FakeNodeService()
        await service.seed("user/1", Array("ann \"the\" admin\n".utf8))
        await service.seed("user/2", [0xFF, 0x00, 0x10])
        await service.seed("user/3", Array("cé".utf8))
        await service.seed("zzz", [1])
        try await withHTTPServer(service) { client in
            let response = try await client.request("GET", "/data?prefix=user%2F&limit=2&consistency=local")
            #expect(response.status == 200)
            let json = try #require(response.json)
            #expect(json["more"] as? Bool == true)
            let items = try #require(json["items"] as? [[String: Any]])
            #expect(items.count == 2)
            #expect(items[0]["key"] as? String == "user/1")
            #expect(items[0]["value"] as? String == "ann \"the\" admin\n")
            #expect(items[0]["index"] as? Int == 11)
            #expect(items[0]["encoding"] == nil)
            #expect(items[1]["value"] as? String == Data([0xFF, 0x00, 0x10]).base64EncodedString())
            #expect(items[1]["encoding"] as? String == "base64")
            let all = try await client.request("GET", "/data")
            #expect(((all.json?["items"] as? [Any])?.count) == 4)
            #expect(all.json?["more"] as? Bool == false)
            #expect(
                await service.calls == [
                    .list(prefix: "user/", limit: 2, .local), .list(prefix: "", limit: 1_000, .linearizable),
                ])
        }
    }

    @Test func listLimitIsBounded() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            for target in ["/data?limit=0", "/data?limit=10001", "/data?limit=ten", "/data?consistency=x"] {
                let response = try await client.request("GET", target)
                #expect(response.status == 400, "\(target)")
                #expect(response.errorCode == "bad_request", "\(target)")
            }
            let status6 = try await client.request("GET", "/data?limit=10000").status
            #expect(status6 == 200)
            #expect(await service.calls == [.list(prefix: "", limit: 10_000, .linearizable)])
        }
    }

    @Test func setPutsAndDeletesLikeTheDataEndpoints() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let put = try await client.request("POST", "/set", body: Array(#"{"key":"k","value":"v\u00e9"}"#.utf8))
            #expect(put.status == 200)
            #expect(put.json?["key"] as? String == "k")
            #expect(put.json?["index"] as? Int == 11)
            let binary = try await client.request(
                "POST", "/set", body: Array(#"{"key":"b","value":"/wAQ","encoding":"base64","prevIndex":0}"#.utf8))
            #expect(binary.status == 200)
            let delete = try await client.request("POST", "/set", body: Array(#"{"key":"k","delete":true,"prevValue":"vé"}"#.utf8))
            #expect(delete.status == 200)
            #expect(delete.json?["deleted"] as? Bool == true)
            #expect(
                await service.calls == [
                    .write(WriteRequest(key: "k", operation: .put(value: Array("vé".utf8)))),
                    .write(WriteRequest(key: "b", operation: .put(value: [0xFF, 0x00, 0x10]), condition: .indexEquals(0))),
                    .write(WriteRequest(key: "k", operation: .delete, condition: .valueEquals(Array("vé".utf8)))),
                ])
        }
    }

    @Test func setRefusesBadBodies() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let cases: [(String, Int, String)] = [
                ("{not json", 400, "bad_json"),
                ("", 400, "bad_json"),
                ("[1,2]", 400, "bad_json"),
                (#"{"value":"v"}"#, 400, "bad_json"),
                (#"{"key":5,"value":"v"}"#, 400, "bad_json"),
                (#"{"key":"","value":"v"}"#, 400, "bad_key"),
                (#"{"key":"\#(String(repeating: "x", count: 1_025))","value":"v"}"#, 400, "bad_key"),
                (#"{"key":"k"}"#, 400, "bad_request"),
                (#"{"key":"k","value":"v","delete":true}"#, 400, "bad_request"),
                (#"{"key":"k","value":"!!","encoding":"base64"}"#, 400, "bad_request"),
                (#"{"key":"k","value":"v","encoding":"rot13"}"#, 400, "bad_request"),
                (#"{"key":"k","value":"v","prevValue":"a","prevIndex":1}"#, 400, "bad_request"),
                (#"{"key":"k","value":"\#(String(repeating: "x", count: (1 << 20) + 1))"}"#, 413, "value_too_large"),
            ]
            for (body, status, code) in cases {
                let response = try await client.request("POST", "/set", body: Array(body.utf8))
                #expect(response.status == status, "\(body.prefix(60))")
                #expect(response.errorCode == code, "\(body.prefix(60))")
            }
            let huge = try await client.request("POST", "/set", body: [UInt8](repeating: 0x20, count: 5 << 20))
            #expect(huge.status == 413)
            #expect(await service.calls.isEmpty)
        }
    }

    @Test func timeoutMsSetsTheDeadlineWithinBounds() async throws {
        let service = FakeNodeService()
        try await withHTTPServer(service) { client in
            let before = ContinuousClock.now
            let status7 = try await client.request("PUT", "/data/k?timeoutMs=60000", body: [1]).status
            #expect(status7 == 200)
            let deadline = try #require(await service.lastDeadline)
            #expect(deadline > before + .seconds(59))
            #expect(deadline < ContinuousClock.now + .seconds(61))
            let status8 = try await client.request("GET", "/data/k").status
            #expect(status8 == 200)
            let defaultDeadline = try #require(await service.lastDeadline)
            #expect(defaultDeadline < ContinuousClock.now + .seconds(5))
            #expect(defaultDeadline > ContinuousClock.now + .seconds(3))
            for target in ["/data/k?timeoutMs=0", "/data/k?timeoutMs=60001", "/data/k?timeoutMs=soon", "/data?timeoutMs=-5"] {
                let response = try await client.request("GET", target)
                #expect(response.status == 400, "\(target)")
                #expect(response.errorCode == "bad_request", "\(target)")
            }
        }
    }
}

/// A request whose body is sent with `Transfer-Encoding: chunked` (no declared length).
func chunkedRequest(_ method: String, _ target: String, body: [UInt8], chunkBytes: Int) -> [UInt8] {
    var request = rawRequest(method, target, headers: [("Transfer-Encoding", "chunked")])
    var offset = 0
    while offset < body.count {
        let end = min(offset + chunkBytes, body.count)
        request += Array((String(end - offset, radix: 16) + "\r\n").utf8) + body[offset..<end] + Array("\r\n".utf8)
        offset = end
    }
    request += Array("0\r\n\r\n".utf8)
    return request
}
