import KVStore

/// One open watch, read by one reader (the SSE handler of `GET /watch`; later etcd's Watch
/// service): `next` until it returns nil, then (or on leaving early) `cancel`.
///
/// ```swift
/// let stream = try await runtime.openWatch(WatchRequest(range: .prefix(Array("app/".utf8))))
/// defer { stream.cancel() }
/// while let delivery = await stream.next(progressAfter: .seconds(10)) { ... }
/// ```
public final class WatchStream: Sendable {
    /// Events handed to the reader in one delivery at most (a revision is never split, so a
    /// big transaction may pass it).
    public static let deliveryEventsMax = 256

    let id: UInt64
    let hub: WatchHub
    let selector: WatchSelector
    let reader: any WatchHistoryReader
    /// The request as opened.
    public let request: WatchRequest

    init(id: UInt64, hub: WatchHub, request: WatchRequest, reader: any WatchHistoryReader) {
        self.id = id
        self.hub = hub
        self.selector = request.selector
        self.request = request
        self.reader = reader
    }

    /// The next delivery: events, a progress notification when nothing matched for
    /// `progressAfter` (nil: never), or the end. nil after the end, after `cancel`, or when the
    /// calling task is cancelled.
    public func next(progressAfter: Duration?) async -> WatchDelivery? {
        var timedOut = false
        while !Task.isCancelled {
            switch hub.take(id, eventsMax: Self.deliveryEventsMax) {
            case .deliver(let events): return .events(events)
            case .end(let end): return .ended(end)
            case .finished: return nil
            case .readHistory(let revision):
                await reader.readWatchHistory(watcher: id, from: revision, selector: selector)
            case .wait(let seenThrough):
                if timedOut { return .progress(revision: seenThrough) }
                timedOut = !(await waitForWork(timeout: progressAfter))
            }
        }
        return nil
    }

    /// Whether the reader is parked in `next` having been handed everything through a revision.
    public func standing() -> WatchStanding {
        hub.standing(id)
    }

    /// Ends the watch and frees its place (idempotent).
    public func cancel() {
        hub.cancel(id)
    }

    /// True when woken by work, false after `timeout`.
    private func waitForWork(timeout: Duration?) async -> Bool {
        guard let timeout else {
            await hub.waitForWork(id)
            return true
        }
        let hub = self.hub
        let id = self.id
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await hub.waitForWork(id)
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
