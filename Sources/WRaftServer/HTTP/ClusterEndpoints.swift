import Hummingbird
import RaftCore

// Cluster formation and inspection: /connect, /start, /state, /members/remove, /log, /health.

extension APIResponder {
    /// `POST /connect` `{"peer": "host:port"}`.
    func connect(_ request: Request) async throws(APIError) -> Response {
        let body = try await readJSON(ConnectBody.self, request)
        let peer = try checkedRaftAddress(body.peer)
        let outcome = try await call { () async throws(NodeError) in try await service.connect(peerRaftAddress: peer) }
        var writer = JSONWriter()
        writer.beginObject()
        switch outcome {
        case .merged(let members):
            writer.field("result", "merged")
            writeMembers(members, into: &writer)
        case .joined(let clusterID, let members):
            writer.field("result", "joined")
            writer.field("clusterID", clusterID)
            writeMembers(members, into: &writer)
        }
        writer.endObject()
        return jsonResponse(.ok, writer.buffer)
    }

    /// `POST /start`: answers `{"started": true}` once the node has started (idempotent).
    func start() async throws(APIError) -> Response {
        try await call { () async throws(NodeError) in try await service.start() }
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("started", true)
        writer.endObject()
        return jsonResponse(.ok, writer.buffer)
    }

    /// `POST /members/remove` `{"id": "..."}`: answers `{"removed": id}` once the change applied.
    func removeMember(_ request: Request) async throws(APIError) -> Response {
        let deadline = try options.deadline(QueryParameters(request.uri.query))
        let body = try await readJSON(RemoveMemberBody.self, request)
        let id = try parseNodeID(body.id, field: "id")
        try await call { () async throws(NodeError) in try await service.removeMember(id, deadline: deadline) }
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("removed", id.description)
        writer.endObject()
        return jsonResponse(.ok, writer.buffer)
    }

    /// `GET /state`.
    func stateResponse() async -> Response {
        jsonResponse(.ok, stateJSON(await service.state()))
    }

    /// `GET /health`: 200 when the node serves; 503 `not_serving` (same fields) when not.
    func healthResponse() async -> Response {
        let health = await service.health()
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("serving", health.serving)
        writer.field("status", health.status)
        writer.field("role", health.role)
        if !health.serving {
            writer.field("error", "not_serving")
            writer.field("message", "the node is \(health.status) and does not serve requests")
        }
        writer.endObject()
        return jsonResponse(health.serving ? .ok : .serviceUnavailable, writer.buffer)
    }

    /// `GET /log?from=N&limit=M`; without `from`, the last `limit` entries.
    func logResponse(_ query: QueryParameters) async throws(APIError) -> Response {
        let limit = try query.integer("limit", in: 1...options.logLimitMax) ?? options.logLimitDefault
        let from: LogIndex
        if let first = try query.logIndex("from") {
            from = first
        } else {
            let state = await service.state()
            let newest = max(LogIndex(state.lastLogIndex) - UInt64(limit - 1), LogIndex(state.snapshotIndex).next)
            from = max(newest, LogIndex(1))
        }
        return jsonResponse(.ok, logJSON(await service.log(from: from, limit: limit)))
    }

    /// Reads and decodes a small JSON body (an empty body reads as `{}`).
    func readJSON<Body: Decodable>(_ type: Body.Type, _ request: Request) async throws(APIError) -> Body {
        let buffer = try await readBody(request, limit: options.jsonBodyBytesMax) { [limit = options.jsonBodyBytesMax] _ in
            .bodyTooLarge(limit: limit)
        }
        return try decodeJSON(type, from: buffer, emptyIsObject: true)
    }
}

package struct ConnectBody: Decodable {
    var peer: String
}

package struct RemoveMemberBody: Decodable {
    var id: String
}

/// The body of `GET /state`, field for field as API.md names them; absent values are `null`.
func stateJSON(_ state: NodeStateView) -> ByteBuffer {
    var writer = JSONWriter(capacity: 512 + 200 * state.members.count)
    writer.beginObject()
    writer.field("id", state.id)
    writer.field("clusterID", state.clusterID)
    writer.field("raftAddress", state.raftAddress)
    writer.field("httpAddress", state.httpAddress)
    writer.field("status", state.status)
    writer.field("role", state.role)
    writer.field("term", state.term)
    writer.field("votedFor", state.votedFor)
    writer.key("leader")
    if let leader = state.leader {
        writer.beginObject()
        writer.field("id", leader.id)
        writer.field("raftAddress", leader.raftAddress)
        writer.field("httpAddress", leader.httpAddress)
        writer.endObject()
    } else {
        writer.null()
    }
    writer.field("commitIndex", state.commitIndex)
    writer.field("appliedIndex", state.appliedIndex)
    writer.field("lastLogIndex", state.lastLogIndex)
    writer.field("snapshotIndex", state.snapshotIndex)
    writer.field("keys", state.keys)
    writer.key("faults")
    writer.beginArray()
    for fault in state.faults { writer.string(fault) }
    writer.endArray()
    writeMembers(state.members, into: &writer)
    writer.endObject()
    return writer.buffer
}

/// `"members": [...]`; `matchIndex`, `nextIndex`, `lastContactMs` only where known (the leader).
private func writeMembers(_ members: [MemberView], into writer: inout JSONWriter) {
    writer.key("members")
    writer.beginArray()
    for member in members {
        writer.beginObject()
        writer.field("id", member.id)
        writer.field("raftAddress", member.raftAddress)
        writer.field("httpAddress", member.httpAddress)
        writer.field("voter", member.voter)
        if let matchIndex = member.matchIndex { writer.field("matchIndex", matchIndex) }
        if let nextIndex = member.nextIndex { writer.field("nextIndex", nextIndex) }
        if let lastContactMs = member.lastContactMs { writer.field("lastContactMs", lastContactMs) }
        writer.endObject()
    }
    writer.endArray()
}

/// `{"snapshotIndex","snapshotTerm","entries":[{"index","term","type","summary"}]}`.
func logJSON(_ log: LogView) -> ByteBuffer {
    var writer = JSONWriter(capacity: 64 + 80 * log.entries.count)
    writer.beginObject()
    writer.field("snapshotIndex", log.snapshotIndex)
    writer.field("snapshotTerm", log.snapshotTerm)
    writer.key("entries")
    writer.beginArray()
    for entry in log.entries {
        writer.beginObject()
        writer.field("index", entry.index)
        writer.field("term", entry.term)
        writer.field("type", entry.type)
        writer.field("summary", entry.summary)
        writer.endObject()
    }
    writer.endArray()
    writer.endObject()
    return writer.buffer
}
