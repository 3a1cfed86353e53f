import RaftCore

extension NodeEvent {
    /// The event as one line of JSON (the `data:` of its Server-Sent Event): `seq`, `timeMs`,
    /// `type`, and the fields of its type (README, "GET /events").
    var jsonText: String {
        var fields: [(String, String)] = [("seq", String(sequence)), ("timeMs", String(timeMs))]
        func string(_ key: String, _ value: String) { fields.append((key, Self.quoted(value))) }
        func number(_ key: String, _ value: some BinaryInteger) { fields.append((key, String(value))) }
        func bool(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }
        func id(_ key: String, _ value: NodeID?) { fields.append((key, value.map { Self.quoted($0.description) } ?? "null")) }
        func ids(_ key: String, _ values: [NodeID]) {
            fields.append((key, "[" + values.map { Self.quoted($0.description) }.joined(separator: ",") + "]"))
        }
        switch kind {
        case .raft(let event):
            switch event {
            case .state(let role, let term, let leader):
                string("type", "state")
                string("role", role.rawValue)
                number("term", term.rawValue)
                id("leader", leader)
            case .campaign(let term, let isPreVote, let isTransfer):
                string("type", "campaign")
                number("term", term.rawValue)
                bool("preVote", isPreVote)
                bool("transfer", isTransfer)
            case .voteCast(let candidate, let term, let isPreVote, let isGranted, let reason):
                string("type", "vote-cast")
                id("candidate", candidate)
                number("term", term.rawValue)
                bool("preVote", isPreVote)
                bool("granted", isGranted)
                string("reason", reason.rawValue)
            case .voteReceived(let from, let term, let isPreVote, let isGranted, let grantedCount, let refusedCount):
                string("type", "vote-received")
                id("from", from)
                number("term", term.rawValue)
                bool("preVote", isPreVote)
                bool("granted", isGranted)
                number("grantedCount", grantedCount)
                number("refusedCount", refusedCount)
            case .electionTimerReset(let ticksLeft):
                string("type", "timer-reset")
                number("ticksLeft", ticksLeft)
            case .committed(let index, let term):
                string("type", "commit")
                number("index", index.rawValue)
                number("term", term.rawValue)
            }
        case .message(let message):
            string("type", message.isSent ? "sent" : "received")
            string("message", message.type)
            id("peer", message.peer)
            number("term", message.term.rawValue)
            number("index", message.index.rawValue)
            number("entries", message.entryCount)
            if message.isRejected {
                bool("rejected", true)
                number("hintIndex", message.hintIndex.rawValue)
            }
            if message.type.hasSuffix("vote-response") { bool("granted", message.isGranted) }
        case .persisted(let lastIndex, let entryCount):
            string("type", "persisted")
            number("lastIndex", lastIndex.rawValue)
            number("entries", entryCount)
        case .applied(let index):
            string("type", "applied")
            number("index", index.rawValue)
        case .snapshot(let index, let term, let isReceived):
            string("type", "snapshot")
            number("index", index.rawValue)
            number("term", term.rawValue)
            bool("received", isReceived)
        case .membership(let index, let voters, let learners):
            string("type", "membership")
            number("index", index.rawValue)
            ids("voters", voters)
            ids("learners", learners)
        case .fault(let name, let active):
            string("type", "fault")
            string("fault", name)
            fields.append(("active", "[" + active.map(Self.quoted).joined(separator: ",") + "]"))
        case .summary(let messages, let others):
            string("type", "summary")
            number("messages", messages)
            number("others", others)
        case .timing(let tickMs, let heartbeatMs, let electionTimeoutMs):
            string("type", "timing")
            number("tickMs", tickMs)
            number("heartbeatMs", heartbeatMs)
            number("electionTimeoutMs", electionTimeoutMs)
        }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// A JSON string literal of `text` (quotes, backslashes and control characters escaped).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
