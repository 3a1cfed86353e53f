import Hummingbird
import RaftCore

// POST /op/{pause,resume,isolate,delay,drop,heal,crash,step-down,transfer,snapshot}.

extension APIResponder {
    /// Parses the fault named in the path (and its body), injects it, answers `{"op": name, "ok": true}`.
    func injectFault(named name: Substring, _ request: Request) async throws(APIError) -> Response {
        let fault = try await faultCommand(named: name, request)
        try await call { () async throws(NodeError) in try await service.inject(fault) }
        var writer = JSONWriter()
        writer.beginObject()
        writer.field("op", String(name))
        writer.field("ok", true)
        writer.endObject()
        return jsonResponse(.ok, writer.buffer)
    }

    private func faultCommand(named name: Substring, _ request: Request) async throws(APIError) -> FaultCommand {
        switch name {
        case "pause": return .pause
        case "resume": return .resume
        case "heal": return .heal
        case "crash": return .crash
        case "step-down": return .stepDown
        case "snapshot": return .snapshot
        case "isolate":
            let body = try await readJSON(IsolateBody.self, request)
            guard let ids = body.peers else { return .isolate(peers: nil) }
            var peers: [NodeID] = []
            for id in ids { peers.append(try parseNodeID(id, field: "peers")) }
            return .isolate(peers: peers)
        case "delay":
            let body = try await readJSON(DelayBody.self, request)
            let range = 0...options.faultDelayMsMax
            guard range.contains(body.ms), range.contains(body.jitterMs ?? 0) else {
                throw .badRequest("ms and jitterMs must lie in 0...\(options.faultDelayMsMax)")
            }
            return .delay(ms: body.ms, jitterMs: body.jitterMs ?? 0)
        case "drop":
            let body = try await readJSON(DropBody.self, request)
            guard body.rate >= 0, body.rate <= 1 else { throw .badRequest("rate must lie in 0...1") }
            return .drop(rate: body.rate)
        case "transfer":
            let body = try await readJSON(TransferBody.self, request)
            return .transfer(to: try parseNodeID(body.to, field: "to"))
        default:
            throw .node(.notFound(message: "no fault \"\(name.prefix(40))\"; see API.md"))
        }
    }
}

package struct IsolateBody: Decodable {
    /// Absent: isolate from every peer.
    var peers: [String]?
}

package struct DelayBody: Decodable {
    var ms: Int
    var jitterMs: Int?
}

package struct DropBody: Decodable {
    var rate: Double
}

package struct TransferBody: Decodable {
    var to: String
}
