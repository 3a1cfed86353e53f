import Foundation
import GRPCCore
import KVStore
import WRaftAPI
import WRaftEtcd

/// etcd's KV service on the node's calls (the ones the HTTP handlers make): Range reads pages
/// with `readRange`; Put, DeleteRange and Txn are transactions through `execute`; Compact is
/// `execute(.compact)`.
struct EtcdKVService: Etcdserverpb_KV.SimpleServiceProtocol {
    let etcd: EtcdContext

    func range(request: Etcdserverpb_RangeRequest, context: ServerContext) async throws -> Etcdserverpb_RangeResponse {
        let query = try RangeQuery(request, etcd: etcd)
        let deadline = etcd.deadline
        let node = etcd.node
        let consistency: ReadConsistency = request.serializable ? .local : .linearizable
        // The first page fixes the revision; the next pages read at it, from this member as is.
        var page = try await EtcdError.call { () async throws(NodeError) in
            try await node.readRange(
                query.range, after: nil, revision: query.revision, limit: EtcdContext.rangePageKeys,
                consistency: consistency, deadline: deadline)
        }
        let revision = query.revision ?? page.revision
        var collector = RangeCollector(query: query)
        while true {
            try collector.add(page.entries)
            guard page.hasMore, let last = page.entries.last, !collector.isDone else { break }
            page = try await EtcdError.call { () async throws(NodeError) in
                try await node.readRange(
                    query.range, after: last.key, revision: revision, limit: EtcdContext.rangePageKeys,
                    consistency: .local, deadline: deadline)
            }
        }
        var response = Etcdserverpb_RangeResponse()
        response.header = etcd.header(revision: page.revision)
        let (entries, more) = collector.result()
        response.count = collector.count
        response.more = more
        if !request.countOnly { response.kvs = entries.map { Mvccpb_KeyValue($0, keysOnly: request.keysOnly) } }
        return response
    }

    func put(request: Etcdserverpb_PutRequest, context: ServerContext) async throws -> Etcdserverpb_PutResponse {
        let key = try etcd.checkedKey(request.key)
        guard request.value.count <= KVCommand.valueBytesMax else { throw EtcdError.requestTooLarge }
        guard request.lease >= 0 else { throw EtcdError.leaseNotFound }
        var value = Array(request.value)
        var lease = request.lease
        var compares: [KVCompare] = []
        if request.ignoreValue || request.ignoreLease {
            // The key's current value or lease, kept by a transaction that holds only while
            // the key is as read (its mod revision).
            guard request.value.isEmpty || !request.ignoreValue else { throw EtcdError.invalid("value is provided") }
            guard request.lease == 0 || !request.ignoreLease else { throw EtcdError.invalid("lease is provided") }
            let deadline = etcd.deadline
            let node = etcd.node
            let current = try await EtcdError.call { () async throws(NodeError) in
                try await node.readEntry(key: key, revision: nil, consistency: .linearizable, deadline: deadline)
            }
            guard let entry = current.entry else { throw EtcdError.keyNotFound }
            if request.ignoreValue { value = entry.value }
            if request.ignoreLease { lease = entry.lease }
            compares = [KVCompare(key: key, target: .modRevision(Int64(clamping: entry.modRevision)), comparison: .equal)]
        }
        var success: [KVTxnOperation] = []
        if request.prevKv { success.append(.range(key: key, rangeEnd: [], limit: 1)) }
        success.append(.put(key: key, value: value, lease: lease))
        let outcome = try await execute(KVTxn(compares: compares, success: success, failure: []))
        // A key changed between the read and the write: etcd's answer to a key that is gone.
        guard outcome.succeeded else { throw EtcdError.keyNotFound }
        var response = Etcdserverpb_PutResponse()
        response.header = etcd.header(revision: outcome.revision)
        if request.prevKv, case .range(let entries, _)? = outcome.responses?.first, let previous = entries.first {
            response.prevKv = Mvccpb_KeyValue(previous)
        }
        return response
    }

    func deleteRange(request: Etcdserverpb_DeleteRangeRequest, context: ServerContext) async throws
        -> Etcdserverpb_DeleteRangeResponse
    {
        let key = try etcd.checkedKey(request.key)
        let end = try etcd.checkedRangeEnd(request.rangeEnd)
        var success: [KVTxnOperation] = []
        // The keys before the delete: at most a transaction range's bound (`KVTxn.rangeKeysMax`).
        if request.prevKv { success.append(.range(key: key, rangeEnd: end, limit: 0)) }
        success.append(.delete(key: key, rangeEnd: end))
        let outcome = try await execute(KVTxn(compares: [], success: success, failure: []))
        var response = Etcdserverpb_DeleteRangeResponse()
        response.header = etcd.header(revision: outcome.revision)
        for result in outcome.responses ?? [] {
            switch result {
            case .range(let entries, _): response.prevKvs = entries.map { Mvccpb_KeyValue($0) }
            case .delete(let deleted): response.deleted = Int64(deleted)
            case .put: break
            }
        }
        return response
    }

    func txn(request: Etcdserverpb_TxnRequest, context: ServerContext) async throws -> Etcdserverpb_TxnResponse {
        let txn = try EtcdTxn.checked(request, etcd: etcd)
        let outcome = try await execute(txn.txn)
        var response = Etcdserverpb_TxnResponse()
        response.header = etcd.header(revision: outcome.revision)
        response.succeeded = outcome.succeeded
        let shapes = outcome.succeeded ? txn.successShapes : txn.failureShapes
        for (result, shape) in zip(outcome.responses ?? [], shapes) {
            response.responses.append(shape.responseOp(result, header: response.header))
        }
        return response
    }

    func compact(request: Etcdserverpb_CompactionRequest, context: ServerContext) async throws
        -> Etcdserverpb_CompactionResponse
    {
        guard request.revision > 0 else { throw EtcdError.invalid("a compaction revision is positive") }
        let revision = UInt64(request.revision)
        guard revision <= KVStore.revisionMax else { throw EtcdError.futureRevision }
        let deadline = etcd.deadline
        let node = etcd.node
        _ = try await EtcdError.call { () async throws(NodeError) in
            try await node.execute(.compact(revision: revision), deadline: deadline)
        }
        var response = Etcdserverpb_CompactionResponse()
        response.header = etcd.header()
        return response
    }

    /// A transaction through consensus, and its outcome.
    private func execute(_ txn: KVTxn) async throws(RPCError) -> KVTxnResult {
        guard txn.success.count <= KVTxn.operationsMax, txn.failure.count <= KVTxn.operationsMax else {
            throw EtcdError.tooManyOperations
        }
        let deadline = etcd.deadline
        let node = etcd.node
        let result = try await EtcdError.call { () async throws(NodeError) in
            try await node.execute(.txn(txn), deadline: deadline)
        }
        guard case .txn(let outcome) = result else {
            throw RPCError(code: .internalError, message: "etcdserver: a transaction was answered with \(result)")
        }
        return outcome
    }
}

/// A checked Range request.
struct RangeQuery: Sendable {
    var range: KVKeyRange
    var revision: UInt64?
    /// 0: no limit of the client's.
    var limit: Int
    var sortOrder: Etcdserverpb_RangeRequest.SortOrder
    var sortTarget: Etcdserverpb_RangeRequest.SortTarget
    var minModRevision: Int64
    var maxModRevision: Int64
    var minCreateRevision: Int64
    var maxCreateRevision: Int64

    init(_ request: Etcdserverpb_RangeRequest, etcd: EtcdContext) throws(RPCError) {
        let end = try etcd.checkedRangeEnd(request.rangeEnd)
        // etcd's convention: "\0" as the end is every key from the key on (and a key of "\0"
        // with it, every key).
        range = .etcd(key: try etcd.checkedKey(request.key), rangeEnd: end)
        revision = try EtcdContext.checkedRevision(request.revision)
        guard request.limit >= 0 else { throw EtcdError.invalid("limit is not negative") }
        limit = Int(clamping: request.limit)
        // A negative sort order or target from the wire decodes as an unknown case.
        switch request.sortOrder {
        case .none, .ascend, .descend: sortOrder = request.sortOrder
        default: throw EtcdError.invalid("unknown sort order")
        }
        switch request.sortTarget {
        case .key, .version, .create, .mod, .value: sortTarget = request.sortTarget
        default: throw EtcdError.invalid("unknown sort target")
        }
        minModRevision = request.minModRevision
        maxModRevision = request.maxModRevision
        minCreateRevision = request.minCreateRevision
        maxCreateRevision = request.maxCreateRevision
    }

    /// Whether the keys must all be read before any is answered (a sort other than by key, up).
    var needsSort: Bool {
        switch (sortOrder, sortTarget) {
        case (.none, _), (.ascend, .key): return false
        default: return true
        }
    }

    func passesFilters(_ entry: KVEntry) -> Bool {
        let mod = Int64(clamping: entry.modRevision)
        let create = Int64(clamping: entry.createRevision)
        if minModRevision > 0, mod < minModRevision { return false }
        if maxModRevision > 0, mod > maxModRevision { return false }
        if minCreateRevision > 0, create < minCreateRevision { return false }
        if maxCreateRevision > 0, create > maxCreateRevision { return false }
        return true
    }
}

/// Collects a Range's keys page by page: counts every key of the range, keeps those to
/// answer (bounded by `EtcdContext.rangeKeysMax` and `rangeBytesMax`), sorts at the end.
struct RangeCollector {
    let query: RangeQuery
    private(set) var count: Int64 = 0
    private var kept: [KVEntry] = []
    private var keptBytes = 0
    private var isCut = false

    init(query: RangeQuery) { self.query = query }

    /// The count needs every key, so paging never stops early.
    var isDone: Bool { false }

    mutating func add(_ entries: [KVEntry]) throws(RPCError) {
        for entry in entries {
            count += 1
            guard query.passesFilters(entry) else { continue }
            if query.needsSort {
                guard kept.count < EtcdContext.rangeKeysMax, keptBytes + entry.value.count <= EtcdContext.rangeBytesMax else {
                    throw RPCError(
                        code: .resourceExhausted,
                        message: "etcdserver: a sorted range holds more than \(EtcdContext.rangeKeysMax) keys or "
                            + "\(EtcdContext.rangeBytesMax >> 20) MiB; narrow it or sort by key")
                }
            } else {
                let keysMax = query.limit == 0 ? EtcdContext.rangeKeysMax : min(query.limit, EtcdContext.rangeKeysMax)
                guard !isCut, kept.count < keysMax, keptBytes + entry.value.count <= EtcdContext.rangeBytesMax else {
                    isCut = true
                    continue
                }
            }
            kept.append(entry)
            keptBytes += entry.value.count
        }
    }

    /// The keys to answer, sorted and limited, and whether the range holds more.
    func result() -> (entries: [KVEntry], more: Bool) {
        var entries = kept
        if query.needsSort {
            let isAscending = query.sortOrder != .descend
            entries.sort { lhs, rhs in
                let order = Self.compare(lhs, rhs, target: query.sortTarget)
                // Ties keep key order (the store's).
                if order == 0 { return lhs.key.lexicographicallyPrecedes(rhs.key) }
                return isAscending ? order < 0 : order > 0
            }
            if query.limit > 0, entries.count > query.limit {
                entries.removeLast(entries.count - query.limit)
                return (entries, true)
            }
            return (entries, false)
        }
        return (entries, isCut)
    }

    private static func compare(_ lhs: KVEntry, _ rhs: KVEntry, target: Etcdserverpb_RangeRequest.SortTarget) -> Int {
        func order<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a > b ? 1 : 0) }
        switch target {
        case .version: return order(lhs.version, rhs.version)
        case .create: return order(lhs.createRevision, rhs.createRevision)
        case .mod: return order(lhs.modRevision, rhs.modRevision)
        case .value:
            if lhs.value == rhs.value { return 0 }
            return lhs.value.lexicographicallyPrecedes(rhs.value) ? -1 : 1
        default:
            if lhs.key == rhs.key { return 0 }
            return lhs.key.lexicographicallyPrecedes(rhs.key) ? -1 : 1
        }
    }
}
