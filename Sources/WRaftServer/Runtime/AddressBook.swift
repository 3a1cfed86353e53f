import RaftCore
import RaftStorage
import WRaftCertificates
import WRaftSupport

/// The syntax a member address from the wire must have: `host:port` by the one set of address
/// rules (`HostPort`: a DNS name, an IPv4 address, or an IPv6 address in brackets; at most
/// `bytesMax` bytes). Checked wherever a record enters (control payloads, membership contexts,
/// `/connect`), so a hostile record never reaches the log.
enum MemberAddressSyntax {
    /// A DNS name's 253 bytes, IPv6 brackets, the colon and a 5-digit port.
    static let bytesMax = HostPort.textBytesMax

    /// Nil when `address` is acceptable; otherwise why not.
    static func problem(with address: String) -> String? {
        do {
            _ = try HostPort(parsing: address)
            return nil
        } catch {
            return "\(address.prefix(bytesMax)) is not a host:port address: \(error)"
        }
    }
}

/// The addresses of the cluster's members, by id. WRaft stores it as the context of every
/// membership entry, so every node learns every member's addresses from the log itself.
///
/// Invariant: no id is 0.
package struct AddressBook: Sendable, Equatable {
    private(set) var addresses: [NodeID: MemberAddress]

    init(_ addresses: [NodeID: MemberAddress] = [:]) {
        precondition(!addresses.keys.contains(NodeID(0)), "AddressBook: no member id is 0")
        self.addresses = addresses
    }

    var ids: [NodeID] { addresses.keys.sorted() }
    package var count: Int { addresses.count }
    subscript(id: NodeID) -> MemberAddress? { addresses[id] }

    mutating func set(_ id: NodeID, _ address: MemberAddress) {
        precondition(id.rawValue != 0, "AddressBook: no member id is 0")
        addresses[id] = address
    }

    mutating func remove(_ id: NodeID) {
        addresses[id] = nil
    }

    /// Adds the members of `other` this book does not know, and takes `other`'s addresses for
    /// those it does (a member that restarted on new ports announces itself). Returns whether
    /// anything changed.
    @discardableResult
    mutating func merge(_ other: AddressBook) -> Bool {
        var isChanged = false
        for (id, address) in other.addresses where addresses[id] != address {
            addresses[id] = address
            isChanged = true
        }
        return isChanged
    }

    /// The book restricted to `members` (members without a known address are left out).
    func restricted(to members: Set<NodeID>) -> AddressBook {
        AddressBook(addresses.filter { members.contains($0.key) })
    }

    /// The raft addresses of every member but `id`, in id order (whom a node calls).
    func raftAddresses(excluding id: NodeID) -> [String] {
        ids.filter { $0 != id }.compactMap { addresses[$0]?.raftAddress }
    }

    /// The id of the member listening on `raftAddress`, if any.
    func member(atRaftAddress raftAddress: String) -> NodeID? {
        addresses.first { $0.value.raftAddress == raftAddress }?.key
    }
}

// MARK: - Binary encoding (the context of membership entries)

/// Why a membership context could not be decoded.
package enum AddressBookDecodingError: Error, Equatable {
    case truncated
    case unknownVersion(UInt8)
    case invalid(String)
}

extension AddressBook {
    /// Version 1: id and addresses. Version 2 adds, per member, a byte (0 or 1) saying whether a
    /// 32-byte public-key fingerprint follows. Version 3 adds, after that, a byte (0 or 1) saying
    /// whether a length-prefixed etcd address follows. All decode (data dirs written before TLS
    /// hold 1). A book in which no member has an etcd address is written as version 2, byte for
    /// byte as before, so nodes that predate version 3 read every book of a cluster without
    /// etcd ports; version 3 is written only when some member announced one.
    static let formatVersion: UInt8 = 2
    private static let formatVersionWithoutKeys: UInt8 = 1
    static let formatVersionWithEtcdAddresses: UInt8 = 3
    /// Bounds what decoding accepts: a member count and an address length (input is untrusted).
    /// The member bound is the core's, so a book never holds more members than a membership can.
    package static let membersMax = MembershipChange.membersMax
    static let addressBytesMax = MemberAddressSyntax.bytesMax

    /// Deterministic bytes (members sorted by id): every founder must compute the identical
    /// bootstrap entry from the same book.
    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        let hasEtcdAddresses = addresses.values.contains { $0.etcdAddress != nil }
        writer.write(hasEtcdAddresses ? Self.formatVersionWithEtcdAddresses : Self.formatVersion)
        writer.write(UInt32(addresses.count))
        for id in ids {
            guard let address = addresses[id] else { continue }
            writer.write(id.rawValue)
            writer.writeLengthPrefixed(Array(address.raftAddress.utf8))
            writer.writeLengthPrefixed(Array(address.httpAddress.utf8))
            if let fingerprint = address.fingerprint {
                writer.write(UInt8(1))
                writer.write(contentsOf: fingerprint.bytes)
            } else {
                writer.write(UInt8(0))
            }
            if hasEtcdAddresses {
                if let etcdAddress = address.etcdAddress {
                    writer.write(UInt8(1))
                    writer.writeLengthPrefixed(Array(etcdAddress.utf8))
                } else {
                    writer.write(UInt8(0))
                }
            }
        }
        return writer.bytes
    }

    package init(decoding bytes: [UInt8]) throws(AddressBookDecodingError) {
        // An empty context (a membership change made by something other than WRaft) carries no
        // addresses.
        guard !bytes.isEmpty else {
            self.init()
            return
        }
        var reader = ByteReader<AddressBookDecodingError>(bytes)
        let version = try reader.readUInt8("version")
        guard [Self.formatVersionWithoutKeys, Self.formatVersion, Self.formatVersionWithEtcdAddresses].contains(version) else {
            throw .unknownVersion(version)
        }
        let count = Int(try reader.readUInt32("member count"))
        guard count <= Self.membersMax else { throw .invalid("\(count) members exceed \(Self.membersMax)") }
        var addresses: [NodeID: MemberAddress] = [:]
        for _ in 0..<count {
            let id = NodeID(try reader.readUInt64("member id"))
            guard id.rawValue != 0 else { throw .invalid("member id 0") }
            let raftAddress = try Self.readAddress(&reader, "raft address")
            let httpAddress = try Self.readAddress(&reader, "http address")
            var fingerprint: PublicKeyFingerprint?
            if version >= Self.formatVersion {
                switch try reader.readUInt8("fingerprint flag") {
                case 0: break
                case 1:
                    let keyBytes = try reader.readBytes(count: PublicKeyFingerprint.byteCount, "fingerprint")
                    fingerprint = PublicKeyFingerprint(bytes: keyBytes)
                case let flag: throw .invalid("fingerprint flag \(flag)")
                }
            }
            var etcdAddress: String?
            if version >= Self.formatVersionWithEtcdAddresses {
                switch try reader.readUInt8("etcd address flag") {
                case 0: break
                case 1: etcdAddress = try Self.readAddress(&reader, "etcd address")
                case let flag: throw .invalid("etcd address flag \(flag)")
                }
            }
            addresses[id] = MemberAddress(
                raftAddress: raftAddress, httpAddress: httpAddress, fingerprint: fingerprint, etcdAddress: etcdAddress)
        }
        try reader.expectEnd()
        self.init(addresses)
    }

    /// A length-prefixed address of at most `addressBytesMax` UTF-8 bytes and valid syntax.
    private static func readAddress(
        _ reader: inout ByteReader<AddressBookDecodingError>, _ field: String
    ) throws(AddressBookDecodingError) -> String {
        let bytes = try reader.readLengthPrefixed(field, bytesMax: addressBytesMax)
        guard let address = String(validating: bytes, as: UTF8.self) else { throw .invalid("an address is not UTF-8") }
        if let problem = MemberAddressSyntax.problem(with: address) { throw .invalid(problem) }
        return address
    }
}

// The reader's shortfalls in this format's own terms.
extension AddressBookDecodingError: ByteDecodingError {
    package static func truncated(field: String) -> AddressBookDecodingError { .truncated }

    package static func lengthOutOfBounds(field: String, length: UInt64, bytesMax: UInt64) -> AddressBookDecodingError {
        .invalid("\(field): \(length) bytes exceed \(bytesMax)")
    }

    package static func trailingBytes(count: Int) -> AddressBookDecodingError { .invalid("trailing bytes") }
}
