import RaftCore
import Testing

import KVStore
import WRaftSupport

/// Builds entries for a store, numbering them consecutively.
struct EntryFeeder {
    var nextIndex: LogIndex = 1
    var term: Term = 1
    var client: UInt64 = 1
    var sequence: UInt64 = 0

    mutating func command(_ operation: KVOperation, id: ClientRequestID? = nil) -> Entry {
        let requestID = id ?? nextID()
        return entry(.command, KVCommand(id: requestID, operation: operation).encoded())
    }

    mutating func entry(_ kind: Entry.Kind, _ data: [UInt8] = []) -> Entry {
        defer { nextIndex = nextIndex.next }
        return Entry(term: term, index: nextIndex, kind: kind, data: data)
    }

    mutating func nextID() -> ClientRequestID {
        sequence += 1
        return ClientRequestID(client: client, sequence: sequence)
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct KVStoreOperationTests {
    @Test func putGetDeleteRecordIndexAndTerm() throws {
        var store = KVStore()
        var feeder = EntryFeeder()
        let put = store.apply(feeder.command(.put(key: bytes("a"), value: bytes("1"), condition: .none)))
        #expect(put?.1 == .put(index: 1, term: 1, revision: 1))
        feeder.term = 3
        _ = store.apply(feeder.command(.put(key: bytes("a"), value: bytes("22"), condition: .none)))
        let value = try #require(store.get(bytes("a")))
        #expect(value.value == bytes("22") && value.index == 2 && value.term == 3)
        #expect(store.count == 1)
        let deleted = store.apply(feeder.command(.delete(key: bytes("a"), condition: .none)))
        #expect(deleted?.1 == .deleted(index: 3, term: 3, revision: 3, existed: true))
        #expect(store.get(bytes("a")) == nil)
        let again = store.apply(feeder.command(.delete(key: bytes("a"), condition: .none)))
        #expect(again?.1 == .deleted(index: 4, term: 3, revision: 3, existed: false))
        #expect(store.appliedIndex == 4)
        #expect(store.count == 0)
    }

    @Test func noopAndMembershipOnlyAdvanceAppliedIndex() {
        var store = KVStore()
        var feeder = EntryFeeder()
        #expect(store.apply(feeder.entry(.membership, [1, 2, 3])) == nil)
        #expect(store.apply(feeder.entry(.noop)) == nil)
        #expect(store.appliedIndex == 2)
        #expect(store.count == 0)
        #expect(store.sessionCount == 0)
    }

    @Test func firstEntryMayStartAboveOne() {
        var store = KVStore()
        var feeder = EntryFeeder(nextIndex: 40)
        _ = store.apply(feeder.entry(.noop))
        _ = store.apply(feeder.entry(.noop))
        #expect(store.appliedIndex == 41)
    }

    @Test func undecodableCommandIsSkippedAndReported() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let good = KVCommand(id: .init(client: 5, sequence: 6), operation: .delete(key: [1], condition: .none))
        var damaged = good.encoded()
        damaged.removeLast()
        let result = store.apply(feeder.entry(.command, damaged))
        #expect(result?.0 == ClientRequestID(client: 5, sequence: 6))
        if case .undecodable = result?.1 {} else { Issue.record("expected .undecodable, got \(String(describing: result))") }
        let garbage = store.apply(feeder.entry(.command, [9, 9]))
        #expect(garbage?.0 == .unidentified)
        #expect(store.appliedIndex == 2)
        #expect(store.count == 0)
    }

    @Test func compareOnValue() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let key = bytes("k")
        // Absent key: a value condition fails.
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("x"), condition: .valueEquals(bytes("x")))))?.1
                == .compareFailed(currentIndex: nil))
        _ = store.apply(feeder.command(.put(key: key, value: bytes("v1"), condition: .none)))
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("v2"), condition: .valueEquals(bytes("v0")))))?.1
                == .compareFailed(currentIndex: 2))
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("v2"), condition: .valueEquals(bytes("v1")))))?.1
                == .put(index: 4, term: 1, revision: 2))
        #expect(store.get(key)?.value == bytes("v2"))
        #expect(
            store.apply(feeder.command(.delete(key: key, condition: .valueEquals(bytes("v1")))))?.1
                == .compareFailed(currentIndex: 4))
        #expect(
            store.apply(feeder.command(.delete(key: key, condition: .valueEquals(bytes("v2")))))?.1
                == .deleted(index: 6, term: 1, revision: 3, existed: true))
        #expect(store.get(key) == nil)
    }

    @Test func compareOnIndex() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let key = bytes("k")
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("a"), condition: .indexEquals(5))))?.1
                == .compareFailed(currentIndex: nil))
        // indexEquals(0): create only if absent.
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("a"), condition: .indexEquals(.zero))))?.1
                == .put(index: 2, term: 1, revision: 1))
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("b"), condition: .indexEquals(.zero))))?.1
                == .compareFailed(currentIndex: 2))
        #expect(
            store.apply(feeder.command(.put(key: key, value: bytes("b"), condition: .indexEquals(2))))?.1
                == .put(index: 4, term: 1, revision: 2))
        #expect(
            store.apply(feeder.command(.delete(key: key, condition: .indexEquals(2))))?.1
                == .compareFailed(currentIndex: 4))
        #expect(
            store.apply(feeder.command(.delete(key: key, condition: .indexEquals(4))))?.1
                == .deleted(index: 6, term: 1, revision: 3, existed: true))
        // Deleting an absent key under indexEquals(0) holds and deletes nothing.
        #expect(
            store.apply(feeder.command(.delete(key: key, condition: .indexEquals(.zero))))?.1
                == .deleted(index: 7, term: 1, revision: 3, existed: false))
        #expect(store.get(key) == nil)
    }

    @Test func keysCompareAsUnsignedBytes() {
        var store = KVStore()
        var feeder = EntryFeeder()
        for key: [UInt8] in [[0xFF], [0x01], [0x01, 0x00], [0x80], [0x00]] {
            _ = store.apply(feeder.command(.put(key: key, value: key, condition: .none)))
        }
        let listed = store.list(prefix: [], limit: 10)
        #expect(listed.items.map(\.key) == [[0x00], [0x01], [0x01, 0x00], [0x80], [0xFF]])
        #expect(!listed.hasMore)
    }

    /// Keys of 1 to 20 bytes over {0, 1, 255}: long shared prefixes and zero bytes around the
    /// 8-byte inline head. Listing must give exactly the byte-wise order.
    @Test func orderingMatchesByteComparisonForLongSharedPrefixes() {
        for seed in testSeeds(defaultCount: 5) {
            var generator = SplitMix64(seed: seed)
            var store = KVStore()
            var feeder = EntryFeeder()
            var keys = Set<[UInt8]>()
            for _ in 0..<2_000 {
                let length = Int.random(in: 1...20, using: &generator)
                let key = (0..<length).map { _ in [UInt8(0), 1, 255][Int.random(in: 0..<3, using: &generator)] }
                keys.insert(key)
                _ = store.apply(feeder.command(.put(key: key, value: [], condition: .none)))
            }
            let expected = keys.sorted { $0.lexicographicallyPrecedes($1) }
            let listed = store.list(prefix: [], limit: keys.count + 1)
            #expect(listed.items.map(\.key) == expected, "seed=\(seed)")
            for key in expected.prefix(50) { #expect(store.get(key) != nil, "seed=\(seed)") }
            let prefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1]
            #expect(
                store.list(prefix: prefix, limit: 10_000).items.map(\.key) == expected.filter { $0.starts(with: prefix) },
                "seed=\(seed)")
        }
    }

    @Test func listHonoursPrefixLimitAndMore() {
        var store = KVStore()
        var feeder = EntryFeeder()
        for key in ["a", "app", "apple", "apply", "b", "ap", "apq"] {
            _ = store.apply(feeder.command(.put(key: bytes(key), value: bytes(key.uppercased()), condition: .none)))
        }
        let all = store.list(prefix: bytes("ap"), limit: 100)
        #expect(all.items.map { String(decoding: $0.key, as: UTF8.self) } == ["ap", "app", "apple", "apply", "apq"])
        #expect(all.items.map { String(decoding: $0.value, as: UTF8.self) } == ["AP", "APP", "APPLE", "APPLY", "APQ"])
        #expect(all.items[0].index == 6)
        #expect(!all.hasMore)
        let two = store.list(prefix: bytes("app"), limit: 2)
        #expect(two.items.map { String(decoding: $0.key, as: UTF8.self) } == ["app", "apple"])
        #expect(two.hasMore)
        let exact = store.list(prefix: bytes("app"), limit: 3)
        #expect(exact.items.count == 3 && !exact.hasMore)
        let none = store.list(prefix: bytes("c"), limit: 5)
        #expect(none.items.isEmpty && !none.hasMore)
        let zero = store.list(prefix: bytes("a"), limit: 0)
        #expect(zero.items.isEmpty && zero.hasMore)
        let negative = store.list(prefix: bytes("zz"), limit: -1)
        #expect(negative.items.isEmpty && !negative.hasMore)
        #expect(store.list(prefix: [], limit: 100).items.count == 7)
    }

    @Test func summaries() {
        var feeder = EntryFeeder()
        #expect(KVStore.summary(of: feeder.command(.put(key: bytes("k1"), value: [1, 2, 3], condition: .none))) == "put k1 (3 B)")
        #expect(KVStore.summary(of: feeder.command(.delete(key: bytes("k"), condition: .none))) == "delete k")
        #expect(
            KVStore.summary(of: feeder.command(.put(key: bytes("k"), value: [1], condition: .indexEquals(5))))
                == "cas put k (1 B) if index=5")
        #expect(
            KVStore.summary(of: feeder.command(.delete(key: bytes("k"), condition: .valueEquals([1, 2]))))
                == "cas delete k if value=(2 B)")
        #expect(KVStore.summary(of: feeder.entry(.noop)) == "noop")
        #expect(KVStore.summary(of: feeder.entry(.membership, [1])) == "membership")
        #expect(KVStore.summary(of: feeder.entry(.command, [1, 2])) == "undecodable command (2 B)")
        let long = KVStore.summary(
            of: feeder.command(.delete(key: Array(repeating: UInt8(ascii: "x"), count: 500), condition: .none)))
        #expect(long.count < 80 && long.hasSuffix("…"))
    }
}

@Suite struct KVStoreSessionTests {
    @Test func duplicateReturnsFirstResultWithoutApplying() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let id = ClientRequestID(client: 9, sequence: 1)
        let first = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("a"), condition: .none), id: id))
        _ = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("b"), condition: .none)))
        // The retry of `id` arrives later (a re-forwarded proposal): it must not overwrite "b".
        let retry = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("a"), condition: .none), id: id))
        #expect(first?.1 == .put(index: 1, term: 1, revision: 1))
        #expect(retry?.0 == id)
        #expect(retry?.1 == .put(index: 1, term: 1, revision: 1))
        #expect(store.get(bytes("k"))?.value == bytes("b"))
        #expect(store.appliedIndex == 3)
    }

    @Test func duplicateOfFailedCompareReturnsTheFailure() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let id = ClientRequestID(client: 4, sequence: 8)
        let cas = KVOperation.put(key: bytes("k"), value: bytes("new"), condition: .valueEquals(bytes("old")))
        #expect(store.apply(feeder.command(cas, id: id))?.1 == .compareFailed(currentIndex: nil))
        _ = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("old"), condition: .none)))
        // Now the condition would hold, but the retry must answer as the first attempt did.
        #expect(store.apply(feeder.command(cas, id: id))?.1 == .compareFailed(currentIndex: nil))
        #expect(store.get(bytes("k"))?.value == bytes("old"))
    }

    @Test func requestsOutOfOrderWithinTheWindowApplyOnce() {
        var store = KVStore(sessionLimits: KVSessionLimits(sessionsMax: 10, resultsPerSessionMax: 4))
        var feeder = EntryFeeder()
        for sequence: UInt64 in [3, 1, 2, 5, 4] {
            let id = ClientRequestID(client: 1, sequence: sequence)
            let result = store.apply(feeder.command(.put(key: bytes("s\(sequence)"), value: [], condition: .none), id: id))
            #expect(result?.1 == .put(index: feeder.nextIndex.previous, term: 1, revision: feeder.nextIndex.previous.rawValue))
        }
        // Sequences 2...5 are remembered; 1 was dropped from the window of 4.
        let retry4 = store.apply(feeder.command(.delete(key: bytes("s4"), condition: .none), id: .init(client: 1, sequence: 4)))
        #expect(retry4?.1 == .put(index: 5, term: 1, revision: 5))
        let retry1 = store.apply(feeder.command(.delete(key: bytes("s1"), condition: .none), id: .init(client: 1, sequence: 1)))
        #expect(retry1?.1 == .sessionExpired)
        #expect(store.count == 5)
        // A new, higher sequence still applies.
        let fresh = store.apply(feeder.command(.delete(key: bytes("s1"), condition: .none), id: .init(client: 1, sequence: 6)))
        #expect(fresh?.1 == .deleted(index: 8, term: 1, revision: 6, existed: true))
    }

    @Test func sessionsAreEvictedLeastRecentlyUsedFirst() {
        let limits = KVSessionLimits(sessionsMax: 3, resultsPerSessionMax: 8)
        var store = KVStore(sessionLimits: limits)
        var feeder = EntryFeeder()
        func put(_ client: UInt64, _ sequence: UInt64) -> KVResult? {
            store.apply(
                feeder.command(
                    .put(key: bytes("c\(client)"), value: bytes("\(sequence)"), condition: .none),
                    id: .init(client: client, sequence: sequence)))?.1
        }
        _ = put(1, 1)  // index 1
        _ = put(2, 1)  // index 2
        _ = put(3, 1)  // index 3
        #expect(put(1, 1) == .put(index: 1, term: 1, revision: 1))  // duplicate; client 1 now used at index 4
        _ = put(4, 1)  // evicts client 2, the least recently used
        #expect(store.sessionCount == 3)
        #expect(put(1, 1) == .put(index: 1, term: 1, revision: 1))  // still remembered
        #expect(put(3, 1) == .put(index: 3, term: 1, revision: 3))  // still remembered
        // Client 2 was forgotten, so its retry applies again (the documented cost of eviction).
        #expect(put(2, 1) == .put(index: 8, term: 1, revision: 5))
        // That evicted client 4 (used at 5, older than 1's use at 6 and 3's at 7).
        #expect(put(4, 1) == .put(index: 9, term: 1, revision: 6))
    }

    /// Two replicas fed the same entries evict identically and end byte-identical, whatever
    /// their history of copies.
    @Test func evictionIsDeterministicAcrossReplicas() {
        for seed in testSeeds(defaultCount: 5) {
            var generator = SplitMix64(seed: seed)
            let limits = KVSessionLimits(sessionsMax: 16, resultsPerSessionMax: 4)
            var first = KVStore(sessionLimits: limits)
            var second = KVStore(sessionLimits: limits)
            var feeder = EntryFeeder()
            for step in 0..<2_000 {
                let id = ClientRequestID(
                    client: UInt64.random(in: 1...40, using: &generator),
                    sequence: UInt64.random(in: 1...12, using: &generator))
                let entry = feeder.command(.put(key: bytes("k\(step % 7)"), value: bytes("\(step)"), condition: .none), id: id)
                let a = first.apply(entry)
                let b = second.apply(entry)
                #expect(a?.1 == b?.1, "seed=\(seed)")
                if step == 1_000 {
                    // A replica restored from a snapshot mid-stream carries on identically.
                    second = (try? KVStore(snapshot: second.snapshot())) ?? KVStore()
                }
            }
            #expect(first.sessionCount == 16, "seed=\(seed)")
            #expect(first == second, "seed=\(seed)")
            #expect(first.snapshot() == second.snapshot(), "seed=\(seed)")
        }
    }
}
