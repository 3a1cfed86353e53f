import RaftCore

/// The bounds of the client session table. They are part of the replicated state (every replica
/// must evict identically), so a snapshot carries them.
public struct KVSessionLimits: Sendable, Equatable {
    /// The most client sessions remembered; past it the least recently used (by applied index)
    /// is evicted.
    public var sessionsMax: Int
    /// The most request results remembered per client: its highest applied sequences.
    public var resultsPerSessionMax: Int

    public init(sessionsMax: Int = 10_000, resultsPerSessionMax: Int = 64) {
        self.sessionsMax = sessionsMax
        self.resultsPerSessionMax = resultsPerSessionMax
    }

    /// The hard ceilings `validate()` (and snapshot decoding) enforce.
    public static let sessionsCeiling = 1_000_000
    public static let resultsPerSessionCeiling = 4_096

    public func validate() throws(KVCodecError) {
        guard (1...KVSessionLimits.sessionsCeiling).contains(sessionsMax) else {
            throw .invalidContent("sessionsMax \(sessionsMax) outside 1...\(KVSessionLimits.sessionsCeiling)")
        }
        guard (1...KVSessionLimits.resultsPerSessionCeiling).contains(resultsPerSessionMax) else {
            throw .invalidContent(
                "resultsPerSessionMax \(resultsPerSessionMax) outside 1...\(KVSessionLimits.resultsPerSessionCeiling)")
        }
    }
}

/// One client's memory of its applied requests (dissertation 6.3).
///
/// Invariant: `results` is sorted by strictly ascending sequence, holds at most
/// `resultsPerSessionMax` entries, and every sequence in it is above `forgottenThrough`.
struct ClientSession: Sendable, Equatable {
    /// The index of the last entry that used this session (the LRU order of eviction).
    var lastUsedIndex: LogIndex
    /// The highest sequence whose result was dropped from `results`. A request at or below it
    /// that is not remembered may have been applied already, so it is not applied again.
    var forgottenThrough: UInt64 = 0
    var results: [(sequence: UInt64, result: KVResult)] = []

    static func == (lhs: ClientSession, rhs: ClientSession) -> Bool {
        lhs.lastUsedIndex == rhs.lastUsedIndex && lhs.forgottenThrough == rhs.forgottenThrough
            && lhs.results.elementsEqual(rhs.results) { $0.sequence == $1.sequence && $0.result == $1.result }
    }

    /// The first result of `sequence` if it was applied and is remembered.
    func result(of sequence: UInt64) -> KVResult? {
        let position = insertionPoint(of: sequence)
        guard position < results.count, results[position].sequence == sequence else { return nil }
        return results[position].result
    }

    /// Records the result of a newly applied `sequence`, dropping the lowest beyond the bound.
    mutating func record(_ result: KVResult, for sequence: UInt64, resultsMax: Int) {
        if case .undecodable = result {
            preconditionFailure("ClientSession: an undecodable command has no session to record in")
        }
        let position = insertionPoint(of: sequence)
        precondition(
            position == results.count || results[position].sequence != sequence,
            "ClientSession: a sequence's result is recorded once")
        results.insert((sequence, result), at: position)
        if results.count > resultsMax {
            let dropped = results.removeFirst()
            forgottenThrough = max(forgottenThrough, dropped.sequence)
        }
    }

    private func insertionPoint(of sequence: UInt64) -> Int {
        var low = 0
        var high = results.count
        while low < high {
            let middle = (low + high) / 2
            if results[middle].sequence < sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// What the session table says about a request before it is applied.
enum SessionVerdict: Equatable {
    /// New: apply it, then `record` its result.
    case apply
    /// Seen before: answer with this result, do not apply.
    case duplicate(KVResult)
}

/// Every client's session, bounded, with deterministic least-recently-used eviction.
///
/// Invariant: `recency` holds exactly one entry per session, keyed by its `lastUsedIndex`
/// (entries use at most one session each, so the keys are distinct).
struct ClientSessions: Sendable, Equatable {
    let limits: KVSessionLimits
    private(set) var sessions: [UInt64: ClientSession] = [:]
    /// lastUsedIndex -> client, oldest first: the eviction order.
    private var recency = OrderedMap<LogIndex, UInt64>()

    init(limits: KVSessionLimits) {
        self.limits = limits
    }

    static func == (lhs: ClientSessions, rhs: ClientSessions) -> Bool {
        lhs.limits == rhs.limits && lhs.sessions == rhs.sessions
    }

    var count: Int { sessions.count }

    /// Looks `id` up and marks its session used by the entry at `index`, creating the session
    /// (evicting the least recently used one when full) if the client is unknown.
    mutating func admit(_ id: ClientRequestID, at index: LogIndex) -> SessionVerdict {
        guard var session = sessions[id.client] else {
            if sessions.count >= limits.sessionsMax { evictLeastRecentlyUsed() }
            insert(ClientSession(lastUsedIndex: index), for: id.client)
            return .apply
        }
        recency.removeValue(forKey: session.lastUsedIndex)
        session.lastUsedIndex = index
        recency.updateValue(id.client, forKey: index)
        sessions[id.client] = session
        if let first = session.result(of: id.sequence) { return .duplicate(first) }
        if id.sequence <= session.forgottenThrough { return .duplicate(.sessionExpired) }
        return .apply
    }

    /// Records the result of a request `admit` said to apply.
    mutating func record(_ result: KVResult, for id: ClientRequestID) {
        precondition(sessions[id.client] != nil, "ClientSessions: a result is recorded for an admitted client")
        sessions[id.client]?.record(result, for: id.sequence, resultsMax: limits.resultsPerSessionMax)
    }

    /// Restores one session (snapshot decoding).
    mutating func insert(_ session: ClientSession, for client: UInt64) {
        precondition(recency[session.lastUsedIndex] == nil, "ClientSessions: lastUsedIndex is unique per session")
        sessions[client] = session
        recency.updateValue(client, forKey: session.lastUsedIndex)
    }

    func isUsed(at index: LogIndex) -> Bool { recency[index] != nil }

    /// Every session in ascending client order (snapshots encode them canonically).
    var sortedByClient: [(client: UInt64, session: ClientSession)] {
        sessions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private mutating func evictLeastRecentlyUsed() {
        guard let (index, client) = recency.first else { return }
        recency.removeValue(forKey: index)
        sessions[client] = nil
    }
}
