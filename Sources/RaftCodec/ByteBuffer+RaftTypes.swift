import NIOCore
import RaftCore

// Entries, hard state, membership and snapshot metadata. Layouts are in `RaftCodec`'s doc comment.

extension ByteBuffer {
    // MARK: Entry

    /// Writes one entry, preceded by the format version.
    public mutating func writeRaftEntry(_ entry: Entry) {
        writeInteger(RaftCodec.formatVersion)
        writeEntryBody(entry)
    }

    /// Reads one entry written by `writeRaftEntry`.
    public mutating func readRaftEntry() throws(CodecError) -> Entry {
        try readVersioned { (buffer) throws(CodecError) in try buffer.readEntryBody() }
    }

    /// Writes a batch of entries (version, count, entries): one WAL record or one message's worth.
    public mutating func writeRaftEntries(_ entries: some Collection<Entry>) {
        writeInteger(RaftCodec.formatVersion)
        writeEntriesBody(entries)
    }

    /// Reads a batch written by `writeRaftEntries`.
    public mutating func readRaftEntries() throws(CodecError) -> [Entry] {
        try readVersioned { (buffer) throws(CodecError) in try buffer.readEntriesBody() }
    }

    @inlinable
    mutating func writeEntryBody(_ entry: Entry) {
        precondition(entry.data.count <= Int(UInt32.max), "RaftCodec: entry data length fits in u32")
        writeMultipleIntegers(
            entry.term.rawValue, entry.index.rawValue, entry.kind.rawValue,
            UInt32(truncatingIfNeeded: entry.data.count))
        writeBytes(entry.data)
    }

    @inlinable
    mutating func readEntryBody() throws(CodecError) -> Entry {
        // One bounds check for the fixed-size header, then one copy for the data.
        guard
            let (term, index, kindByte, length) = readMultipleIntegers(
                as: (UInt64, UInt64, UInt8, UInt32).self)
        else { throw .truncated }
        guard term <= Term.wireMax.rawValue, index <= LogIndex.wireMax.rawValue else {
            throw .invalid("Entry: term \(term) or index \(index) above the bound \(LogIndex.wireMax)")
        }
        guard let kind = Entry.Kind(rawValue: kindByte) else { throw .unknownTag("Entry.Kind", kindByte) }
        let dataLength = Int(length)
        guard dataLength <= readableBytes, let data = readBytes(length: dataLength) else { throw .truncated }
        return Entry(term: Term(term), index: LogIndex(index), kind: kind, data: data)
    }

    @inlinable
    mutating func writeEntriesBody(_ entries: some Collection<Entry>) {
        precondition(entries.count <= Int(UInt32.max), "RaftCodec: entry count fits in u32")
        writeInteger(UInt32(truncatingIfNeeded: entries.count))
        for entry in entries {
            writeEntryBody(entry)
        }
    }

    @inlinable
    mutating func readEntriesBody() throws(CodecError) -> [Entry] {
        let count = try readCount(elementBytesMin: RaftCodec.entryHeaderByteCount)
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            entries.append(try readEntryBody())
        }
        return entries
    }

    // MARK: HardState

    /// Writes a hard state, preceded by the format version.
    public mutating func writeHardState(_ hardState: HardState) {
        writeInteger(RaftCodec.formatVersion)
        writeInteger(hardState.term.rawValue)
        writeOptionalNodeID(hardState.votedFor)
        writeInteger(hardState.commit.rawValue)
    }

    /// Reads a hard state written by `writeHardState`.
    public mutating func readHardState() throws(CodecError) -> HardState {
        try readVersioned { (buffer) throws(CodecError) in
            let term = try buffer.readTerm(of: "HardState.term")
            let votedFor = try buffer.readOptionalNodeID(of: "HardState.votedFor")
            let commit = try buffer.readIndex(of: "HardState.commit")
            return HardState(term: term, votedFor: votedFor, commit: commit)
        }
    }

    mutating func writeOptionalNodeID(_ node: NodeID?) {
        if let node {
            writeInteger(UInt8(1))
            writeInteger(node.rawValue)
        } else {
            writeInteger(UInt8(0))
        }
    }

    mutating func readOptionalNodeID(of type: String) throws(CodecError) -> NodeID? {
        guard try readPresence(of: type) else { return nil }
        return NodeID(try readUInt64())
    }

    // MARK: Membership

    /// Writes a membership (voters and learners, each in ascending order), preceded by the version.
    public mutating func writeMembership(_ membership: Membership) {
        writeInteger(RaftCodec.formatVersion)
        writeMembershipBody(membership)
    }

    /// Reads a membership written by `writeMembership`. Nodes out of ascending order (or
    /// duplicated), or a node that is both voter and learner, are `invalid`.
    public mutating func readMembership() throws(CodecError) -> Membership {
        try readVersioned { (buffer) throws(CodecError) in try buffer.readMembershipBody() }
    }

    mutating func writeMembershipBody(_ membership: Membership) {
        writeNodeSet(membership.voters)
        writeNodeSet(membership.learners)
    }

    mutating func readMembershipBody() throws(CodecError) -> Membership {
        let voters = try readNodeSet(of: "Membership.voters")
        let learners = try readNodeSet(of: "Membership.learners")
        guard voters.isDisjoint(with: learners) else {
            throw .invalid("Membership: a node is both voter and learner")
        }
        return Membership(voters: voters, learners: learners)
    }

    private mutating func writeNodeSet(_ nodes: Set<NodeID>) {
        writeInteger(UInt32(truncatingIfNeeded: nodes.count))
        for node in nodes.sorted() {
            writeInteger(node.rawValue)
        }
    }

    private mutating func readNodeSet(of type: String) throws(CodecError) -> Set<NodeID> {
        let count = try readCount(elementBytesMin: 8)
        var nodes = Set<NodeID>(minimumCapacity: count)
        var previous: UInt64? = nil
        for _ in 0..<count {
            let node = try readUInt64()
            // Strictly ascending keeps the encoding canonical (one value, one byte string) and
            // rules out duplicates.
            if let previous, node <= previous {
                throw .invalid("\(type): nodes not in strictly ascending order")
            }
            previous = node
            nodes.insert(NodeID(node))
        }
        return nodes
    }

    // MARK: SnapshotMetadata

    /// Writes snapshot metadata, preceded by the format version.
    public mutating func writeSnapshotMetadata(_ metadata: SnapshotMetadata) {
        writeInteger(RaftCodec.formatVersion)
        writeSnapshotMetadataBody(metadata)
    }

    /// Reads snapshot metadata written by `writeSnapshotMetadata`.
    public mutating func readSnapshotMetadata() throws(CodecError) -> SnapshotMetadata {
        try readVersioned { (buffer) throws(CodecError) in try buffer.readSnapshotMetadataBody() }
    }

    mutating func writeSnapshotMetadataBody(_ metadata: SnapshotMetadata) {
        writeInteger(metadata.index.rawValue)
        writeInteger(metadata.term.rawValue)
        writeMembershipBody(metadata.membership)
        writeLengthPrefixedBytes(metadata.membershipContext)
    }

    mutating func readSnapshotMetadataBody() throws(CodecError) -> SnapshotMetadata {
        let index = try readIndex(of: "SnapshotMetadata.index")
        let term = try readTerm(of: "SnapshotMetadata.term")
        let membership = try readMembershipBody()
        let context = try readLengthPrefixedBytes()
        return SnapshotMetadata(index: index, term: term, membership: membership, membershipContext: context)
    }
}
