import Testing

@testable import WRaftServer

/// The quota's error on the wire: `507 quota_exceeded` with the usual JSON error body.
@Suite struct HTTPQuotaTests {
    @Test func aWritePastTheQuotaIs507QuotaExceeded() async throws {
        let service = FakeNodeService()
        await service.failNext(with: .quotaExceeded(bytes: 3_000_000, limit: 2 << 20))
        try await withHTTPServer(service) { client in
            let response = try await client.request("PUT", "/data/big", body: [1, 2, 3])
            #expect(response.status == 507)
            let json = try #require(response.json)
            #expect(json["error"] as? String == "quota_exceeded")
            let message = try #require(json["message"] as? String)
            #expect(message.contains("3000000") && message.contains("\(2 << 20)"))
            #expect(response.header("retry-after") == nil)
        }
    }
}
