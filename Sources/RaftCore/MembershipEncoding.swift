/// The byte form of `MembershipChange`, the payload of membership entries. It lives in the core
/// (standard library only) because the core itself must read membership entries to apply them.
///
/// Layout (version 1, integers little-endian):
/// `[version u8][voter count u32][voter ids u64...][learner count u32][learner ids u64...]`
/// `[change flag u8][change kind u8][change node u64][context length u32][context bytes]`
extension MembershipChange {
    /// The format version written by `encoded()`.
    public static let encodingVersion: UInt8 = 1
    /// Bound on the member count a decoder accepts (no cluster has more).
    public static let membersMax = 1_000
    /// Bound on the context a decoder accepts.
    public static let contextBytesMax = 1 << 20

    /// The byte form stored in a membership entry's `data`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + 8 * membership.members.count + context.count)
        out.append(Self.encodingVersion)
        appendIDs(membership.voters.sorted(), to: &out)
        appendIDs(membership.learners.sorted(), to: &out)
        if let change {
            out.append(1)
            out.append(change.kind.rawValue)
            appendInteger(change.node.rawValue, to: &out)
        } else {
            out.append(0)
        }
        appendInteger(UInt32(context.count), to: &out)
        out.append(contentsOf: context)
        return out
    }

    /// Decodes `encoded()`'s output; throws on anything else, never traps.
    public init(decoding bytes: [UInt8]) throws(MembershipDecodingError) {
        var reader = ByteReader(bytes)
        guard let version = reader.readByte() else { throw .truncated }
        guard version == Self.encodingVersion else { throw .unknownVersion(version) }
        let voters = try reader.readIDs()
        let learners = try reader.readIDs()
        guard voters.isDisjoint(with: learners) else { throw .invalid("a node is both voter and learner") }
        guard let hasChange = reader.readByte() else { throw .truncated }
        var change: ConfigChange?
        switch hasChange {
        case 0: change = nil
        case 1:
            guard let kindByte = reader.readByte() else { throw .truncated }
            guard let kind = ConfigChange.Kind(rawValue: kindByte) else { throw .invalid("unknown change kind \(kindByte)") }
            guard let node = reader.readUInt64() else { throw .truncated }
            change = ConfigChange(kind, NodeID(node))
        default: throw .invalid("bad change flag \(hasChange)")
        }
        guard let contextCount = reader.readUInt32() else { throw .truncated }
        guard Int(contextCount) <= Self.contextBytesMax else { throw .invalid("context of \(contextCount) bytes") }
        guard let context = reader.readBytes(Int(contextCount)) else { throw .truncated }
        guard reader.isAtEnd else { throw .invalid("trailing bytes") }
        self.init(membership: Membership(voters: voters, learners: learners), change: change, context: context)
    }
}

/// Why a membership entry's bytes could not be read.
public enum MembershipDecodingError: Error, Equatable, Sendable {
    case truncated
    case unknownVersion(UInt8)
    case invalid(String)
}

private func appendInteger<I: FixedWidthInteger>(_ value: I, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

private func appendIDs(_ ids: [NodeID], to out: inout [UInt8]) {
    appendInteger(UInt32(ids.count), to: &out)
    for id in ids { appendInteger(id.rawValue, to: &out) }
}

/// A bounds-checked little-endian reader over a byte array.
private struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func readByte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readInteger<I: FixedWidthInteger>(_: I.Type) -> I? {
        let size = MemoryLayout<I>.size
        guard bytes.count - offset >= size else { return nil }
        var value: I = 0
        for i in 0..<size { value |= I(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    mutating func readUInt32() -> UInt32? { readInteger(UInt32.self) }
    mutating func readUInt64() -> UInt64? { readInteger(UInt64.self) }

    mutating func readBytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func readIDs() throws(MembershipDecodingError) -> Set<NodeID> {
        guard let count = readUInt32() else { throw .truncated }
        guard Int(count) <= MembershipChange.membersMax else { throw .invalid("\(count) members") }
        var ids = Set<NodeID>()
        for _ in 0..<count {
            guard let raw = readUInt64() else { throw .truncated }
            ids.insert(NodeID(raw))
        }
        guard ids.count == Int(count) else { throw .invalid("duplicate member id") }
        return ids
    }
}
