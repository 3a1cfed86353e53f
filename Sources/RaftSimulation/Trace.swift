import RaftCore

/// One thing that happened in a simulation, stamped with the simulated time. Events are kept as
/// values and only formatted when a trace is printed, so recording them is cheap.
public struct TraceEvent: Sendable {
    public enum Kind: Sendable {
        case send(Message)
        case deliver(Message)
        case drop(Message, reason: String)
        case duplicate(Message)
        case ready(NodeID, ReadySummary)
        case role(NodeID, Role, Term)
        case crash(NodeID, stage: String)
        case restart(NodeID)
        case propose(NodeID, String)
        case refused(NodeID, String, ProposalError)
        case read(NodeID, ReadRequestID, LogIndex)
        case snapshot(NodeID, LogIndex)
        case network(String)
        case note(String)
        case violation(String)
    }

    public var time: UInt64
    public var kind: Kind
}

/// What a `Ready` carried, in numbers (entries and messages themselves are traced separately).
public struct ReadySummary: Sendable {
    public var hardState: HardState?
    public var firstEntry: LogIndex?
    public var lastEntry: LogIndex?
    public var snapshot: LogIndex?
    public var firstCommitted: LogIndex?
    public var lastCommitted: LogIndex?
    public var messageCount: Int
    public var readCount: Int

    init(_ ready: Ready) {
        hardState = ready.hardState
        firstEntry = ready.entries.first?.index
        lastEntry = ready.entries.last?.index
        snapshot = ready.snapshot?.index
        firstCommitted = ready.committedEntries.first?.index
        lastCommitted = ready.committedEntries.last?.index
        messageCount = ready.messages.count
        readCount = ready.readStates.count
    }
}

/// The last `capacity` events of a run (all of them when `capacity` is nil), plus an optional
/// live sink that prints each event as it happens (used when replaying one seed).
public struct Trace: Sendable {
    public let capacity: Int?
    private var events: [TraceEvent] = []
    private var start = 0
    /// Events dropped from the front because of `capacity`.
    public private(set) var droppedCount = 0

    public init(capacity: Int?) {
        precondition(capacity.map { $0 > 0 } ?? true, "Trace: capacity is positive")
        self.capacity = capacity
    }

    mutating func append(_ event: TraceEvent) {
        guard let capacity, events.count == capacity else {
            events.append(event)
            return
        }
        events[start] = event
        start = (start + 1) % capacity
        droppedCount += 1
    }

    /// The kept events, oldest first.
    public var orderedEvents: [TraceEvent] {
        Array(events[start...] + events[..<start])
    }

    /// The kept events, one compact line each, oldest first.
    public func formatted(lastCount: Int? = nil) -> String {
        var ordered = orderedEvents
        if let lastCount, ordered.count > lastCount { ordered = Array(ordered.suffix(lastCount)) }
        var lines: [String] = []
        if droppedCount > 0 || ordered.count < events.count {
            lines.append("... (\(droppedCount + events.count - ordered.count) earlier events not shown)")
        }
        lines.append(contentsOf: ordered.map(TraceFormat.line))
        return lines.joined(separator: "\n")
    }
}

/// Compact text for trace events: `t=120 n1->n2 t3 app 5/3 [6@3..7@3] c5`.
public enum TraceFormat {
    public static func line(_ event: TraceEvent) -> String {
        "t=\(event.time) " + describe(event.kind)
    }

    static func describe(_ kind: TraceEvent.Kind) -> String {
        switch kind {
        case .send(let message): return "send \(describe(message))"
        case .deliver(let message): return "recv \(describe(message))"
        case .drop(let message, let reason): return "drop(\(reason)) \(describe(message))"
        case .duplicate(let message): return "dup \(describe(message))"
        case .ready(let node, let summary): return "\(name(node)) ready \(describe(summary))"
        case .role(let node, let role, let term): return "\(name(node)) is \(role.rawValue) t\(term)"
        case .crash(let node, let stage): return "\(name(node)) CRASH \(stage)"
        case .restart(let node): return "\(name(node)) RESTART"
        case .propose(let node, let what): return "\(name(node)) propose \(what)"
        case .refused(let node, let what, let error): return "\(name(node)) refused \(what): \(error)"
        case .read(let node, let id, let index): return "\(name(node)) read#\(id) safe at \(index)"
        case .snapshot(let node, let index): return "\(name(node)) snapshot+compact at \(index)"
        case .network(let what): return "net \(what)"
        case .note(let what): return what
        case .violation(let what): return "VIOLATION \(what)"
        }
    }

    /// `n3` for small simulated ids, the hex form otherwise.
    public static func name(_ node: NodeID) -> String {
        node.rawValue < 1000 ? "n\(node.rawValue)" : node.description
    }

    public static func describe(_ message: Message) -> String {
        "\(name(message.from))->\(name(message.to)) t\(message.term) " + describe(message.payload)
    }

    static func describe(_ payload: Payload) -> String {
        switch payload {
        case .voteRequest(let request):
            return (request.isPreVote ? "prevote" : "vote") + " last=\(request.lastLogIndex)@\(request.lastLogTerm)"
                + (request.isLeadershipTransfer ? " transfer" : "")
        case .voteResponse(let response):
            return (response.isPreVote ? "prevote-resp " : "vote-resp ") + (response.isGranted ? "yes" : "no")
        case .append(let request):
            return "app \(request.previousIndex)@\(request.previousTerm) \(describe(request.entries)) c\(request.commit)"
        case .appendResponse(let response):
            return response.isRejected
                ? "app-resp reject \(response.index) hint=\(response.hintIndex)@\(response.hintTerm)"
                : "app-resp ok \(response.index)"
        case .heartbeat(let request): return "hb c\(request.commit)" + (request.readRound > 0 ? " r\(request.readRound)" : "")
        case .heartbeatResponse(let response): return "hb-resp" + (response.readRound > 0 ? " r\(response.readRound)" : "")
        case .installSnapshot(let metadata): return "snap \(metadata.index)@\(metadata.term) \(describe(metadata.membership))"
        case .timeoutNow: return "timeout-now"
        case .propose(let entries): return "fwd-propose \(entries.count)"
        case .readIndexRequest(let id): return "read-req #\(id)"
        case .readIndexResponse(let id, let index): return "read-resp #\(id) \(index.map(String.init(describing:)) ?? "none")"
        }
    }

    static func describe(_ entries: [Entry]) -> String {
        guard let first = entries.first, let last = entries.last else { return "[]" }
        if entries.count == 1 { return "[\(first.index)@\(first.term)\(kindMark(first))]" }
        return "[\(first.index)@\(first.term)..\(last.index)@\(last.term) (\(entries.count))]"
    }

    static func kindMark(_ entry: Entry) -> String {
        switch entry.kind {
        case .command: return ""
        case .noop: return " noop"
        case .membership: return " conf"
        }
    }

    static func describe(_ membership: Membership) -> String {
        let voters = membership.voters.sorted().map(name).joined(separator: ",")
        let learners = membership.learners.sorted().map(name).joined(separator: ",")
        return "{\(voters)" + (learners.isEmpty ? "" : " learners \(learners)") + "}"
    }

    static func describe(_ summary: ReadySummary) -> String {
        var parts: [String] = []
        if let hardState = summary.hardState {
            parts.append("hs(t\(hardState.term) v\(hardState.votedFor.map(name) ?? "-") c\(hardState.commit))")
        }
        if let snapshot = summary.snapshot { parts.append("snap \(snapshot)") }
        if let first = summary.firstEntry, let last = summary.lastEntry { parts.append("ents \(first)..\(last)") }
        if let first = summary.firstCommitted, let last = summary.lastCommitted { parts.append("apply \(first)..\(last)") }
        if summary.messageCount > 0 { parts.append("msgs \(summary.messageCount)") }
        if summary.readCount > 0 { parts.append("reads \(summary.readCount)") }
        return parts.joined(separator: " ")
    }
}
