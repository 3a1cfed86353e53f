import RaftCore

/// Valid values of every shape the decoders read, to seed the corpora with their encodings.
enum Samples {
    static let membership = Membership(voters: [NodeID(1), NodeID(2), NodeID(3)], learners: [NodeID(9)])

    static let entries: [Entry] = [
        Entry(term: Term(1), index: LogIndex(1), kind: .noop),
        Entry(term: Term(1), index: LogIndex(2), kind: .command, data: Array("put k v".utf8)),
        Entry(
            term: Term(2), index: LogIndex(3), kind: .membership,
            data: MembershipChange(membership: membership, change: ConfigChange(.addLearner, NodeID(9))).encoded()),
        Entry(term: Term(3), index: LogIndex(4), kind: .command, data: [UInt8](repeating: 0xAB, count: 40)),
    ]

    static let snapshot = SnapshotMetadata(
        index: LogIndex(10), term: Term(3), membership: membership, membershipContext: Array("addresses".utf8))

    static let hardStates: [HardState] = [
        HardState(),
        HardState(term: Term(5), votedFor: NodeID(2), commit: LogIndex(4)),
        HardState(term: Term(UInt64.max), votedFor: nil, commit: LogIndex(UInt64.max)),
    ]

    /// One message of every payload case.
    static let messages: [Message] = {
        let payloads: [Payload] = [
            .voteRequest(
                VoteRequest(lastLogIndex: LogIndex(7), lastLogTerm: Term(2), isPreVote: true, isLeadershipTransfer: false)),
            .voteResponse(VoteResponse(isGranted: true, isPreVote: false)),
            .append(AppendRequest(previousIndex: LogIndex(0), previousTerm: Term(0), entries: entries, commit: LogIndex(2))),
            .append(AppendRequest(previousIndex: LogIndex(4), previousTerm: Term(3), entries: [], commit: LogIndex(4))),
            .appendResponse(AppendResponse(index: LogIndex(4), isRejected: true, hintIndex: LogIndex(2), hintTerm: Term(1))),
            .heartbeat(HeartbeatRequest(commit: LogIndex(4), readRound: 9)),
            .heartbeatResponse(HeartbeatResponse(readRound: 9)),
            .installSnapshot(snapshot),
            .timeoutNow,
            .propose([Entry(term: Term(0), index: LogIndex(0), data: Array("x".utf8))]),
            .readIndexRequest(ReadRequestID(77)),
            .readIndexResponse(ReadRequestID(77), LogIndex(4)),
            .readIndexResponse(ReadRequestID(78), nil),
        ]
        return payloads.map { Message(from: NodeID(1), to: NodeID(2), term: Term(3), payload: $0) }
    }()
}
