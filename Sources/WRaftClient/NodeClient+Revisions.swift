import WRaftAPI

// Transactions, leases and compaction (issue 12): the client side of POST /txn, POST /lease,
// GET|DELETE /lease/{id}, POST /lease/{id}/keepalive, GET /leases and POST /compact. Every
// answer decodes into the node's own view types (WRaftAPI).
extension NodeClient {
    /// `POST /txn`: compares, then the success or the failure operations, at one revision.
    /// `timeoutMs` is passed to the node as its deadline.
    public func txn(_ body: TxnBody, timeoutMs: Int? = nil) async throws(WRaftClientError) -> TxnView {
        let request = HTTPRequest(
            method: "POST", target: "/txn" + Self.timeoutQuery(timeoutMs), headers: Self.jsonHeaders,
            body: try encodeJSON(body))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(TxnView.self, from: response)
    }

    /// `POST /compact`: forgets the history at and below `revision`; answers the revision.
    @discardableResult
    public func compact(revision: UInt64, timeoutMs: Int? = nil) async throws(WRaftClientError) -> UInt64 {
        let request = HTTPRequest(
            method: "POST", target: "/compact" + Self.timeoutQuery(timeoutMs), headers: Self.jsonHeaders,
            body: try encodeJSON(CompactBody(revision: revision)))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(CompactBody.self, from: response).revision
    }

    /// `POST /lease`: grants a lease of `ttlSeconds` (with `id`, that id; else the cluster
    /// picks one); answers `{"id", "ttl"}`.
    public func grantLease(ttlSeconds: Int64, id: Int64? = nil, timeoutMs: Int? = nil) async throws(WRaftClientError)
        -> LeaseView
    {
        let request = HTTPRequest(
            method: "POST", target: "/lease" + Self.timeoutQuery(timeoutMs), headers: Self.jsonHeaders,
            body: try encodeJSON(LeaseGrantBody(ttl: ttlSeconds, id: id)))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(LeaseView.self, from: response)
    }

    /// `POST /lease/{id}/keepalive`: renews the lease's TTL on the leader; answers its TTL.
    public func keepAliveLease(id: Int64, timeoutMs: Int? = nil) async throws(WRaftClientError) -> LeaseView {
        let request = HTTPRequest(method: "POST", target: "/lease/\(id)/keepalive" + Self.timeoutQuery(timeoutMs))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(LeaseView.self, from: response)
    }

    /// `GET /lease/{id}`: its TTL, the time left on the leader's clock, and its keys.
    public func lease(id: Int64, timeoutMs: Int? = nil) async throws(WRaftClientError) -> LeaseView {
        let request = HTTPRequest(method: "GET", target: "/lease/\(id)" + Self.timeoutQuery(timeoutMs))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(LeaseView.self, from: response)
    }

    /// `DELETE /lease/{id}`: revokes the lease, deleting its keys; answers the revision that did.
    public func revokeLease(id: Int64, timeoutMs: Int? = nil) async throws(WRaftClientError) -> LeaseView {
        let request = HTTPRequest(method: "DELETE", target: "/lease/\(id)" + Self.timeoutQuery(timeoutMs))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(LeaseView.self, from: response)
    }

    /// `GET /leases`: every lease, ascending by id.
    public func leases(timeoutMs: Int? = nil) async throws(WRaftClientError) -> LeasesView {
        let request = HTTPRequest(method: "GET", target: "/leases" + Self.timeoutQuery(timeoutMs))
        let response = try await expectSuccess(request, timeoutMs: clientTimeout(forServerTimeout: timeoutMs))
        return try decodeJSON(LeasesView.self, from: response)
    }

    private static func timeoutQuery(_ timeoutMs: Int?) -> String {
        queryString(timeoutMs.map { [("timeoutMs", String($0))] } ?? [])
    }
}
