import RaftCore
import Testing

import KVStore
import WRaftSupport

/// The store's size for the quota (issue 8: `--quota-bytes`): keys + values + a fixed overhead
/// per key, kept through puts, overwrites, deletes, failed conditions and snapshot restore.
@Suite struct KVSizeTests {
    static let overhead = KVStore.keyOverheadBytes

    @Test func sizeFollowsPutsOverwritesAndDeletes() {
        var store = KVStore()
        var feeder = EntryFeeder()
        #expect(store.byteCount == 0)
        _ = store.apply(feeder.command(.put(key: bytes("ab"), value: bytes("12345"), condition: .none)))
        #expect(store.byteCount == 2 + 5 + Self.overhead)
        _ = store.apply(feeder.command(.put(key: bytes("c"), value: [], condition: .none)))
        #expect(store.byteCount == (2 + 5 + Self.overhead) + (1 + Self.overhead))
        // An overwrite counts only the change of value, shrinking or growing.
        _ = store.apply(feeder.command(.put(key: bytes("ab"), value: bytes("1"), condition: .none)))
        #expect(store.byteCount == (2 + 1 + Self.overhead) + (1 + Self.overhead))
        _ = store.apply(feeder.command(.put(key: bytes("c"), value: bytes("xyz"), condition: .indexEquals(2))))
        #expect(store.byteCount == (2 + 1 + Self.overhead) + (1 + 3 + Self.overhead))
        // A failed condition and a delete of a missing key change nothing.
        _ = store.apply(feeder.command(.put(key: bytes("c"), value: bytes("long value"), condition: .indexEquals(1))))
        _ = store.apply(feeder.command(.delete(key: bytes("missing"), condition: .none)))
        #expect(store.byteCount == (2 + 1 + Self.overhead) + (1 + 3 + Self.overhead))
        _ = store.apply(feeder.command(.delete(key: bytes("ab"), condition: .none)))
        #expect(store.byteCount == 1 + 3 + Self.overhead)
        _ = store.apply(feeder.command(.delete(key: bytes("c"), condition: .valueEquals(bytes("xyz")))))
        #expect(store.byteCount == 0)
    }

    @Test func aRetriedCommandIsCountedOnce() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let id = feeder.nextID()
        _ = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("v"), condition: .none), id: id))
        _ = store.apply(feeder.command(.put(key: bytes("k"), value: bytes("v"), condition: .none), id: id))
        #expect(store.byteCount == 2 + Self.overhead)
    }

    @Test func projectedSizeMatchesTheSizeAfterApplying() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let operations: [KVOperation] = [
            .put(key: bytes("a"), value: bytes("one"), condition: .none),
            .put(key: bytes("b"), value: Array(repeating: 7, count: 1_000), condition: .none),
            .put(key: bytes("a"), value: bytes("a longer value"), condition: .none),
            .put(key: bytes("b"), value: [], condition: .none),
            .delete(key: bytes("a"), condition: .none),
            .delete(key: bytes("never"), condition: .none),
            .put(key: bytes("c"), value: bytes("c"), condition: .indexEquals(0)),
        ]
        for operation in operations {
            let projected = store.byteCount(afterApplying: operation)
            _ = store.apply(feeder.command(operation))
            #expect(store.byteCount == projected, "\(operation)")
        }
    }

    /// The size is restored from a snapshot (it is not in the bytes: it follows from them), and
    /// random histories on two stores agree with a recount from the keys.
    @Test func sizeSurvivesSnapshotRestoreAndMatchesARecount() throws {
        for seed in testSeeds(defaultCount: 20) {
            var generator = SplitMix64(seed: seed)
            var store = KVStore()
            var feeder = EntryFeeder()
            for _ in 0..<300 {
                let key = bytes("k\(Int.random(in: 0..<40, using: &generator))")
                let operation: KVOperation =
                    Bool.random(using: &generator)
                    ? .put(key: key, value: Array(repeating: 1, count: Int.random(in: 0..<200, using: &generator)), condition: .none)
                    : .delete(key: key, condition: .none)
                _ = store.apply(feeder.command(operation))
            }
            let listed = store.list(prefix: [], limit: Int.max).items
            let recount = listed.reduce(0) { $0 + $1.key.count + $1.value.count + Self.overhead }
            #expect(store.byteCount == recount, "seed=\(seed)")
            let restored = try KVStore(snapshot: store.snapshot())
            #expect(restored.byteCount == store.byteCount, "seed=\(seed)")
        }
    }
}

/// Paging a listing: `list(prefix:after:limit:)` starts strictly after a key, so any number of
/// keys can be listed page by page (the HTTP layer builds its cursor on it).
@Suite struct KVListPagingTests {
    static func store(keys: [String]) -> KVStore {
        var store = KVStore()
        var feeder = EntryFeeder()
        for key in keys { _ = store.apply(feeder.command(.put(key: bytes(key), value: bytes("v-" + key), condition: .none))) }
        return store
    }

    static func keys(_ page: (items: [(key: [UInt8], value: [UInt8], index: LogIndex)], hasMore: Bool)) -> [String] {
        page.items.map { String(decoding: $0.key, as: UTF8.self) }
    }

    @Test func aPageStartsStrictlyAfterTheGivenKey() {
        let store = Self.store(keys: ["a", "b/1", "b/2", "b/3", "b/30", "c"])
        #expect(Self.keys(store.list(prefix: bytes("b/"), after: bytes("b/2"), limit: 10)) == ["b/3", "b/30"])
        // A key that does not exist, below, inside and above the prefix's run.
        #expect(Self.keys(store.list(prefix: bytes("b/"), after: bytes("b/25"), limit: 10)) == ["b/3", "b/30"])
        #expect(Self.keys(store.list(prefix: bytes("b/"), after: bytes("a"), limit: 10)) == ["b/1", "b/2", "b/3", "b/30"])
        #expect(Self.keys(store.list(prefix: bytes("b/"), after: bytes("b/"), limit: 10)) == ["b/1", "b/2", "b/3", "b/30"])
        #expect(store.list(prefix: bytes("b/"), after: bytes("c"), limit: 10).items.isEmpty)
        #expect(Self.keys(store.list(prefix: [], after: bytes("b/30"), limit: 10)) == ["c"])
        #expect(Self.keys(store.list(prefix: [], after: nil, limit: 2)) == ["a", "b/1"])
        let page = store.list(prefix: bytes("b/"), after: bytes("b/1"), limit: 2)
        #expect(Self.keys(page) == ["b/2", "b/3"] && page.hasMore)
    }

    @Test func pagingVisitsEveryKeyOnce() {
        for seed in testSeeds(defaultCount: 10) {
            var generator = SplitMix64(seed: seed)
            let all = Set((0..<300).map { _ in "k\(Int.random(in: 0..<1_000, using: &generator))" }).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            let store = Self.store(keys: all)
            let limit = Int.random(in: 1...40, using: &generator)
            var listed: [String] = []
            var after: [UInt8]? = nil
            for _ in 0...all.count {
                let page = store.list(prefix: bytes("k"), after: after, limit: limit)
                listed += Self.keys(page)
                guard page.hasMore, let last = page.items.last else { break }
                after = last.key
            }
            #expect(listed == all, "seed=\(seed) limit=\(limit)")
        }
    }
}
