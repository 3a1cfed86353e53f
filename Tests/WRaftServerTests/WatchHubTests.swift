import KVStore
import RaftCore
import Synchronization
import Testing

@testable import WRaftServer

/// The hub: fan-out to many watchers of one selector, the watcher limit, a hub that falls
/// behind, closing. No runtime: the tests publish by hand.
@Suite(.timeLimit(.minutes(1)))
struct WatchHubTests {
    /// A reader for watchers that never read history (they start live).
    struct NoHistory: WatchHistoryReader {
        func readWatchHistory(watcher id: UInt64, from revision: UInt64, selector: WatchSelector) async {
            Issue.record("a live watcher read history")
        }
    }

    static func open(_ hub: WatchHub, _ request: WatchRequest, after revision: UInt64) throws -> WatchStream {
        let id = try hub.register(selector: request.selector, phase: .live(next: max(request.fromRevision, revision + 1)), knownThrough: revision)
        return WatchStream(id: id, hub: hub, request: request, reader: NoHistory())
    }

    static func put(_ revision: UInt64, _ key: String) -> KVEvent { WatcherStateMachineTests.event(revision, key) }

    /// The revisions of the next `count` events `stream` delivers (bounded by the suite's limit).
    static func collect(_ stream: WatchStream, count: Int) async -> [UInt64] {
        var revisions: [UInt64] = []
        while revisions.count < count, let delivery = await stream.next(progressAfter: .seconds(5)) {
            guard case .events(let events) = delivery else { break }
            revisions += events.map(\.revision)
        }
        return revisions
    }

    @Test func aThousandWatchersOfOnePrefixEachGetEveryMatchingEventOnce() async throws {
        let hub = WatchHub(limits: WatchLimits())
        let fanOut = Task { await hub.runFanOut() }
        defer { hub.close() }
        let request = WatchRequest(range: .prefix(Array("app/".utf8)))
        let streams = try (0..<1_000).map { _ in try Self.open(hub, request, after: 0) }
        hub.publish(.events([Self.put(1, "app/a"), Self.put(2, "other"), Self.put(3, "app/b")], through: 3))
        hub.publish(.events([Self.put(4, "app/c")], through: 4))
        for stream in streams {
            #expect(await Self.collect(stream, count: 3) == [1, 3, 4])
            #expect(await stream.next(progressAfter: .milliseconds(1)) == .progress(revision: 4))
            stream.cancel()
        }
        #expect(hub.watcherCountNow == 0)
        hub.close()
        await fanOut.value
    }

    @Test func filtersAndRangesAreKeptApart() async throws {
        let hub = WatchHub(limits: WatchLimits())
        let fanOut = Task { await hub.runFanOut() }
        let noDeletes = try Self.open(hub, WatchRequest(range: .prefix([]), excludesDeletes: true), after: 0)
        let oneKey = try Self.open(hub, WatchRequest(range: .key(Array("b".utf8))), after: 0)
        hub.publish(.events([Self.put(1, "a"), WatcherStateMachineTests.event(2, "a", kind: .delete), Self.put(3, "b")], through: 3))
        #expect(await Self.collect(noDeletes, count: 2) == [1, 3])
        #expect(await Self.collect(oneKey, count: 1) == [3])
        hub.close()
        #expect(await noDeletes.next(progressAfter: nil) == .ended(.closed))
        #expect(await noDeletes.next(progressAfter: nil) == nil)
        await fanOut.value
    }

    @Test func theWatcherLimitRefusesOneMore() throws {
        let hub = WatchHub(limits: WatchLimits(watchersMax: 2))
        let request = WatchRequest(range: .key([1]))
        let first = try Self.open(hub, request, after: 0)
        _ = try Self.open(hub, request, after: 0)
        #expect(throws: WatchOpenError.tooManyWatchers(watchersMax: 2)) { _ = try Self.open(hub, request, after: 0) }
        first.cancel()
        _ = try Self.open(hub, request, after: 0)
        hub.close()
    }

    @Test func aSlowReaderIsEndedAndTheOthersGoOn() async throws {
        let hub = WatchHub(limits: WatchLimits(queuedEventsMax: 10))
        let fanOut = Task { await hub.runFanOut() }
        let request = WatchRequest(range: .prefix([]))
        let slow = try Self.open(hub, request, after: 0)
        let fast = try Self.open(hub, request, after: 0)
        var fastSeen: [UInt64] = []
        for revision in UInt64(1)...30 {
            hub.publish(.events([Self.put(revision, "k")], through: revision))
            fastSeen += await Self.collect(fast, count: 1)
        }
        #expect(fastSeen == Array(1...30))
        // The slow one read nothing: it holds at most its bound, then ends.
        var slowSeen: [UInt64] = []
        var end: WatchEnd?
        while let delivery = await slow.next(progressAfter: .seconds(5)) {
            switch delivery {
            case .events(let events): slowSeen += events.map(\.revision)
            case .ended(let reason): end = reason
            case .progress: Issue.record("no progress before the end")
            }
        }
        #expect(slowSeen.isEmpty, "its queue was dropped when it overflowed")
        #expect(end == .tooSlow(queuedEventsMax: 10, queuedBytesMax: WatchLimits.queuedBytesMaxDefault))
        hub.close()
        await fanOut.value
    }

    @Test func aHubThatFallsBehindEndsItsLiveWatchersInsteadOfGrowing() async throws {
        let hub = WatchHub(limits: WatchLimits(inboxEventsMax: 5))
        let watcher = try Self.open(hub, WatchRequest(range: .prefix([])), after: 0)
        // No fan-out running yet: the inbox fills and drops.
        for revision in UInt64(1)...10 { hub.publish(.events([Self.put(revision, "k")], through: revision)) }
        let fanOut = Task { await hub.runFanOut() }
        var end: WatchEnd?
        while let delivery = await watcher.next(progressAfter: .seconds(5)) {
            if case .ended(let reason) = delivery { end = reason }
        }
        #expect(end == .tooSlow(queuedEventsMax: WatchLimits.queuedEventsMaxDefault, queuedBytesMax: WatchLimits.queuedBytesMaxDefault))
        hub.close()
        await fanOut.value
    }

    @Test func aCompactedPublicationEndsTheWatchersThatMissedIt() async throws {
        let hub = WatchHub(limits: WatchLimits())
        let fanOut = Task { await hub.runFanOut() }
        let behind = try Self.open(hub, WatchRequest(range: .prefix([])), after: 3)
        let future = try Self.open(hub, WatchRequest(range: .prefix([]), fromRevision: 20), after: 3)
        hub.publish(.compacted(through: 8))
        hub.publish(.events([Self.put(9, "k")], through: 9))
        #expect(await behind.next(progressAfter: .seconds(5)) == .ended(.compacted(compactRevision: 8)))
        #expect(await future.next(progressAfter: .milliseconds(50)) == .progress(revision: 9))
        hub.close()
        await fanOut.value
    }
}
