import Testing

@testable import KVStore

/// `list(prefix:after:limit:)`: the continuation of a page (`GET /data?cursor=`).
@Suite struct KVStoreListCursorTests {
    @Test func pagesAfterAKeyVisitEveryKeyOnce() {
        var store = KVStore()
        var feeder = EntryFeeder()
        let keys = ["a", "ap", "app", "apple", "apply", "apq", "b", "ba"]
        for key in keys {
            _ = store.apply(feeder.command(.put(key: bytes(key), value: [], condition: .none)))
        }
        var seen: [String] = []
        var after: [UInt8]?
        var pages = 0
        repeat {
            let page = store.list(prefix: bytes("ap"), after: after, limit: 2)
            seen += page.items.map { String(decoding: $0.key, as: UTF8.self) }
            after = page.hasMore ? page.items.last?.key : nil
            pages += 1
        } while after != nil && pages < 10
        #expect(seen == ["ap", "app", "apple", "apply", "apq"])
        #expect(pages == 3)
        // A cursor that is not a stored key continues after where it would sort.
        #expect(store.list(prefix: bytes("ap"), after: bytes("appl"), limit: 10).items.map(\.key) == [bytes("apple"), bytes("apply"), bytes("apq")])
        // A cursor below the prefix starts at the prefix; one past it lists nothing.
        #expect(store.list(prefix: bytes("ap"), after: bytes("a"), limit: 10).items.count == 5)
        let past = store.list(prefix: bytes("ap"), after: bytes("b"), limit: 10)
        #expect(past.items.isEmpty && !past.hasMore)
    }
}
