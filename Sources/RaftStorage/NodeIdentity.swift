import NIOCore
import RaftCodec
import RaftCore
import WRaftSupport

/// Who this node is, kept in the data dir's `identity` file: its id (random, made once by the
/// caller), and once known, its cluster's id and its addresses.
public struct NodeIdentity: Sendable, Equatable {
    public var nodeID: NodeID
    /// The cluster this data dir belongs to; nil until the node starts or joins one.
    public var clusterID: UInt64?
    /// `host:port` of the raft port, once known.
    public var raftAddress: String?
    /// `host:port` of the HTTP port, once known.
    public var httpAddress: String?
    /// The other members' addresses as this node last learned them outside its log (when it
    /// joined): a node restarted before its log names any member still reaches its peers. The
    /// identity file keeps their raft and HTTP addresses only, not their keys (`fingerprint` is
    /// nil once read back): a key returns with the membership entries of the log.
    public var peers: [NodeID: MemberAddress]

    public init(
        nodeID: NodeID, clusterID: UInt64? = nil, raftAddress: String? = nil, httpAddress: String? = nil,
        peers: [NodeID: MemberAddress] = [:]
    ) {
        self.nodeID = nodeID
        self.clusterID = clusterID
        self.raftAddress = raftAddress
        self.httpAddress = httpAddress
        self.peers = peers
    }

    /// Throws `StorageError.foreignCluster` when this identity already belongs to a cluster
    /// other than `clusterID` (a data dir is never silently taken over).
    public func requireCluster(_ clusterID: UInt64, directory: String) throws(StorageError) {
        if let own = self.clusterID, own != clusterID {
            throw .foreignCluster(directory: directory, expected: clusterID, found: own)
        }
    }
}

/// The `identity` file: readable text, one `key value` line each, the last line a CRC-32C of
/// the lines before it (`peer` lines repeat, one per other member, in id order):
/// ```
/// wraft-identity 1
/// node-id 0123456789abcdef
/// cluster-id 00000000000000ff
/// raft-address 127.0.0.1:10002
/// http-address 127.0.0.1:8081
/// peer 00000000000000aa 127.0.0.1:10003 127.0.0.1:8082
/// checksum 1a2b3c4d
/// ```
enum IdentityFile {
    static let name = "identity"
    static let header = "wraft-identity 1"

    static func encode(_ identity: NodeIdentity) throws(StorageError) -> ByteBuffer {
        var lines = [header, "node-id \(identity.nodeID)"]
        if let clusterID = identity.clusterID { lines.append("cluster-id \(hex(clusterID))") }
        if let address = identity.raftAddress { lines.append("raft-address \(try checkedAddress(address))") }
        if let address = identity.httpAddress { lines.append("http-address \(try checkedAddress(address))") }
        for (id, peer) in identity.peers.sorted(by: { $0.key < $1.key }) {
            lines.append("peer \(id) \(try checkedAddress(peer.raftAddress)) \(try checkedAddress(peer.httpAddress))")
        }
        let body = lines.map { $0 + "\n" }.joined()
        let checksum = CRC32C.checksum(Array(body.utf8))
        return ByteBuffer(string: body + "checksum \(String(checksum, radix: 16))\n")
    }

    static func decode(_ file: ByteBuffer, path: String) throws(StorageError) -> NodeIdentity {
        guard let text = file.getString(at: file.readerIndex, length: file.readableBytes) else {
            throw .corruptIdentity(file: path, reason: "not text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw .corruptIdentity(file: path, reason: "does not end with a newline") }
        lines.removeLast()
        guard let checksumLine = lines.popLast(), checksumLine.hasPrefix("checksum "),
            let stored = UInt32(checksumLine.dropFirst("checksum ".count), radix: 16)
        else { throw .corruptIdentity(file: path, reason: "no checksum line") }
        let body = lines.map { $0 + "\n" }.joined()
        let computed = CRC32C.checksum(Array(body.utf8))
        guard stored == computed else {
            throw .corruptIdentity(file: path, reason: CodecError.checksumMismatch(expected: stored, actual: computed).description)
        }
        guard lines.first.map(String.init) == header else { throw .corruptIdentity(file: path, reason: "unknown format") }
        return try parseFields(lines.dropFirst(), path: path)
    }

    private static func parseFields(_ lines: ArraySlice<Substring>, path: String) throws(StorageError) -> NodeIdentity {
        var fields: [String: String] = [:]
        var peers: [NodeID: MemberAddress] = [:]
        for line in lines {
            guard let space = line.firstIndex(of: " ") else { throw .corruptIdentity(file: path, reason: "bad line \"\(line)\"") }
            let key = String(line[..<space])
            if key == "peer" {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 4, let id = NodeID(hex: String(parts[1])), !parts[2].isEmpty, !parts[3].isEmpty,
                    peers[id] == nil
                else { throw .corruptIdentity(file: path, reason: "bad peer line \"\(line)\"") }
                peers[id] = MemberAddress(raftAddress: String(parts[2]), httpAddress: String(parts[3]))
                continue
            }
            guard fields[key] == nil else { throw .corruptIdentity(file: path, reason: "\(key) appears twice") }
            fields[key] = String(line[line.index(after: space)...])
        }
        guard let nodeText = fields.removeValue(forKey: "node-id"), let nodeID = NodeID(hex: nodeText) else {
            throw .corruptIdentity(file: path, reason: "missing or bad node-id")
        }
        var identity = NodeIdentity(nodeID: nodeID)
        if let clusterText = fields.removeValue(forKey: "cluster-id") {
            guard clusterText.count == 16, let clusterID = UInt64(clusterText, radix: 16) else {
                throw .corruptIdentity(file: path, reason: "bad cluster-id")
            }
            identity.clusterID = clusterID
        }
        identity.raftAddress = fields.removeValue(forKey: "raft-address")
        identity.httpAddress = fields.removeValue(forKey: "http-address")
        identity.peers = peers
        guard fields.isEmpty else {
            throw .corruptIdentity(file: path, reason: "unknown fields \(fields.keys.sorted())")
        }
        return identity
    }

    private static func checkedAddress(_ address: String) throws(StorageError) -> String {
        guard !address.isEmpty, !address.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw .invalidIdentity(reason: "address \"\(address)\" is empty or contains white space")
        }
        return address
    }
}
