import Foundation
import GRPCCore
import KVStore
import WRaftEtcd

/// An etcd `TxnRequest` checked into WRaft's `KVTxn`, with what each operation's answer must
/// look like (a range's `keys_only` and `count_only`).
struct EtcdTxn {
    /// How to answer one operation.
    enum Shape {
        case range(keysOnly: Bool, countOnly: Bool)
        case put
        case delete

        func responseOp(_ result: KVTxnResponse, header: Etcdserverpb_ResponseHeader) -> Etcdserverpb_ResponseOp {
            var op = Etcdserverpb_ResponseOp()
            switch (self, result) {
            case (.range(let keysOnly, let countOnly), .range(let entries, let more)):
                var range = Etcdserverpb_RangeResponse()
                range.header = header
                range.count = Int64(entries.count)
                range.more = more
                if !countOnly { range.kvs = entries.map { Mvccpb_KeyValue($0, keysOnly: keysOnly) } }
                op.responseRange = range
            case (.put, _):
                var put = Etcdserverpb_PutResponse()
                put.header = header
                op.responsePut = put
            case (.delete, .delete(let deleted)):
                var delete = Etcdserverpb_DeleteRangeResponse()
                delete.header = header
                delete.deleted = Int64(deleted)
                op.responseDeleteRange = delete
            default:
                break
            }
            return op
        }
    }

    var txn: KVTxn
    /// One shape per operation of `txn.success`, in order.
    var successShapes: [Shape]
    var failureShapes: [Shape]

    static func checked(_ request: Etcdserverpb_TxnRequest, etcd: EtcdContext) throws(RPCError) -> EtcdTxn {
        guard request.success.count <= KVTxn.operationsMax, request.failure.count <= KVTxn.operationsMax,
            request.compare.count <= KVTxn.comparesMax
        else { throw EtcdError.tooManyOperations }
        var compares: [KVCompare] = []
        for compare in request.compare {
            compares.append(try checkedCompare(compare, etcd: etcd))
        }
        let (success, successShapes) = try checkedOperations(request.success, etcd: etcd)
        let (failure, failureShapes) = try checkedOperations(request.failure, etcd: etcd)
        return EtcdTxn(
            txn: KVTxn(compares: compares, success: success, failure: failure), successShapes: successShapes,
            failureShapes: failureShapes)
    }

    private static func checkedCompare(_ compare: Etcdserverpb_Compare, etcd: EtcdContext) throws(RPCError) -> KVCompare {
        let key = try etcd.checkedKey(compare.key)
        guard compare.rangeEnd.isEmpty else { throw EtcdError.invalid("WRaft compares single keys (no range_end)") }
        let comparison: KVCompare.Operator
        switch compare.result {
        case .equal: comparison = .equal
        case .notEqual: comparison = .notEqual
        case .less: comparison = .less
        case .greater: comparison = .greater
        default: throw EtcdError.invalid("unknown compare result")
        }
        let target: KVCompare.Target
        switch (compare.target, compare.targetUnion) {
        case (.value, .value(let value)?):
            guard value.count <= KVCommand.valueBytesMax else { throw EtcdError.requestTooLarge }
            target = .value(Array(value))
        case (.value, nil): target = .value([])
        case (.version, .version(let number)?): target = .version(number)
        case (.version, nil): target = .version(0)
        case (.create, .createRevision(let number)?): target = .createRevision(number)
        case (.create, nil): target = .createRevision(0)
        case (.mod, .modRevision(let number)?): target = .modRevision(number)
        case (.mod, nil): target = .modRevision(0)
        case (.lease, .lease(let number)?): target = .lease(number)
        case (.lease, nil): target = .lease(0)
        default: throw EtcdError.invalid("a compare's target and its operand disagree")
        }
        return KVCompare(key: key, target: target, comparison: comparison)
    }

    private static func checkedOperations(_ operations: [Etcdserverpb_RequestOp], etcd: EtcdContext) throws(RPCError)
        -> ([KVTxnOperation], [Shape])
    {
        var checked: [KVTxnOperation] = []
        var shapes: [Shape] = []
        for operation in operations {
            switch operation.request {
            case .requestRange(let range)?:
                let key = try etcd.checkedKey(range.key)
                let end = try etcd.checkedRangeEnd(range.rangeEnd)
                guard range.revision <= 0 else { throw EtcdError.invalid("a range in a transaction reads its revision") }
                guard range.sortOrder == .none, range.sortTarget == .key else {
                    throw EtcdError.invalid("WRaft does not sort ranges in a transaction")
                }
                guard (0...Int64(KVTxn.rangeKeysMax)).contains(range.limit) else {
                    throw EtcdError.invalid("a range in a transaction returns at most \(KVTxn.rangeKeysMax) keys")
                }
                checked.append(.range(key: key, rangeEnd: end, limit: range.limit))
                shapes.append(.range(keysOnly: range.keysOnly, countOnly: range.countOnly))
            case .requestPut(let put)?:
                let key = try etcd.checkedKey(put.key)
                guard put.value.count <= KVCommand.valueBytesMax else { throw EtcdError.requestTooLarge }
                guard put.lease >= 0 else { throw EtcdError.leaseNotFound }
                guard !put.ignoreValue, !put.ignoreLease else {
                    throw EtcdError.invalid("WRaft does not serve ignore_value or ignore_lease in a transaction")
                }
                guard !put.prevKv else { throw EtcdError.invalid("WRaft does not serve prev_kv in a transaction") }
                checked.append(.put(key: key, value: Array(put.value), lease: put.lease))
                shapes.append(.put)
            case .requestDeleteRange(let delete)?:
                let key = try etcd.checkedKey(delete.key)
                let end = try etcd.checkedRangeEnd(delete.rangeEnd)
                guard !delete.prevKv else { throw EtcdError.invalid("WRaft does not serve prev_kv in a transaction") }
                checked.append(.delete(key: key, rangeEnd: end))
                shapes.append(.delete)
            case .requestTxn?:
                throw EtcdError.invalid("WRaft does not serve nested transactions")
            case nil:
                throw EtcdError.invalid("an empty operation")
            }
        }
        return (checked, shapes)
    }
}
