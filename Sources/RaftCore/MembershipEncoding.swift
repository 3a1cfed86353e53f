import WRaftSupport

/// The byte form of `MembershipChange`, the payload of membership entries. It lives in the core
/// (standard library only) because the core itself must read membership entries to apply them.
///
/// Layout (version 1, integers little-endian):
/// `[version u8][voter count u32][voter ids u64...][learner count u32][learner ids u64...]`
/// `[change flag u8][change kind u8][change node u64][context length u32][context bytes]`
extension MembershipChange {
    /// The format version written by `encoded()`.
    public static let encodingVersion: UInt8 = 1
    /// The most members a cluster has: the one bound every decoder of member lists applies
    /// (each id list of a membership entry here, the address book and the control protocol's
    /// member lists in the server).
    public static let membersMax = 1_000
    /// Bound on the context a decoder accepts.
    public static let contextBytesMax = 1 << 20

    /// The byte form stored in a membership entry's `data`.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: 16 + 8 * membership.members.count + context.count)
        writer.write(Self.encodingVersion)
        writeIDs(membership.voters.sorted(), to: &writer)
        writeIDs(membership.learners.sorted(), to: &writer)
        if let change {
            writer.write(UInt8(1))
            writer.write(change.kind.rawValue)
            writer.write(change.node.rawValue)
        } else {
            writer.write(UInt8(0))
        }
        writer.writeLengthPrefixed(context)
        return writer.bytes
    }

    /// Decodes `encoded()`'s output; throws on anything else, never traps.
    public init(decoding bytes: [UInt8]) throws(MembershipDecodingError) {
        var reader = ByteReader<MembershipDecodingError>(bytes)
        let version = try reader.readUInt8("version")
        guard version == Self.encodingVersion else { throw .unknownVersion(version) }
        let voters = try readIDs(&reader, "voters")
        let learners = try readIDs(&reader, "learners")
        guard voters.isDisjoint(with: learners) else { throw .invalid("a node is both voter and learner") }
        let hasChange = try reader.readUInt8("change flag")
        var change: ConfigChange?
        switch hasChange {
        case 0: change = nil
        case 1:
            let kindByte = try reader.readUInt8("change kind")
            guard let kind = ConfigChange.Kind(rawValue: kindByte) else { throw .invalid("unknown change kind \(kindByte)") }
            change = ConfigChange(kind, NodeID(try reader.readUInt64("change node")))
        default: throw .invalid("bad change flag \(hasChange)")
        }
        let context = try reader.readLengthPrefixed("context", bytesMax: Self.contextBytesMax)
        try reader.expectEnd()
        self.init(membership: Membership(voters: voters, learners: learners), change: change, context: context)
    }
}

/// Why a membership entry's bytes could not be read.
public enum MembershipDecodingError: Error, Equatable, Sendable {
    case truncated
    case unknownVersion(UInt8)
    case invalid(String)
}

// The reader's shortfalls in this format's own terms (the error predates the shared reader).
extension MembershipDecodingError: ByteDecodingError {
    public static func truncated(field: String) -> MembershipDecodingError { .truncated }

    public static func lengthOutOfBounds(field: String, length: UInt64, bytesMax: UInt64) -> MembershipDecodingError {
        .invalid("\(field): \(length) exceeds \(bytesMax)")
    }

    public static func trailingBytes(count: Int) -> MembershipDecodingError { .invalid("trailing bytes") }
}

private func writeIDs(_ ids: [NodeID], to writer: inout ByteWriter) {
    writer.write(UInt32(ids.count))
    for id in ids { writer.write(id.rawValue) }
}

/// A u32 count (at most `membersMax`) and that many distinct ids.
private func readIDs(
    _ reader: inout ByteReader<MembershipDecodingError>, _ field: String
) throws(MembershipDecodingError) -> Set<NodeID> {
    let count = try reader.readCount(
        field, encodedAs: UInt32.self, itemBytesMin: 8, countMax: MembershipChange.membersMax)
    var ids = Set<NodeID>()
    for _ in 0..<count {
        ids.insert(NodeID(try reader.readUInt64(field)))
    }
    guard ids.count == count else { throw .invalid("duplicate member id") }
    return ids
}
