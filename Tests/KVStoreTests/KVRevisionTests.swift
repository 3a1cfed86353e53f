import RaftCore
import Testing

import KVStore
import WRaftSupport

extension EntryFeeder {
    mutating func request(_ request: KVRequest, id: ClientRequestID? = nil) -> Entry {
        let requestID = id ?? nextID()
        return entry(.command, KVCommand(id: requestID, request: request).encoded())
    }
}

/// A store driven by requests, answering each with its result.
struct RequestDriver {
    var store: KVStore
    var feeder = EntryFeeder()

    init(store: KVStore = KVStore()) {
        self.store = store
    }

    @discardableResult
    mutating func run(_ request: KVRequest) -> KVResult? {
        store.apply(feeder.request(request))?.1
    }

    @discardableResult
    mutating func put(_ key: String, _ value: String, lease: Int64 = 0) -> KVResult? {
        run(.put(key: bytes(key), value: bytes(value), condition: .none, lease: lease))
    }

    @discardableResult
    mutating func delete(_ key: String) -> KVResult? {
        run(.delete(key: bytes(key), condition: .none))
    }

    mutating func noop() {
        _ = store.apply(feeder.entry(.noop))
    }
}

@Suite struct KVRevisionTests {
    @Test func eachWriteIncrementsTheRevisionOnceAndKeysCarryEtcdFields() throws {
        var driver = RequestDriver()
        driver.noop()  // index 1
        #expect(driver.store.revision == 1)  // before any write of format 2, the applied index
        #expect(driver.put("a", "1") == .put(index: 2, term: 1, revision: 2))
        #expect(driver.store.revision == 2)
        driver.noop()
        #expect(driver.store.revision == 2)  // a noop no longer moves it
        #expect(driver.put("a", "2") == .put(index: 4, term: 1, revision: 3))
        #expect(driver.put("b", "x") == .put(index: 5, term: 1, revision: 4))
        // A delete of nothing and a failed condition leave the revision alone.
        #expect(driver.delete("missing") == .deleted(index: 6, term: 1, revision: 4, existed: false))
        let failed = driver.run(.put(key: bytes("a"), value: bytes("3"), condition: .valueEquals(bytes("no")), lease: 0))
        #expect(failed == .compareFailed(currentIndex: 4))
        #expect(driver.store.revision == 4)
        let a = try #require(try driver.store.entry(bytes("a")))
        #expect(a.createRevision == 2 && a.modRevision == 3 && a.version == 2 && a.index == 4 && a.lease == 0)
        #expect(driver.delete("a") == .deleted(index: 8, term: 1, revision: 5, existed: true))
        #expect(driver.put("a", "again") == .put(index: 9, term: 1, revision: 6))
        let recreated = try #require(try driver.store.entry(bytes("a")))
        #expect(recreated.createRevision == 6 && recreated.modRevision == 6 && recreated.version == 1)
    }

    @Test func readsAtPastRevisionsSeeTheStateOfThatRevision() throws {
        var driver = RequestDriver()
        driver.put("a", "1")  // revision 1
        driver.put("b", "1")  // 2
        driver.put("a", "2")  // 3
        driver.delete("b")  // 4
        driver.put("c", "1")  // 5
        #expect(driver.store.revision == 5)
        #expect(try driver.store.entry(bytes("a"), atRevision: 1)?.value == bytes("1"))
        #expect(try driver.store.entry(bytes("a"), atRevision: 3)?.value == bytes("2"))
        #expect(try driver.store.entry(bytes("b"), atRevision: 3)?.value == bytes("1"))
        #expect(try driver.store.entry(bytes("b"), atRevision: 4) == nil)
        #expect(try driver.store.entry(bytes("c"), atRevision: 4) == nil)
        let at2 = try driver.store.range(.prefix([]), atRevision: 2, limit: 10)
        #expect(at2.entries.map(\.key) == [bytes("a"), bytes("b")])
        #expect(at2.entries.map(\.value) == [bytes("1"), bytes("1")])
        let at4 = try driver.store.range(.prefix([]), atRevision: 4, limit: 10)
        #expect(at4.entries.map(\.key) == [bytes("a")])
        // Paging at a revision: one key a page, continuing after the last.
        let first = try driver.store.range(.prefix([]), atRevision: 2, limit: 1)
        #expect(first.entries.map(\.key) == [bytes("a")] && first.hasMore)
        let second = try driver.store.range(.prefix([]), after: bytes("a"), atRevision: 2, limit: 1)
        #expect(second.entries.map(\.key) == [bytes("b")] && !second.hasMore)
        #expect(throws: KVReadError.futureRevision(currentRevision: 5)) { try driver.store.entry(bytes("a"), atRevision: 6) }
    }

    @Test func aRandomHistoryReadsBackAtEveryRevision() throws {
        for seed in testSeeds(defaultCount: 20) {
            var generator = SplitMix64(seed: seed)
            var driver = RequestDriver()
            var states: [UInt64: [[UInt8]: [UInt8]]] = [0: [:]]
            var model: [[UInt8]: [UInt8]] = [:]
            let keys = ["a", "ab", "b", "c", "d"].map(bytes)
            for step in 0..<120 {
                let key = keys[Int.random(in: 0..<keys.count, using: &generator)]
                if Bool.random(using: &generator) {
                    let value = bytes("v\(step)")
                    driver.run(.put(key: key, value: value, condition: .none, lease: 0))
                    model[key] = value
                } else {
                    driver.run(.delete(key: key, condition: .none))
                    model[key] = nil
                }
                states[driver.store.revision] = model
            }
            for (revision, state) in states where revision >= driver.store.compactRevision && revision > 0 {
                let found = try driver.store.range(.prefix([]), atRevision: revision, limit: 100)
                let expected = state.keys.sorted { $0.lexicographicallyPrecedes($1) }
                #expect(found.entries.map(\.key) == expected, "seed=\(seed) revision=\(revision)")
                #expect(found.entries.map(\.value) == expected.map { state[$0] ?? [] }, "seed=\(seed)")
                for key in keys {
                    #expect(try driver.store.entry(key, atRevision: revision)?.value == state[key], "seed=\(seed)")
                }
            }
        }
    }

    @Test func compactionForgetsHistoryAndSaysSo() throws {
        var driver = RequestDriver()
        for value in 1...5 { driver.put("k", "\(value)") }  // revisions 1-5
        #expect(driver.run(.compact(revision: 3)) == .compacted(revision: 3))
        #expect(driver.store.compactRevision == 3)
        #expect(throws: KVReadError.compacted(compactRevision: 3)) { try driver.store.entry(bytes("k"), atRevision: 2) }
        #expect(try driver.store.entry(bytes("k"), atRevision: 3)?.value == bytes("3"))
        #expect(throws: KVReadError.compacted(compactRevision: 3)) {
            try driver.store.events(fromRevision: 3, in: nil, limit: 10)
        }
        #expect(try driver.store.events(fromRevision: 4, in: nil, limit: 10).map(\.revision) == [4, 5])
        #expect(driver.run(.compact(revision: 2)) == .rejected(.compacted))
        #expect(driver.run(.compact(revision: 9)) == .rejected(.futureRevision))
        #expect(driver.store.revision == 5)
    }

    @Test func historyPastItsBoundIsCompactedOldestFirstAndCountsForTheQuota() throws {
        let perEvent = 1 + 10 + 64  // key "k", a 10-byte value, the event overhead
        var driver = RequestDriver(store: KVStore(sessionLimits: KVSessionLimits(), historyBytesMax: 3 * perEvent))
        for value in 0..<6 { driver.put("k", String(repeating: "\(value)", count: 10)) }
        #expect(driver.store.historyByteCount == 3 * perEvent)
        #expect(driver.store.compactRevision == 3)
        #expect(try driver.store.events(fromRevision: 4, in: nil, limit: 10).map(\.revision) == [4, 5, 6])
        #expect(driver.store.quotaByteCount == driver.store.byteCount + 3 * perEvent)
        #expect(throws: KVReadError.compacted(compactRevision: 3)) { try driver.store.entry(bytes("k"), atRevision: 2) }
    }

    @Test func eventsComeInRevisionOrderWithPreviousValues() throws {
        var driver = RequestDriver()
        driver.put("app/a", "1")
        driver.put("other", "x")
        driver.put("app/a", "2")
        driver.delete("app/a")
        let events = try driver.store.events(fromRevision: 1, in: .prefix(bytes("app/")), limit: 10)
        #expect(events.map(\.revision) == [1, 3, 4])
        #expect(events.map(\.kind) == [.put, .put, .delete])
        #expect(events[1].previous?.value == bytes("1"))
        #expect(events[2].previous?.value == bytes("2"))
        #expect(events[2].entry.modRevision == 4 && events[2].entry.value.isEmpty)
        #expect(try driver.store.events(fromRevision: 5, in: nil, limit: 10).isEmpty)
    }

    // MARK: Leases

    @Test func leasesAttachKeysAndARevokeDeletesThemAtOneRevision() throws {
        var driver = RequestDriver()
        #expect(driver.run(.leaseGrant(id: 77, ttlSeconds: 10)) == .leaseGranted(id: 77, ttlSeconds: 10))
        #expect(driver.run(.leaseGrant(id: 77, ttlSeconds: 10)) == .rejected(.leaseExists))
        guard case .leaseGranted(let chosen, 5)? = driver.run(.leaseGrant(id: 0, ttlSeconds: 5)) else {
            Issue.record("a grant without an id gets one")
            return
        }
        #expect(chosen > 0 && chosen != 77)
        #expect(driver.put("x", "1", lease: 999) == .rejected(.leaseNotFound))
        driver.put("a", "1", lease: 77)
        driver.put("b", "1", lease: 77)
        driver.put("c", "1", lease: chosen)
        driver.put("b", "2", lease: chosen)  // moves to the other lease
        #expect(driver.store.lease(77)?.keys == [bytes("a")])
        #expect(driver.store.lease(chosen)?.keys == [bytes("b"), bytes("c")])
        #expect(driver.store.leaseList.map(\.id) == [min(77, chosen), max(77, chosen)])
        let before = driver.store.revision
        #expect(driver.run(.leaseRevoke(id: chosen)) == .leaseRevoked(id: chosen, revision: before + 1))
        #expect(try driver.store.entry(bytes("b")) == nil && driver.store.entry(bytes("c")) == nil)
        #expect(try driver.store.entry(bytes("a"))?.lease == 77)
        let events = try driver.store.events(fromRevision: before + 1, in: nil, limit: 10)
        #expect(events.map(\.kind) == [.delete, .delete] && Set(events.map(\.revision)) == [before + 1])
        #expect(driver.run(.leaseRevoke(id: chosen)) == .rejected(.leaseNotFound))
        // A revoke of a lease with no keys changes no key and keeps the revision.
        driver.run(.leaseGrant(id: 5, ttlSeconds: 1))
        let now = driver.store.revision
        #expect(driver.run(.leaseRevoke(id: 5)) == .leaseRevoked(id: 5, revision: now))
    }

    @Test func aPutWithoutTheLeaseDetachesTheKey() throws {
        var driver = RequestDriver()
        driver.run(.leaseGrant(id: 1, ttlSeconds: 10))
        driver.put("a", "1", lease: 1)
        driver.put("a", "2")
        #expect(driver.store.lease(1)?.keys == [])
        driver.run(.leaseRevoke(id: 1))
        #expect(try driver.store.entry(bytes("a"))?.value == bytes("2"))
    }

    // MARK: Transactions

    @Test func aTransactionComparesThenRunsOneListAtOneRevision() throws {
        var driver = RequestDriver()
        driver.put("a", "1")  // 1
        driver.put("b", "1")  // 2
        let txn = KVTxn(
            compares: [
                KVCompare(key: bytes("a"), target: .value(bytes("1")), comparison: .equal),
                KVCompare(key: bytes("a"), target: .version(1), comparison: .equal),
                KVCompare(key: bytes("b"), target: .modRevision(2), comparison: .equal),
                KVCompare(key: bytes("b"), target: .createRevision(3), comparison: .less),
                KVCompare(key: bytes("missing"), target: .version(0), comparison: .equal),
                KVCompare(key: bytes("a"), target: .lease(0), comparison: .equal),
            ],
            success: [
                .put(key: bytes("a"), value: bytes("2"), lease: 0),
                .delete(key: bytes("b"), rangeEnd: []),
                .put(key: bytes("c"), value: bytes("3"), lease: 0),
                .range(key: bytes("a"), rangeEnd: [0], limit: 0),
            ],
            failure: [.put(key: bytes("failed"), value: [], lease: 0)])
        let result = driver.run(.txn(txn))
        guard case .txn(let outcome)? = result else {
            Issue.record("a txn result: \(String(describing: result))")
            return
        }
        #expect(outcome.succeeded && outcome.revision == 3)
        #expect(outcome.responses?.count == 4)
        if case .range(let entries, let more)? = outcome.responses?.last {
            #expect(entries.map(\.key) == [bytes("a"), bytes("c")] && !more)
            #expect(entries.allSatisfy { $0.modRevision == 3 })
        } else {
            Issue.record("the last response is a range")
        }
        #expect(outcome.responses?[1] == .delete(deleted: 1))
        #expect(try driver.store.events(fromRevision: 3, in: nil, limit: 10).count == 3)
        // The same transaction again: the value compare fails, the else list runs.
        guard case .txn(let second)? = driver.run(.txn(txn)) else {
            Issue.record("a txn result")
            return
        }
        #expect(!second.succeeded && second.revision == 4)
        #expect(try driver.store.entry(bytes("failed")) != nil)
    }

    @Test func comparesFollowEtcdForMissingKeysAndOperators() {
        var driver = RequestDriver()
        driver.put("a", "m")
        func succeeds(_ compare: KVCompare) -> Bool {
            guard case .txn(let result)? = driver.run(.txn(KVTxn(compares: [compare], success: [], failure: []))) else {
                return false
            }
            return result.succeeded
        }
        #expect(!succeeds(KVCompare(key: bytes("zz"), target: .value([]), comparison: .notEqual)))
        #expect(succeeds(KVCompare(key: bytes("a"), target: .value(bytes("z")), comparison: .less)))
        #expect(succeeds(KVCompare(key: bytes("a"), target: .value(bytes("a")), comparison: .greater)))
        #expect(succeeds(KVCompare(key: bytes("a"), target: .value(bytes("a")), comparison: .notEqual)))
        #expect(succeeds(KVCompare(key: bytes("zz"), target: .createRevision(0), comparison: .equal)))
        #expect(succeeds(KVCompare(key: bytes("a"), target: .modRevision(0), comparison: .greater)))
        #expect(!succeeds(KVCompare(key: bytes("a"), target: .version(1), comparison: .less)))
        // A transaction that writes nothing keeps the revision.
        #expect(driver.store.revision == 1)
    }

    @Test func aTransactionThatWritesAKeyTwiceIsRefusedWhole() throws {
        var driver = RequestDriver()
        let twice = KVTxn(
            compares: [],
            success: [.put(key: bytes("a"), value: [], lease: 0), .put(key: bytes("a"), value: [1], lease: 0)],
            failure: [])
        #expect(driver.run(.txn(twice)) == .rejected(.duplicateKey))
        let putInDeletedRange = KVTxn(
            compares: [],
            success: [.put(key: bytes("b"), value: [], lease: 0), .delete(key: bytes("a"), rangeEnd: bytes("c"))],
            failure: [])
        #expect(driver.run(.txn(putInDeletedRange)) == .rejected(.duplicateKey))
        let badLease = KVTxn(
            compares: [],
            success: [.put(key: bytes("x"), value: [], lease: 0), .put(key: bytes("y"), value: [], lease: 9)],
            failure: [])
        #expect(driver.run(.txn(badLease)) == .rejected(.leaseNotFound))
        #expect(try driver.store.entry(bytes("x")) == nil)
        #expect(driver.store.revision == 0)
    }

    @Test func aRetriedTransactionIsAnsweredFromTheSessionWithoutResponses() {
        var driver = RequestDriver()
        let id = driver.feeder.nextID()
        let txn = KVTxn(compares: [], success: [.put(key: bytes("a"), value: [], lease: 0)], failure: [])
        let first = driver.store.apply(driver.feeder.request(.txn(txn), id: id))?.1
        let retry = driver.store.apply(driver.feeder.request(.txn(txn), id: id))?.1
        #expect(first == .txn(KVTxnResult(succeeded: true, revision: 1, responses: [.put])))
        #expect(retry == .txn(KVTxnResult(succeeded: true, revision: 1, responses: nil)))
        #expect(driver.store.revision == 1)
    }

    // MARK: Snapshots

    @Test func aSnapshotCarriesRevisionsHistoryAndLeasesExactly() throws {
        var driver = RequestDriver(store: KVStore(sessionLimits: KVSessionLimits(), historyBytesMax: 10_000))
        driver.run(.leaseGrant(id: 3, ttlSeconds: 30))
        driver.put("a", "1", lease: 3)
        driver.put("b", "2")
        driver.put("a", "3", lease: 3)
        driver.delete("b")
        driver.run(.compact(revision: 1))
        let restored = try KVStore(snapshot: driver.store.snapshot())
        #expect(restored == driver.store)
        #expect(restored.snapshot() == driver.store.snapshot())
        #expect(restored.revision == 4 && restored.compactRevision == 1 && restored.historyBytesMax == 10_000)
        #expect(restored.lease(3)?.keys == [bytes("a")])
        #expect(try restored.events(fromRevision: 2, in: nil, limit: 10) == driver.store.events(fromRevision: 2, in: nil, limit: 10))
        // Both go on alike.
        var copy = RequestDriver(store: restored)
        copy.feeder = driver.feeder
        driver.run(.leaseRevoke(id: 3))
        copy.run(.leaseRevoke(id: 3))
        #expect(copy.store == driver.store)
    }

    @Test func everyTruncationOfASnapshotIsRefused() {
        var driver = RequestDriver()
        driver.run(.leaseGrant(id: 3, ttlSeconds: 30))
        driver.put("a", "1", lease: 3)
        driver.delete("a")
        let bytes = driver.store.snapshot()
        for length in stride(from: 0, to: bytes.count, by: 3) {
            #expect(throws: KVCodecError.self) { try KVStore(snapshot: Array(bytes[..<length])) }
        }
    }

    // MARK: Commands

    @Test func everyRequestRoundTripsThroughItsEncoding() throws {
        let requests: [KVRequest] = [
            .put(key: bytes("k"), value: bytes("v"), condition: .valueEquals(bytes("old")), lease: 12),
            .delete(key: bytes("k"), condition: .indexEquals(4)),
            .txn(
                KVTxn(
                    compares: [
                        KVCompare(key: bytes("a"), target: .value(bytes("x")), comparison: .notEqual),
                        KVCompare(key: bytes("a"), target: .lease(-1), comparison: .greater),
                    ],
                    success: [.range(key: bytes("a"), rangeEnd: bytes("b"), limit: 5)],
                    failure: [.delete(key: bytes("a"), rangeEnd: [0]), .put(key: bytes("z"), value: [], lease: 0)])),
            .compact(revision: 99),
            .leaseGrant(id: 0, ttlSeconds: 60),
            .leaseRevoke(id: 7),
        ]
        for request in requests {
            let command = KVCommand(id: ClientRequestID(client: 4, sequence: 9), request: request)
            let encoded = command.encoded()
            #expect(encoded.first == KVCommand.formatVersion)
            let decoded = try KVCommand(decoding: encoded)
            #expect(decoded == command)
            for length in 0..<encoded.count {
                #expect(throws: KVCodecError.self) { try KVCommand(decoding: Array(encoded[..<length])) }
            }
        }
    }

    @Test func outOfRangeNumbersInACommandAreRefused() {
        func encoded(_ request: KVRequest) -> [UInt8] {
            KVCommand(id: ClientRequestID(client: 1, sequence: 1), request: request).encoded()
        }
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.leaseGrant(id: 1, ttlSeconds: 0))) }
        #expect(throws: KVCodecError.self) {
            try KVCommand(decoding: encoded(.leaseGrant(id: 1, ttlSeconds: KVRequest.leaseTTLSecondsMax + 1)))
        }
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.leaseRevoke(id: 0))) }
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.leaseGrant(id: -4, ttlSeconds: 5))) }
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.compact(revision: .max))) }
        let tooMany = KVTxn(
            compares: [], success: Array(repeating: .put(key: bytes("a"), value: [], lease: 0), count: KVTxn.operationsMax + 1),
            failure: [])
        #expect(!KVCommand(id: ClientRequestID(client: 1, sequence: 1), request: .txn(tooMany)).isWithinBounds)
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.txn(tooMany))) }
        let bigRange = KVTxn(compares: [], success: [.range(key: bytes("a"), rangeEnd: [], limit: 1_000_000)], failure: [])
        #expect(throws: KVCodecError.self) { try KVCommand(decoding: encoded(.txn(bigRange))) }
    }
}
