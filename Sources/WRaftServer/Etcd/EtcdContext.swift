import Foundation
import GRPCCore
import KVStore
import WRaftAPI
import WRaftEtcd

/// What every etcd service shares: the node, the request timeout, the bounds, and the
/// response header every answer carries.
struct EtcdContext: Sendable {
    let node: any NodeService
    /// How long a request may wait for consensus or a read barrier (`--request-timeout-ms`).
    let requestTimeoutMs: Int
    /// This member's etcd URL (`http(s)://host:port`), listed as its client URL.
    let clientURL: String
    /// This member's raft URL scheme: `https` with peer TLS.
    let peerScheme: String
    /// The largest key a request may name (`KVCommand.keyBytesMax`).
    let keyBytesMax: Int

    /// The most keys one Range keeps in memory (to sort, or to answer): past it a sorted range
    /// is refused and an unsorted one answers `more`.
    static let rangeKeysMax = 100_000
    /// The most value bytes one Range answers; past it the range stops and answers `more`.
    static let rangeBytesMax = 64 << 20
    /// Keys read from the store per step while a Range pages through its range.
    static let rangePageKeys = 1_000

    var deadline: ContinuousClock.Instant { .now + .milliseconds(requestTimeoutMs) }

    /// The header of an answer made at `revision` (nil: the store's revision now), from the
    /// numbers the node publishes (no call into the node: see `responseHeaderNumbers`).
    func header(revision: UInt64? = nil) -> Etcdserverpb_ResponseHeader {
        Self.header(node.responseHeaderNumbers(), revision: revision)
    }

    /// The header of an answer made from `numbers` (at `revision`, else at theirs).
    static func header(_ numbers: ResponseHeaderNumbers, revision: UInt64? = nil) -> Etcdserverpb_ResponseHeader {
        var header = Etcdserverpb_ResponseHeader()
        header.clusterID = numbers.clusterID
        header.memberID = numbers.memberID
        header.revision = Int64(clamping: revision ?? numbers.revision)
        header.raftTerm = numbers.term
        return header
    }

    /// A key from the wire: 1 to `keyBytesMax` bytes.
    func checkedKey(_ key: Data) throws(RPCError) -> [UInt8] {
        guard !key.isEmpty else { throw EtcdError.keyNotProvided }
        guard key.count <= keyBytesMax else { throw EtcdError.invalid("a key is at most \(keyBytesMax) bytes") }
        return Array(key)
    }

    /// A range end from the wire: empty (the key alone), `\0` (every key from the key on), or a
    /// key-sized end.
    func checkedRangeEnd(_ end: Data) throws(RPCError) -> [UInt8] {
        guard end.count <= keyBytesMax else { throw EtcdError.invalid("a range end is at most \(keyBytesMax) bytes") }
        return Array(end)
    }

    /// A revision from the wire: 0 or less is the newest.
    static func checkedRevision(_ revision: Int64) throws(RPCError) -> UInt64? {
        guard revision > 0 else { return nil }
        guard UInt64(revision) <= KVStore.revisionMax else { throw EtcdError.futureRevision }
        return UInt64(revision)
    }
}

extension Mvccpb_KeyValue {
    init(_ entry: KVEntry, keysOnly: Bool = false) {
        self.init()
        key = Data(entry.key)
        if !keysOnly { value = Data(entry.value) }
        createRevision = Int64(clamping: entry.createRevision)
        modRevision = Int64(clamping: entry.modRevision)
        version = Int64(clamping: entry.version)
        lease = entry.lease
    }
}
