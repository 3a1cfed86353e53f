import HTTPTypes
import Hummingbird
import KVStore
import RaftCore
import WRaftAPI

// Transactions, leases and compaction (issue 12): POST /txn, POST /lease, GET /leases,
// GET|DELETE /lease/{id}, POST /lease/{id}/keepalive, POST /compact. Thin: parse and check,
// call the node, write the answer.

extension APIResponder {
    /// `POST /txn`: `TxnBody` in, `TxnView` out.
    func transaction(_ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        let deadline = try options.deadline(query)
        let buffer = try await readBody(request, limit: options.jsonBodyBytesMax) { bytes in
            .node(.valueTooLarge(bytes: bytes, limit: options.jsonBodyBytesMax))
        }
        let txn = try decodeJSON(TxnBody.self, from: buffer).checkedTxn(keyBytesMax: options.keyBytesMax)
        let result = try await call { () async throws(NodeError) in
            try await service.execute(.txn(txn), deadline: deadline)
        }
        guard case .txn(let outcome) = result else { throw .node(.internalError(message: "a txn was answered with \(result)")) }
        var response = jsonResponse(.ok, Self.txnJSON(outcome))
        response.headers[HTTPHeader.revision] = String(outcome.revision)
        return response
    }

    static func txnJSON(_ outcome: KVTxnResult) -> ByteBuffer {
        JSONWriter.object(capacity: 256) { writer in
            TxnView.writeHead(&writer, succeeded: outcome.succeeded, revision: outcome.revision)
            guard let responses = outcome.responses else { return }
            TxnView.writeResponsesKey(&writer)
            writer.beginArray()
            for response in responses {
                writer.beginObject()
                switch response {
                case .put:
                    TxnView.writeResponseHead(&writer, op: .put)
                case .delete(let deleted):
                    TxnView.writeResponseHead(&writer, op: .delete)
                    TxnView.writeDeleted(&writer, deleted)
                case .range(let entries, let more):
                    TxnView.writeResponseHead(&writer, op: .range)
                    TxnView.writeItemsKey(&writer)
                    writer.beginArray()
                    for entry in entries {
                        KeyView.write(
                            &writer, key: String(decoding: entry.key, as: UTF8.self), value: entry.value,
                            index: entry.index.rawValue, createRevision: entry.createRevision,
                            modRevision: entry.modRevision, version: entry.version, lease: entry.lease)
                    }
                    writer.endArray()
                    TxnView.writeMore(&writer, more)
                }
                writer.endObject()
            }
            writer.endArray()
        }
    }

    /// `POST /compact`: `{"revision": n}`.
    func compact(_ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        let deadline = try options.deadline(query)
        let buffer = try await readBody(request, limit: 1_024) { _ in .badRequest("the body is larger than 1 KiB") }
        let body = try decodeJSON(CompactBody.self, from: buffer)
        guard body.revision <= KVStore.revisionMax else {
            throw .node(.refused(code: .badRevision, message: "revision must be in 0...\(KVStore.revisionMax)"))
        }
        let result = try await call { () async throws(NodeError) in
            try await service.execute(.compact(revision: body.revision), deadline: deadline)
        }
        guard case .compacted(let revision) = result else {
            throw .node(.internalError(message: "a compaction was answered with \(result)"))
        }
        return jsonResponse(.ok, CompactBody(revision: revision).encodedJSON())
    }

    /// `POST /lease`: `{"ttl": seconds, "id"?: n}` → `{"id", "ttl"}`.
    func grantLease(_ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        let deadline = try options.deadline(query)
        let buffer = try await readBody(request, limit: 1_024) { _ in .badRequest("the body is larger than 1 KiB") }
        let body = try decodeJSON(LeaseGrantBody.self, from: buffer)
        guard (1...KVRequest.leaseTTLSecondsMax).contains(body.ttl) else {
            throw .node(.refused(code: .badLease, message: "ttl must be 1...\(KVRequest.leaseTTLSecondsMax) seconds"))
        }
        guard (body.id ?? 0) >= 0 else { throw .node(.refused(code: .badLease, message: "id must be a positive integer")) }
        let result = try await call { () async throws(NodeError) in
            try await service.execute(.leaseGrant(id: body.id ?? 0, ttlSeconds: body.ttl), deadline: deadline)
        }
        guard case .leaseGranted(let id, let ttlSeconds) = result else {
            throw .node(.internalError(message: "a grant was answered with \(result)"))
        }
        return jsonResponse(.ok, LeaseView(id: id, ttl: ttlSeconds).encodedJSON())
    }

    /// `GET /leases`.
    func listLeases(_ query: QueryParameters) async throws(APIError) -> Response {
        let consistency = try readConsistency(query)
        let deadline = try options.deadline(query)
        let leases = try await call { () async throws(NodeError) in
            try await service.leases(consistency: consistency, deadline: deadline)
        }
        let views = leases.map { LeaseView(id: $0.id, ttl: $0.ttlSeconds, remainingMs: $0.remainingMs < 0 ? nil : $0.remainingMs) }
        return jsonResponse(.ok, LeasesView(leases: views).encodedJSON())
    }

    /// `GET /lease/{id}`, `DELETE /lease/{id}`, `POST /lease/{id}/keepalive`.
    func handleLease(_ rest: Substring, _ request: Request) async throws(APIError) -> Response {
        let query = QueryParameters(request.uri.query)
        let deadline = try options.deadline(query)
        let isKeepAlive = rest.hasSuffix("/keepalive")
        let idText = isKeepAlive ? rest.dropLast("/keepalive".count) : rest
        guard idText.utf8.count <= 20, let id = Int64(idText), id > 0 else {
            throw .node(.refused(code: .badLease, message: "a lease id is a positive integer, not \"\(idText.prefix(40))\""))
        }
        switch request.method {
        case .delete:
            let result = try await call { () async throws(NodeError) in
                try await service.execute(.leaseRevoke(id: id), deadline: deadline)
            }
            guard case .leaseRevoked(_, let revision) = result else {
                throw .node(.internalError(message: "a revoke was answered with \(result)"))
            }
            var response = jsonResponse(.ok, LeaseView(id: id, ttl: nil, revision: revision).encodedJSON())
            response.headers[HTTPHeader.revision] = String(revision)
            return response
        default:
            let status = try await call { () async throws(NodeError) in
                try await service.lease(id, renew: isKeepAlive, deadline: deadline)
            }
            let view = LeaseView(
                id: id, ttl: status.ttlSeconds, remainingMs: status.remainingMs, keys: isKeepAlive ? nil : status.keys)
            return jsonResponse(.ok, view.encodedJSON())
        }
    }
}

extension TxnBody {
    /// The checked transaction: bounds, targets, operators and keys from outside.
    func checkedTxn(keyBytesMax: Int) throws(APIError) -> KVTxn {
        let compares = compare ?? []
        let success = self.success ?? []
        let failure = self.failure ?? []
        guard compares.count <= KVTxn.comparesMax else { throw .badRequest("at most \(KVTxn.comparesMax) compares") }
        guard success.count <= KVTxn.operationsMax, failure.count <= KVTxn.operationsMax else {
            throw .badRequest("at most \(KVTxn.operationsMax) operations in success and in failure")
        }
        var checkedCompares: [KVCompare] = []
        for item in compares {
            let key = Array(try checkedKey(item.key, bytesMax: keyBytesMax).utf8)
            let comparison: KVCompare.Operator
            switch item.op {
            case "=", "==": comparison = .equal
            case "!=": comparison = .notEqual
            case "<": comparison = .less
            case ">": comparison = .greater
            default: throw .badRequest("a compare's op is =, !=, < or >, not \"\(item.op.prefix(10))\"")
            }
            let target: KVCompare.Target
            if item.target == "value" {
                guard let value = item.value, item.number == nil else {
                    throw .badRequest("a value compare gives \"value\" (text), not \"number\"")
                }
                guard value.utf8.count <= KVCommand.valueBytesMax else { throw .badRequest("a compared value is too large") }
                target = .value(Array(value.utf8))
            } else {
                guard let number = item.number, item.value == nil else {
                    throw .badRequest("a \(item.target.prefix(20)) compare gives \"number\", not \"value\"")
                }
                switch item.target {
                case "version": target = .version(number)
                case "createRevision": target = .createRevision(number)
                case "modRevision": target = .modRevision(number)
                case "lease": target = .lease(number)
                default:
                    throw .badRequest(
                        "a compare's target is value, version, createRevision, modRevision or lease, not \"\(item.target.prefix(20))\"")
                }
            }
            checkedCompares.append(KVCompare(key: key, target: target, comparison: comparison))
        }
        return KVTxn(
            compares: checkedCompares, success: try Self.checked(success, keyBytesMax: keyBytesMax),
            failure: try Self.checked(failure, keyBytesMax: keyBytesMax))
    }

    private static func checked(_ operations: [Operation], keyBytesMax: Int) throws(APIError) -> [KVTxnOperation] {
        var checked: [KVTxnOperation] = []
        for operation in operations {
            let key = Array(try checkedKey(operation.key, bytesMax: keyBytesMax).utf8)
            switch operation.op {
            case "put":
                guard let value = operation.value else { throw .badRequest("a put gives \"value\"") }
                guard value.utf8.count <= KVCommand.valueBytesMax else {
                    throw .node(.valueTooLarge(bytes: value.utf8.count, limit: KVCommand.valueBytesMax))
                }
                let lease = operation.lease ?? 0
                guard lease >= 0 else { throw .node(.refused(code: .badLease, message: "a lease id is positive")) }
                guard operation.end == nil, operation.prefix == nil, operation.limit == nil else {
                    throw .badRequest("a put takes key, value and lease only")
                }
                checked.append(.put(key: key, value: Array(value.utf8), lease: lease))
            case "delete", "range":
                let end = try rangeEnd(operation, key: key, keyBytesMax: keyBytesMax)
                guard operation.value == nil, operation.lease == nil else {
                    throw .badRequest("a \(operation.op) takes key, end, prefix (and limit) only")
                }
                if operation.op == "delete" {
                    guard operation.limit == nil else { throw .badRequest("a delete takes no limit") }
                    checked.append(.delete(key: key, rangeEnd: end))
                } else {
                    let limit = operation.limit ?? 0
                    guard (0...Int64(KVTxn.rangeKeysMax)).contains(limit) else {
                        throw .badRequest("a range's limit is 0...\(KVTxn.rangeKeysMax) (0: the bound)")
                    }
                    checked.append(.range(key: key, rangeEnd: end, limit: limit))
                }
            default:
                throw .badRequest("an operation's op is put, delete or range, not \"\(operation.op.prefix(20))\"")
            }
        }
        return checked
    }

    /// The etcd-style range end of an operation: empty for the key alone, `[0]` for every key
    /// from it on (a prefix of all 0xFF bytes), else the exclusive end.
    private static func rangeEnd(_ operation: Operation, key: [UInt8], keyBytesMax: Int) throws(APIError) -> [UInt8] {
        switch (operation.end, operation.prefix ?? false) {
        case (nil, false): return []
        case (nil, true): return KVKeyRange.prefixEnd(key) ?? [0]
        case (let end?, false):
            guard !end.isEmpty, end.utf8.count <= keyBytesMax else { throw .badKey("end is 1 to \(keyBytesMax) bytes") }
            return Array(end.utf8)
        case (.some, true): throw .badRequest("give end or prefix, not both")
        }
    }
}
