import RaftCore
import WRaftSupport

/// How many seeds a randomized test runs: `WRAFT_TEST_SEEDS` from the environment, or `defaultCount`.
func seedCount(default defaultCount: Int) -> Int {
    guard let text = getEnvironment("WRAFT_TEST_SEEDS"), let count = Int(text), count > 0 else {
        return defaultCount
    }
    return count
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private func getEnvironment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Random Raft values for round-trip tests.
struct RandomValues {
    var generator: SplitMix64

    init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    mutating func uint64() -> UInt64 {
        // Mix small and full-range numbers so both ends of every field are exercised.
        switch UInt8.random(in: 0...3, using: &generator) {
        case 0: return 0
        case 1: return UInt64.random(in: 0...1000, using: &generator)
        case 2: return UInt64.max
        default: return generator.next()
        }
    }

    /// A term or index: both ends of the range the codec accepts (0 ... 2^48, `Term.wireMax`).
    mutating func termOrIndex() -> UInt64 {
        let bound: UInt64 = 1 << 48
        switch UInt8.random(in: 0...3, using: &generator) {
        case 0: return 0
        case 1: return UInt64.random(in: 0...1000, using: &generator)
        case 2: return bound
        default: return generator.next() % (bound + 1)
        }
    }

    mutating func bool() -> Bool { Bool.random(using: &generator) }

    mutating func bytes(countMax: Int = 64) -> [UInt8] {
        let count = Int.random(in: 0...countMax, using: &generator)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    mutating func entry() -> Entry {
        let kinds: [Entry.Kind] = [.command, .noop, .membership]
        return Entry(
            term: Term(termOrIndex()), index: LogIndex(termOrIndex()),
            kind: kinds[Int.random(in: 0..<kinds.count, using: &generator)], data: bytes())
    }

    mutating func entries() -> [Entry] {
        (0..<Int.random(in: 0...5, using: &generator)).map { _ in entry() }
    }

    mutating func membership() -> Membership {
        var voters = Set<NodeID>()
        var learners = Set<NodeID>()
        for _ in 0..<Int.random(in: 0...7, using: &generator) {
            let node = NodeID(uint64())
            if bool() {
                if !learners.contains(node) { voters.insert(node) }
            } else if !voters.contains(node) {
                learners.insert(node)
            }
        }
        return Membership(voters: voters, learners: learners)
    }

    mutating func snapshotMetadata() -> SnapshotMetadata {
        SnapshotMetadata(
            index: LogIndex(termOrIndex()), term: Term(termOrIndex()), membership: membership(),
            membershipContext: bytes())
    }

    mutating func hardState() -> HardState {
        HardState(term: Term(termOrIndex()), votedFor: bool() ? NodeID(uint64()) : nil, commit: LogIndex(termOrIndex()))
    }

    mutating func payload() -> Payload {
        switch Int.random(in: 0..<11, using: &generator) {
        case 0:
            return .voteRequest(
                VoteRequest(
                    lastLogIndex: LogIndex(termOrIndex()), lastLogTerm: Term(termOrIndex()), isPreVote: bool(),
                    isLeadershipTransfer: bool()))
        case 1: return .voteResponse(VoteResponse(isGranted: bool(), isPreVote: bool()))
        case 2:
            return .append(
                AppendRequest(
                    previousIndex: LogIndex(termOrIndex()), previousTerm: Term(termOrIndex()), entries: entries(),
                    commit: LogIndex(termOrIndex())))
        case 3:
            return .appendResponse(
                AppendResponse(
                    index: LogIndex(termOrIndex()), isRejected: bool(), hintIndex: LogIndex(termOrIndex()),
                    hintTerm: Term(termOrIndex())))
        case 4: return .heartbeat(HeartbeatRequest(commit: LogIndex(termOrIndex()), readRound: uint64()))
        case 5: return .heartbeatResponse(HeartbeatResponse(readRound: uint64()))
        case 6: return .installSnapshot(snapshotMetadata())
        case 7: return .timeoutNow
        case 8: return .propose(entries())
        case 9: return .readIndexRequest(ReadRequestID(uint64()))
        default: return .readIndexResponse(ReadRequestID(uint64()), bool() ? LogIndex(termOrIndex()) : nil)
        }
    }

    mutating func message() -> Message {
        Message(from: NodeID(uint64()), to: NodeID(uint64()), term: Term(termOrIndex()), payload: payload())
    }
}

/// One example of every payload case, for exhaustive round trips.
let everyPayload: [Payload] = [
    .voteRequest(VoteRequest(lastLogIndex: 7, lastLogTerm: 3, isPreVote: true, isLeadershipTransfer: false)),
    .voteRequest(VoteRequest(lastLogIndex: 0, lastLogTerm: 0, isPreVote: false, isLeadershipTransfer: true)),
    .voteResponse(VoteResponse(isGranted: true, isPreVote: false)),
    .voteResponse(VoteResponse(isGranted: false, isPreVote: true)),
    .append(
        AppendRequest(
            previousIndex: 4, previousTerm: 2,
            entries: [
                Entry(term: 2, index: 5, kind: .command, data: [1, 2, 3]),
                Entry(term: 3, index: 6, kind: .noop),
                Entry(term: 3, index: 7, kind: .membership, data: Array(repeating: 0xAB, count: 300)),
            ], commit: 4)),
    .append(AppendRequest(previousIndex: 9, previousTerm: 9, entries: [], commit: 9)),
    .appendResponse(AppendResponse(index: 12, isRejected: true, hintIndex: 10, hintTerm: 2)),
    .appendResponse(AppendResponse(index: 12)),
    .heartbeat(HeartbeatRequest(commit: 100, readRound: 42)),
    .heartbeatResponse(HeartbeatResponse(readRound: 42)),
    .installSnapshot(
        SnapshotMetadata(
            index: 1000, term: 7, membership: Membership(voters: [1, 2, 3], learners: [4]),
            membershipContext: Array("addresses".utf8))),
    .timeoutNow,
    .propose([Entry(term: 0, index: 0, kind: .command, data: Array("put k v".utf8))]),
    .readIndexRequest(ReadRequestID(77)),
    .readIndexResponse(ReadRequestID(77), 123),
    .readIndexResponse(ReadRequestID(78), nil),
]
