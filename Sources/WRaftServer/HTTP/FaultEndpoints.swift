import Hummingbird
import RaftCore
import WRaftAPI

// POST /op/{pause,resume,isolate,delay,drop,heal,crash,step-down,transfer,snapshot,freeze,release}.

extension APIResponder {
    /// Parses the fault named in the path (and its body), injects it, answers `{"op": name, "ok": true}`.
    nonisolated(nonsending) func injectFault(named name: Substring, _ request: Request) async throws(APIError) -> Response {
        guard let faultName = FaultName(rawValue: String(name)) else {
            throw .node(.notFound(message: "no fault \"\(name.prefix(40))\"; see API.md"))
        }
        let fault = try await faultCommand(named: faultName, request)
        try await call { () async throws(NodeError) in try await service.inject(fault) }
        return jsonResponse(.ok, FaultInjectedView(op: faultName, ok: true).encodedJSON())
    }

    private nonisolated(nonsending) func faultCommand(named name: FaultName, _ request: Request) async throws(APIError) -> FaultCommand {
        switch name {
        case .pause: return .pause
        case .resume: return .resume
        case .heal: return .heal
        case .crash: return .crash
        case .stepDown: return .stepDown
        case .snapshot: return .snapshot
        case .freeze: return .freeze
        case .release: return .release
        case .isolate:
            let body = try await readJSON(IsolateBody.self, request)
            guard let ids = body.peers else { return .isolate(peers: nil) }
            var peers: [NodeID] = []
            for id in ids { peers.append(try parseNodeID(id, field: "peers")) }
            return .isolate(peers: peers)
        case .delay:
            let body = try await readJSON(DelayBody.self, request)
            let range = 0...options.faultDelayMsMax
            let ms = try wholeMilliseconds(body.ms, field: "ms", in: range)
            let jitterMs = try body.jitterMs.map { value throws(APIError) in
                try wholeMilliseconds(value, field: "jitterMs", in: range)
            }
            return .delay(ms: ms, jitterMs: jitterMs ?? 0)
        case .drop:
            let body = try await readJSON(DropBody.self, request)
            guard body.rate >= 0, body.rate <= 1 else { throw .badRequest("rate must lie in 0...1") }
            return .drop(rate: body.rate)
        case .transfer:
            let body = try await readJSON(TransferBody.self, request)
            return .transfer(to: try parseNodeID(body.to, field: "to"))
        }
    }
}

/// A JSON number that must be a whole count of milliseconds in `range`; else `400` naming `field`.
private func wholeMilliseconds(_ value: Double, field: String, in range: ClosedRange<Int>) throws(APIError) -> Int {
    guard value.isFinite, value.rounded() == value, value >= Double(range.lowerBound), value <= Double(range.upperBound)
    else {
        throw .badRequest("\(field) must be a whole number in \(range.lowerBound)...\(range.upperBound), not \(value)")
    }
    return Int(value)
}
