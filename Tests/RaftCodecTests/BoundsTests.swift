import NIOCore
import RaftCodec
import RaftCore
import Testing

/// Issue 8, finding 2: terms and indices from the wire are bounded (`Term.wireMax`,
/// `LogIndex.wireMax`, 2^48). A forged term of 2^63-1 is a decoding error, in every field that
/// carries a term or an index, and a value at the bound still decodes.
@Suite struct CodecBoundsTests {
    // Spelled out rather than read from `Term.wireMax`, so the test states the rule itself.
    static let bound: UInt64 = 1 << 48

    /// Every place a message carries a term or an index, with that one number set to `value`.
    static func messages(with value: UInt64) -> [(field: String, message: Message)] {
        let term = Term(value)
        let index = LogIndex(value)
        func message(_ payload: Payload, term messageTerm: Term = 5) -> Message {
            Message(from: 1, to: 2, term: messageTerm, payload: payload)
        }
        let metadata = SnapshotMetadata(index: 3, term: 2, membership: Membership(voters: [1]))
        return [
            ("Message.term", message(.heartbeat(HeartbeatRequest(commit: 1)), term: term)),
            ("VoteRequest.lastLogIndex", message(.voteRequest(VoteRequest(lastLogIndex: index, lastLogTerm: 1, isPreVote: false, isLeadershipTransfer: false)))),
            ("VoteRequest.lastLogTerm", message(.voteRequest(VoteRequest(lastLogIndex: 1, lastLogTerm: term, isPreVote: true, isLeadershipTransfer: false)))),
            ("AppendRequest.previousIndex", message(.append(AppendRequest(previousIndex: index, previousTerm: 1, entries: [], commit: 1)))),
            ("AppendRequest.previousTerm", message(.append(AppendRequest(previousIndex: 1, previousTerm: term, entries: [], commit: 1)))),
            ("AppendRequest.commit", message(.append(AppendRequest(previousIndex: 1, previousTerm: 1, entries: [], commit: index)))),
            ("AppendRequest entry term", message(.append(AppendRequest(previousIndex: 1, previousTerm: 1, entries: [Entry(term: term, index: 2)], commit: 1)))),
            ("AppendRequest entry index", message(.append(AppendRequest(previousIndex: 1, previousTerm: 1, entries: [Entry(term: 1, index: index)], commit: 1)))),
            ("AppendResponse.index", message(.appendResponse(AppendResponse(index: index)))),
            ("AppendResponse.hintIndex", message(.appendResponse(AppendResponse(index: 1, isRejected: true, hintIndex: index, hintTerm: 1)))),
            ("AppendResponse.hintTerm", message(.appendResponse(AppendResponse(index: 1, isRejected: true, hintIndex: 1, hintTerm: term)))),
            ("Heartbeat.commit", message(.heartbeat(HeartbeatRequest(commit: index, readRound: 1)))),
            ("InstallSnapshot index", message(.installSnapshot(SnapshotMetadata(index: index, term: 1, membership: metadata.membership)))),
            ("InstallSnapshot term", message(.installSnapshot(SnapshotMetadata(index: 1, term: term, membership: metadata.membership)))),
            ("Propose entry term", message(.propose([Entry(term: term, index: 0, data: [1])]))),
            ("Propose entry index", message(.propose([Entry(term: 0, index: index, data: [1])]))),
            ("ReadIndexResponse.index", message(.readIndexResponse(ReadRequestID(7), index))),
        ]
    }

    @Test func aForgedHugeTermOrIndexIsADecodingErrorInEveryField() {
        for value in [Self.bound + 1, UInt64.max / 2, UInt64.max] {
            for (field, message) in Self.messages(with: value) {
                var buffer = ByteBuffer()
                buffer.writeRaftMessage(message)
                let before = buffer.readerIndex
                #expect(throws: CodecError.self, "\(field) = \(value)") { try buffer.readRaftMessage() }
                #expect(buffer.readerIndex == before, "\(field): the reader index is left alone")
            }
        }
    }

    @Test func valuesAtTheBoundStillDecode() throws {
        for (field, message) in Self.messages(with: Self.bound) {
            var buffer = ByteBuffer()
            buffer.writeRaftMessage(message)
            #expect(try buffer.readRaftMessage() == message, "\(field)")
        }
    }

    /// The hard state and snapshot metadata read back from disk have the same bound, so a
    /// damaged or forged file is an error on recovery rather than a term no election can pass.
    @Test func storedTermsAndIndicesAboveTheBoundAreRefused() throws {
        let huge = UInt64.max / 2
        let cases: [(String, (inout ByteBuffer) -> Void, (inout ByteBuffer) throws(CodecError) -> Void)] = [
            ("hard state term", { $0.writeHardState(HardState(term: Term(huge), commit: 1)) }, { (b) throws(CodecError) in _ = try b.readHardState() }),
            ("hard state commit", { $0.writeHardState(HardState(term: 1, commit: LogIndex(huge))) }, { (b) throws(CodecError) in _ = try b.readHardState() }),
            ("snapshot index", { $0.writeSnapshotMetadata(SnapshotMetadata(index: LogIndex(huge), term: 1, membership: .empty)) }, { (b) throws(CodecError) in _ = try b.readSnapshotMetadata() }),
            ("snapshot term", { $0.writeSnapshotMetadata(SnapshotMetadata(index: 1, term: Term(huge), membership: .empty)) }, { (b) throws(CodecError) in _ = try b.readSnapshotMetadata() }),
            ("entry term", { $0.writeRaftEntries([Entry(term: Term(huge), index: 1)]) }, { (b) throws(CodecError) in _ = try b.readRaftEntries() }),
            ("entry index", { $0.writeRaftEntry(Entry(term: 1, index: LogIndex(huge))) }, { (b) throws(CodecError) in _ = try b.readRaftEntry() }),
        ]
        for (name, write, read) in cases {
            var buffer = ByteBuffer()
            write(&buffer)
            #expect(throws: CodecError.self, "\(name)") { try read(&buffer) }
        }
        var atBound = ByteBuffer()
        atBound.writeHardState(HardState(term: Term(Self.bound), commit: LogIndex(Self.bound)))
        #expect(try atBound.readHardState() == HardState(term: Term(Self.bound), commit: LogIndex(Self.bound)))
    }
}
