import Foundation
import GRPCCore
import KVStore
import RaftCore
import Testing
import WRaftAPI
import WRaftEtcd

@testable import WRaftServer

/// etcd's gRPC requests checked and translated into the node's calls, and its errors: the pure
/// parts of Sources/WRaftServer/Etcd (the etcdctl tests drive the rest).
@Suite struct EtcdTranslationTests {
    static let etcd = EtcdContext(
        node: NoNode(), requestTimeoutMs: 1_000, clientURL: "http://127.0.0.1:2379", peerScheme: "http", keyBytesMax: 1_024)

    struct NoNode: NodeService {
        func connect(peerRaftAddress: String) async throws(NodeError) -> ConnectOutcome { throw .faultsDisabled }
        func start() async throws(NodeError) {}
        func state() async -> WRaftAPI.NodeStateView { fatalError("unused") }
        func health() async -> WRaftAPI.HealthView { fatalError("unused") }
        func removeMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {}
        func promoteMember(_ id: NodeID, deadline: ContinuousClock.Instant) async throws(NodeError) {}
        func write(_ request: WriteRequest, deadline: ContinuousClock.Instant) async throws(NodeError) -> WriteOutcome {
            throw .faultsDisabled
        }
        func read(key: String, consistency: WRaftAPI.ReadConsistency, deadline: ContinuousClock.Instant)
            async throws(NodeError) -> ReadOutcome?
        { nil }
        func list(
            prefix: String, after: String?, limit: Int, consistency: WRaftAPI.ReadConsistency,
            deadline: ContinuousClock.Instant
        ) async throws(NodeError) -> ListOutcome { ListOutcome(items: [], hasMore: false) }
        func log(from: LogIndex, limit: Int) async -> WRaftAPI.LogView { fatalError("unused") }
        func inject(_ fault: FaultCommand) async throws(NodeError) {}
    }

    static func entry(_ key: String, value: String = "v", create: UInt64, mod: UInt64, version: UInt64 = 1) -> KVEntry {
        KVEntry(
            key: Array(key.utf8), value: Array(value.utf8), createRevision: create, modRevision: mod, version: version,
            lease: 0, index: LogIndex(mod), term: Term(1))
    }

    static func rangeRequest(_ configure: (inout Etcdserverpb_RangeRequest) -> Void) -> Etcdserverpb_RangeRequest {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data("a".utf8)
        request.rangeEnd = Data([0])
        configure(&request)
        return request
    }

    @Test func aSortedRangeCountsEveryKeyAndKeepsTheLimitInOrder() throws {
        let query = try RangeQuery(
            Self.rangeRequest {
                $0.sortOrder = .descend
                $0.sortTarget = .mod
                $0.limit = 2
            }, etcd: Self.etcd)
        var collector = RangeCollector(query: query)
        try collector.add([Self.entry("a", create: 2, mod: 5), Self.entry("b", create: 3, mod: 9)])
        try collector.add([Self.entry("c", create: 4, mod: 7), Self.entry("d", create: 6, mod: 6)])
        let (entries, more) = collector.result()
        #expect(collector.count == 4)
        #expect(entries.map { String(decoding: $0.key, as: UTF8.self) } == ["b", "c"])
        #expect(more)
    }

    @Test func anUnsortedRangeKeepsTheFirstKeysAndSaysMore() throws {
        let query = try RangeQuery(Self.rangeRequest { $0.limit = 1 }, etcd: Self.etcd)
        var collector = RangeCollector(query: query)
        try collector.add([Self.entry("a", create: 2, mod: 2), Self.entry("b", create: 3, mod: 3)])
        let (entries, more) = collector.result()
        #expect(collector.count == 2 && entries.map(\.key) == [Array("a".utf8)] && more)

        let all = try RangeQuery(Self.rangeRequest { _ in }, etcd: Self.etcd)
        var everything = RangeCollector(query: all)
        try everything.add([Self.entry("a", create: 2, mod: 2)])
        #expect(everything.result().entries.count == 1 && !everything.result().more)
    }

    @Test func revisionFiltersDropKeysButNotTheCount() throws {
        let query = try RangeQuery(Self.rangeRequest { $0.minModRevision = 4 }, etcd: Self.etcd)
        var collector = RangeCollector(query: query)
        try collector.add([Self.entry("a", create: 2, mod: 3), Self.entry("b", create: 2, mod: 4)])
        #expect(collector.result().entries.map(\.key) == [Array("b".utf8)])
        #expect(collector.count == 2)
    }

    @Test func rangeRequestsOutsideTheirBoundsAreRefused() {
        #expect(throws: EtcdError.keyNotProvided) { try RangeQuery(Self.rangeRequest { $0.key = Data() }, etcd: Self.etcd) }
        #expect(throws: RPCError.self) { try RangeQuery(Self.rangeRequest { $0.limit = -1 }, etcd: Self.etcd) }
        #expect(throws: RPCError.self) {
            try RangeQuery(Self.rangeRequest { $0.key = Data(repeating: 65, count: 1_025) }, etcd: Self.etcd)
        }
        #expect(throws: RPCError.self) { try RangeQuery(Self.rangeRequest { $0.sortOrder = .UNRECOGNIZED(7) }, etcd: Self.etcd) }
        // "\0" as the end is every key from the key on; a key alone is that key.
        let everything = try? RangeQuery(Self.rangeRequest { $0.key = Data([0]) }, etcd: Self.etcd)
        #expect(everything?.range == KVKeyRange(start: [0], end: nil))
        let one = try? RangeQuery(Self.rangeRequest { $0.rangeEnd = Data() }, etcd: Self.etcd)
        #expect(one?.range == .key(Array("a".utf8)))
    }

    @Test func transactionsTranslateComparesAndOperations() throws {
        var request = Etcdserverpb_TxnRequest()
        var compare = Etcdserverpb_Compare()
        compare.key = Data("k".utf8)
        compare.target = .mod
        compare.result = .greater
        compare.modRevision = 4
        request.compare = [compare]
        var put = Etcdserverpb_RequestOp()
        put.requestPut.key = Data("k".utf8)
        put.requestPut.value = Data("v".utf8)
        var range = Etcdserverpb_RequestOp()
        range.requestRange.key = Data("k".utf8)
        range.requestRange.keysOnly = true
        var delete = Etcdserverpb_RequestOp()
        delete.requestDeleteRange.key = Data("a".utf8)
        delete.requestDeleteRange.rangeEnd = Data([0])
        request.success = [put, range]
        request.failure = [delete]
        let txn = try EtcdTxn.checked(request, etcd: Self.etcd)
        #expect(txn.txn.compares == [KVCompare(key: Array("k".utf8), target: .modRevision(4), comparison: .greater)])
        #expect(txn.txn.success == [.put(key: Array("k".utf8), value: Array("v".utf8), lease: 0), .range(key: Array("k".utf8), rangeEnd: [], limit: 0)])
        #expect(txn.txn.failure == [.delete(key: Array("a".utf8), rangeEnd: [0])])
        let answer = txn.successShapes[1].responseOp(
            .range(entries: [Self.entry("k", create: 2, mod: 2)], more: false), header: Etcdserverpb_ResponseHeader())
        #expect(answer.responseRange.kvs.first?.value.isEmpty == true && answer.responseRange.count == 1)

        request.success = Array(repeating: put, count: KVTxn.operationsMax + 1)
        #expect(throws: EtcdError.tooManyOperations) { try EtcdTxn.checked(request, etcd: Self.etcd) }
        var nested = Etcdserverpb_RequestOp()
        nested.requestTxn = Etcdserverpb_TxnRequest()
        request.success = [nested]
        #expect(throws: RPCError.self) { try EtcdTxn.checked(request, etcd: Self.etcd) }
    }

    @Test func nodeErrorsBecomeEtcdsStatusesAndMessages() {
        let compacted = EtcdError.rpcError(.refused(code: .compacted, message: "x"))
        #expect(compacted.code == .outOfRange && compacted.message == "etcdserver: mvcc: required revision has been compacted")
        let lease = EtcdError.rpcError(NodeError(KVRejection.leaseNotFound))
        #expect(lease.code == .notFound && lease.message == "etcdserver: requested lease not found")
        let noLeader = EtcdError.rpcError(.noLeader(retryAfterMs: 100))
        #expect(noLeader.code == .unavailable && noLeader.message == "etcdserver: no leader")
        #expect(EtcdError.rpcError(.quotaExceeded(bytes: 2, limit: 1)).code == .resourceExhausted)
        #expect(EtcdError.rpcError(NodeError(KVRejection.duplicateKey)).message == "etcdserver: duplicate key given in txn request")
    }

    @Test func watchCreateRequestsTranslateToTheHubsRequest() throws {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data("app/".utf8)
        create.rangeEnd = Data("app0".utf8)
        create.startRevision = 7
        create.prevKv = true
        create.filters = [.nodelete]
        let request = try EtcdWatchService.watchRequest(create, etcd: Self.etcd)
        #expect(request == WatchRequest(range: .prefix(Array("app/".utf8)), fromRevision: 7, includesPrevious: true, excludesDeletes: true))
        create.rangeEnd = Data([0])
        create.startRevision = 0
        create.filters = [.noput]
        let fromKey = try EtcdWatchService.watchRequest(create, etcd: Self.etcd)
        #expect(fromKey.range == KVKeyRange(start: Array("app/".utf8), end: nil) && fromKey.fromRevision == 0 && fromKey.excludesPuts)
        create.startRevision = -1
        #expect(throws: RPCError.self) { try EtcdWatchService.watchRequest(create, etcd: Self.etcd) }
        // No key: from the smallest key, as etcd watches (with `\0` as the end: every key).
        create.startRevision = 1
        create.key = Data()
        let everything = try EtcdWatchService.watchRequest(create, etcd: Self.etcd)
        #expect(everything.range == KVKeyRange(start: [0], end: nil))
        // An end not above the key names no key: etcd's "watcher range is empty".
        create.key = Data("b".utf8)
        create.rangeEnd = Data("a".utf8)
        do throws(RPCError) {
            _ = try EtcdWatchService.watchRequest(create, etcd: Self.etcd)
            Issue.record("a range whose end is below its key is refused")
        } catch {
            #expect(error.code == .invalidArgument && error.message == EtcdWatchService.emptyRangeReason)
        }
        create.rangeEnd = Data("b".utf8)
        #expect(throws: RPCError.self) { try EtcdWatchService.watchRequest(create, etcd: Self.etcd) }
    }

    struct NoHistory: WatchHistoryReader {
        func readWatchHistory(watcher id: UInt64, from revision: UInt64, selector: WatchSelector) async {}
    }

    /// A stream on a hub of its own (never read): a place holder in a stream's table of watches.
    static func detachedStream() -> WatchStream {
        WatchStream(id: 1, hub: WatchHub(limits: WatchLimits()), request: WatchRequest(range: .key(Array("k".utf8))), reader: NoHistory())
    }

    @Test func createRequestsAreRefusedAsEtcdRefusesThem() {
        #expect(EtcdWatchService.refusal(of: 3, watches: [:]) == nil)
        #expect(EtcdWatchService.refusal(of: -2, watches: [:])?.watchID == -2)
        let duplicate = EtcdWatchService.refusal(of: 0, watches: [0: Self.detachedStream()])
        #expect(duplicate?.watchID == -1 && duplicate?.reason == EtcdWatchService.duplicateIDReason)
    }

    @Test func tokenRolesCoverTheMethods() {
        #expect(EtcdAuthInterceptor.requiredRole("Range") == .read)
        #expect(EtcdAuthInterceptor.requiredRole("Watch") == .read)
        #expect(EtcdAuthInterceptor.requiredRole("Put") == .write)
        #expect(EtcdAuthInterceptor.requiredRole("LeaseKeepAlive") == .write)
        #expect(EtcdAuthInterceptor.requiredRole("MemberRemove") == .admin)
        #expect(EtcdAuthInterceptor.requiredRole("Snapshot") == .admin)
        var metadata = Metadata()
        metadata.addString("Bearer secret-token", forKey: "authorization")
        #expect(EtcdAuthInterceptor.presentedToken(metadata) == "secret-token")
        #expect(EtcdAuthInterceptor.presentedToken(["token": "t"]) == "t")
        #expect(EtcdAuthInterceptor.presentedToken([:]) == nil)
    }

    @Test func theEtcdPortIsRangeCheckedAndDiffersFromTheOthers() throws {
        var options = NodeOptions(httpPort: 8081, raftPort: 10002, dataDirectory: "/tmp/unused")
        try options.validate()
        options.etcdPort = 8081
        #expect(throws: NodeOptionsError.self) { try options.validate() }
        options.etcdPort = 70_000
        #expect(throws: NodeOptionsError.self) { try options.validate() }
        options.etcdPort = 2379
        try options.validate()
        #expect(options.etcdAddress == "127.0.0.1:2379")
    }
}
