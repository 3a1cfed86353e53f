import RaftCore

/// A broken Raft property, found by a checker at simulated time `time`.
public struct SafetyViolation: Sendable, Equatable, CustomStringConvertible {
    /// Which property broke: "ElectionSafety", "LogMatching", "LeaderCompleteness",
    /// "StateMachineSafety", "Monotonicity", "Durability", "ReadyContract", "LinearizableRead",
    /// "ClientOutcome" (a client write answered "not applied" that was applied), "Liveness".
    public var property: String
    public var detail: String
    public var time: UInt64

    public var description: String { "t=\(time) \(property): \(detail)" }
}

/// The cluster-wide checkers. The simulator reports what it observes (entries made durable,
/// entries applied, leaders, commit indices, reads) and the checker compares it with everything
/// seen before. None of this can be checked by one node alone.
struct SafetyChecker {
    struct IndexTerm: Hashable {
        var index: LogIndex
        var term: Term
    }

    /// What Log Matching pins down for an (index, term) pair: the entry's content and the term of
    /// the entry before it. Both unique per pair implies, by induction, identical prefixes.
    struct EntryIdentity: Equatable {
        var fingerprint: UInt64
        var previousTerm: Term
    }

    private(set) var violations: [SafetyViolation] = []
    /// Election Safety: the one leader each term had.
    private var leaderOfTerm: [Term: NodeID] = [:]
    /// Log Matching: every (index, term) pair seen in a durable log or an append message.
    private var entryIdentities: [IndexTerm: EntryIdentity] = [:]
    /// The one history every state machine applies a prefix of. Element `i` describes entry `i`
    /// (element 0 is the empty history).
    private(set) var historyDigests: [UInt64] = [DigestStateMachine.emptyDigest]
    private var historyTerms: [Term] = [.zero]
    private var historyFingerprints: [UInt64] = [0]
    /// The highest index any node knew committed.
    private(set) var committedMax: LogIndex = .zero

    /// The length of the applied history (the highest index any node applied).
    var historyLastIndex: LogIndex { LogIndex(UInt64(historyDigests.count - 1)) }

    /// The digest of the history up to `index`, if that much of it was applied somewhere.
    func historyDigest(at index: LogIndex) -> UInt64? {
        index.rawValue < historyDigests.count ? historyDigests[Int(index.rawValue)] : nil
    }

    func historyTerm(at index: LogIndex) -> Term? {
        index.rawValue < historyTerms.count ? historyTerms[Int(index.rawValue)] : nil
    }

    mutating func fail(_ property: String, _ detail: String, at time: UInt64) {
        violations.append(SafetyViolation(property: property, detail: detail, time: time))
    }

    // MARK: Election Safety

    /// `node` is leader in `term`. Returns true the first time this term's leader is seen.
    mutating func observeLeader(_ node: NodeID, term: Term, at time: UInt64) -> Bool {
        if let existing = leaderOfTerm[term] {
            if existing != node {
                fail("ElectionSafety", "two leaders in term \(term): \(TraceFormat.name(existing)) and \(TraceFormat.name(node))", at: time)
            }
            return false
        }
        leaderOfTerm[term] = node
        return true
    }

    // MARK: Log Matching

    /// `entries` (contiguous) follow an entry of term `previousTerm` in some log.
    mutating func observeLogSegment(_ entries: [Entry], previousTerm: Term, source: String, at time: UInt64) {
        var previous = previousTerm
        for entry in entries {
            let key = IndexTerm(index: entry.index, term: entry.term)
            let identity = EntryIdentity(fingerprint: DigestStateMachine.fingerprint(of: entry), previousTerm: previous)
            if let known = entryIdentities[key] {
                if known != identity {
                    let what = known.fingerprint != identity.fingerprint ? "different contents" : "different predecessors (term \(known.previousTerm) vs \(previous))"
                    fail("LogMatching", "entry \(entry.index)@\(entry.term) seen with \(what) in \(source)", at: time)
                    return
                }
            } else {
                entryIdentities[key] = identity
            }
            previous = entry.term
        }
    }

    // MARK: State Machine Safety

    /// `node` applied `entry` (its state machine's digest is now `digest`).
    mutating func observeApplied(_ entry: Entry, digest: UInt64, node: NodeID, at time: UInt64) {
        let position = Int(entry.index.rawValue)
        if position < historyDigests.count {
            if historyDigests[position] != digest {
                fail("StateMachineSafety", "\(TraceFormat.name(node)) applied \(entry.index)@\(entry.term) but the history has \(entry.index)@\(historyTerms[position]) (digests differ)", at: time)
            }
            return
        }
        precondition(position == historyDigests.count, "SafetyChecker: the runtime applies contiguously")
        historyDigests.append(digest)
        historyTerms.append(entry.term)
        historyFingerprints.append(DigestStateMachine.fingerprint(of: entry))
        if entry.index > committedMax { committedMax = entry.index }
    }

    /// `node` restored a state machine (at start or from a snapshot) that claims to be the history
    /// up to `machine.appliedIndex`.
    mutating func observeRestored(_ machine: DigestStateMachine, node: NodeID, at time: UInt64) {
        guard let expected = historyDigest(at: machine.appliedIndex) else {
            fail("StateMachineSafety", "\(TraceFormat.name(node)) restored a snapshot at \(machine.appliedIndex) beyond anything ever applied (\(historyLastIndex))", at: time)
            return
        }
        if expected != machine.digest {
            fail("StateMachineSafety", "\(TraceFormat.name(node)) restored a snapshot at \(machine.appliedIndex) that is not a prefix of the history", at: time)
        }
    }

    // MARK: Commit

    mutating func observeCommit(_ index: LogIndex) {
        if index > committedMax { committedMax = index }
    }

    // MARK: Leader Completeness

    /// Every entry of the history above `from` that `log` should hold, checked against it:
    /// `log` returns the leader's entries from an index (empty where it has none).
    mutating func checkLeaderCompleteness(
        leader: NodeID, term: Term, snapshotIndex: LogIndex, at time: UInt64,
        log: (LogIndex, Int) -> [Entry]
    ) {
        var index = snapshotIndex.next
        let last = historyLastIndex
        while index <= last {
            let chunk = log(index, 512)
            guard !chunk.isEmpty else {
                fail("LeaderCompleteness", "leader \(TraceFormat.name(leader)) of term \(term) lacks committed entry \(index) (history reaches \(last))", at: time)
                return
            }
            for entry in chunk where entry.index <= last {
                let position = Int(entry.index.rawValue)
                guard entry.index == index, DigestStateMachine.fingerprint(of: entry) == historyFingerprints[position] else {
                    fail("LeaderCompleteness", "leader \(TraceFormat.name(leader)) of term \(term) has \(entry.index)@\(entry.term) where committed \(index)@\(historyTerms[position]) is", at: time)
                    return
                }
                index = index.next
            }
            if chunk.last.map({ $0.index >= last }) ?? true { break }
        }
    }
}
