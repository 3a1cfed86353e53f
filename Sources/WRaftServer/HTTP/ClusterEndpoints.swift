import Hummingbird
import RaftCore
import WRaftAPI

// Cluster formation and inspection: /connect, /start, /state, /members/remove, /members/promote,
// /log, /health.

extension APIResponder {
    /// `POST /connect` `{"peer": "host:port"}`.
    nonisolated(nonsending) func connect(_ request: Request) async throws(APIError) -> Response {
        let body = try await readJSON(ConnectBody.self, request)
        let peer = try checkedRaftAddress(body.peer)
        let outcome = try await call { () async throws(NodeError) in try await service.connect(peerRaftAddress: peer) }
        let view: ConnectView
        switch outcome {
        case .merged(let members): view = ConnectView(result: .merged, clusterID: nil, members: members)
        case .joined(let clusterID, let members): view = ConnectView(result: .joined, clusterID: clusterID, members: members)
        }
        return jsonResponse(.ok, view.encodedJSON())
    }

    /// `POST /start`: answers `{"started": true}` once the node has started (idempotent).
    nonisolated(nonsending) func start() async throws(APIError) -> Response {
        try await call { () async throws(NodeError) in try await service.start() }
        return jsonResponse(.ok, StartedView(started: true).encodedJSON())
    }

    /// `POST /members/remove` `{"id": "..."}`: answers `{"removed": id}` once the change applied.
    nonisolated(nonsending) func removeMember(_ request: Request) async throws(APIError) -> Response {
        let deadline = try options.deadline(QueryParameters(request.uri.query))
        let body = try await readJSON(MemberIDBody.self, request)
        let id = try parseNodeID(body.id, field: "id")
        try await call { () async throws(NodeError) in try await service.removeMember(id, deadline: deadline) }
        return jsonResponse(.ok, RemovedView(removed: id.description).encodedJSON())
    }

    /// `POST /members/promote` `{"id": "..."}`: answers `{"promoted": id}` once the learner is a
    /// voter.
    nonisolated(nonsending) func promoteMember(_ request: Request) async throws(APIError) -> Response {
        let deadline = try options.deadline(QueryParameters(request.uri.query))
        let body = try await readJSON(MemberIDBody.self, request)
        let id = try parseNodeID(body.id, field: "id")
        try await call { () async throws(NodeError) in try await service.promoteMember(id, deadline: deadline) }
        return jsonResponse(.ok, PromotedView(promoted: id.description).encodedJSON())
    }

    /// `GET /state`.
    nonisolated(nonsending) func stateResponse() async -> Response {
        jsonResponse(.ok, await service.state().encodedJSON())
    }

    /// `GET /health`: 200 when the node serves and knows a leader; 503 (same fields, with
    /// `reason` and the error `no_leader` or `not_serving`) when not.
    nonisolated(nonsending) func healthResponse() async -> Response {
        let health = await service.health()
        let status = health.errorCode.map { HTTPResponse.Status(code: $0.httpStatus) } ?? .ok
        return jsonResponse(status, health.encodedJSON())
    }

    /// `GET /log?from=N&limit=M`; without `from`, the last `limit` entries.
    nonisolated(nonsending) func logResponse(_ query: QueryParameters) async throws(APIError) -> Response {
        let limit = try query.integer("limit", in: 1...options.logLimitMax) ?? options.logLimitDefault
        let from: LogIndex
        if let first = try query.logIndex("from") {
            from = first
        } else {
            let state = await service.state()
            let newest = max(LogIndex(state.lastLogIndex) - UInt64(limit - 1), LogIndex(state.snapshotIndex).next)
            from = max(newest, LogIndex(1))
        }
        return jsonResponse(.ok, await service.log(from: from, limit: limit).encodedJSON())
    }

    /// Reads and decodes a small JSON body (an empty body reads as `{}`).
    nonisolated(nonsending) func readJSON<Body: Decodable>(_ type: Body.Type, _ request: Request) async throws(APIError) -> Body {
        let buffer = try await readBody(request, limit: options.jsonBodyBytesMax) { [limit = options.jsonBodyBytesMax] _ in
            .bodyTooLarge(limit: limit)
        }
        return try decodeJSON(type, from: buffer, emptyIsObject: true)
    }
}
