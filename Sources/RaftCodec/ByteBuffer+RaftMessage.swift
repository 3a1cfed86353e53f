import NIOCore
import RaftCore

/// The tag byte that says which `Payload` case a message carries. Values are part of the
/// format: never renumber, only add.
enum PayloadTag: UInt8 {
    case voteRequest = 0  // lastLogIndex u64, lastLogTerm u64, flags u8 (preVote, transfer)
    case voteResponse = 1  // flags u8 (granted, preVote)
    case append = 2  // previousIndex u64, previousTerm u64, commit u64, Entries
    case appendResponse = 3  // index u64, flags u8 (rejected), hintIndex u64, hintTerm u64
    case heartbeat = 4  // commit u64, readRound u64
    case heartbeatResponse = 5  // readRound u64
    case installSnapshot = 6  // SnapshotMetadata
    case timeoutNow = 7  // nothing
    case propose = 8  // Entries
    case readIndexRequest = 9  // id u64
    case readIndexResponse = 10  // id u64, index present u8 [index u64]
}

private enum Flag {
    static let first: UInt8 = 1 << 0
    static let second: UInt8 = 1 << 1
}

extension ByteBuffer {
    /// Writes a whole message: format version, addressing, term and payload.
    public mutating func writeRaftMessage(_ message: Message) {
        writeInteger(RaftCodec.formatVersion)
        writeMultipleIntegers(message.from.rawValue, message.to.rawValue, message.term.rawValue)
        writePayload(message.payload)
    }

    /// Reads a message written by `writeRaftMessage`. Arbitrary bytes throw, never crash.
    public mutating func readRaftMessage() throws(CodecError) -> Message {
        try readVersioned { (buffer) throws(CodecError) in
            guard let (from, to) = buffer.readMultipleIntegers(as: (UInt64, UInt64).self) else { throw .truncated }
            let term = try buffer.readTerm(of: "Message.term")
            let payload = try buffer.readPayload()
            return Message(from: NodeID(from), to: NodeID(to), term: term, payload: payload)
        }
    }

    // MARK: Payload

    private mutating func writePayload(_ payload: Payload) {
        switch payload {
        case .voteRequest(let request):
            writeTag(.voteRequest)
            writeInteger(request.lastLogIndex.rawValue)
            writeInteger(request.lastLogTerm.rawValue)
            writeFlags(request.isPreVote, request.isLeadershipTransfer)
        case .voteResponse(let response):
            writeTag(.voteResponse)
            writeFlags(response.isGranted, response.isPreVote)
        case .append(let request):
            writeTag(.append)
            writeMultipleIntegers(
                request.previousIndex.rawValue, request.previousTerm.rawValue, request.commit.rawValue)
            writeEntriesBody(request.entries)
        case .appendResponse(let response):
            writeTag(.appendResponse)
            writeInteger(response.index.rawValue)
            writeFlags(response.isRejected, false)
            writeInteger(response.hintIndex.rawValue)
            writeInteger(response.hintTerm.rawValue)
        case .heartbeat(let request):
            writeTag(.heartbeat)
            writeInteger(request.commit.rawValue)
            writeInteger(request.readRound)
        case .heartbeatResponse(let response):
            writeTag(.heartbeatResponse)
            writeInteger(response.readRound)
        case .installSnapshot(let metadata):
            writeTag(.installSnapshot)
            writeSnapshotMetadataBody(metadata)
        case .timeoutNow:
            writeTag(.timeoutNow)
        case .propose(let entries):
            writeTag(.propose)
            writeEntriesBody(entries)
        case .readIndexRequest(let id):
            writeTag(.readIndexRequest)
            writeInteger(id.rawValue)
        case .readIndexResponse(let id, let index):
            writeTag(.readIndexResponse)
            writeInteger(id.rawValue)
            if let index {
                writeInteger(UInt8(1))
                writeInteger(index.rawValue)
            } else {
                writeInteger(UInt8(0))
            }
        }
    }

    private mutating func readPayload() throws(CodecError) -> Payload {
        let tagByte = try readUInt8()
        guard let tag = PayloadTag(rawValue: tagByte) else { throw .unknownTag("Payload", tagByte) }
        switch tag {
        case .voteRequest: return .voteRequest(try readVoteRequest())
        case .voteResponse: return .voteResponse(try readVoteResponse())
        case .append: return .append(try readAppendRequest())
        case .appendResponse: return .appendResponse(try readAppendResponse())
        case .heartbeat:
            return .heartbeat(HeartbeatRequest(commit: try readIndex(of: "Heartbeat.commit"), readRound: try readUInt64()))
        case .heartbeatResponse: return .heartbeatResponse(HeartbeatResponse(readRound: try readUInt64()))
        case .installSnapshot: return .installSnapshot(try readSnapshotMetadataBody())
        case .timeoutNow: return .timeoutNow
        case .propose: return .propose(try readEntriesBody())
        case .readIndexRequest: return .readIndexRequest(ReadRequestID(try readUInt64()))
        case .readIndexResponse:
            let id = ReadRequestID(try readUInt64())
            let index = try readPresence(of: "readIndexResponse.index") ? try readIndex(of: "readIndexResponse.index") : nil
            return .readIndexResponse(id, index)
        }
    }

    private mutating func readVoteRequest() throws(CodecError) -> VoteRequest {
        let lastLogIndex = try readIndex(of: "VoteRequest.lastLogIndex")
        let lastLogTerm = try readTerm(of: "VoteRequest.lastLogTerm")
        let flags = try readFlags(allowed: Flag.first | Flag.second, of: "VoteRequest")
        return VoteRequest(
            lastLogIndex: lastLogIndex, lastLogTerm: lastLogTerm,
            isPreVote: flags & Flag.first != 0, isLeadershipTransfer: flags & Flag.second != 0)
    }

    private mutating func readVoteResponse() throws(CodecError) -> VoteResponse {
        let flags = try readFlags(allowed: Flag.first | Flag.second, of: "VoteResponse")
        return VoteResponse(isGranted: flags & Flag.first != 0, isPreVote: flags & Flag.second != 0)
    }

    private mutating func readAppendRequest() throws(CodecError) -> AppendRequest {
        let previousIndex = try readIndex(of: "AppendRequest.previousIndex")
        let previousTerm = try readTerm(of: "AppendRequest.previousTerm")
        let commit = try readIndex(of: "AppendRequest.commit")
        let entries = try readEntriesBody()
        return AppendRequest(previousIndex: previousIndex, previousTerm: previousTerm, entries: entries, commit: commit)
    }

    private mutating func readAppendResponse() throws(CodecError) -> AppendResponse {
        let index = try readIndex(of: "AppendResponse.index")
        let flags = try readFlags(allowed: Flag.first, of: "AppendResponse")
        let hintIndex = try readIndex(of: "AppendResponse.hintIndex")
        let hintTerm = try readTerm(of: "AppendResponse.hintTerm")
        return AppendResponse(
            index: index, isRejected: flags & Flag.first != 0, hintIndex: hintIndex, hintTerm: hintTerm)
    }

    private mutating func writeTag(_ tag: PayloadTag) {
        writeInteger(tag.rawValue)
    }

    private mutating func writeFlags(_ first: Bool, _ second: Bool) {
        writeInteger((first ? Flag.first : 0) | (second ? Flag.second : 0))
    }
}
