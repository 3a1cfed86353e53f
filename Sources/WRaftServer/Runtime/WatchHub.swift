import KVStore

/// A batch of watch events: those of the range in revisions `from...scannedThrough`.
public struct WatchBatch: Sendable, Equatable {
    public var events: [KVEvent]
    /// Every revision up to this one was looked at (the next batch starts above it).
    public var scannedThrough: UInt64

    public init(events: [KVEvent], scannedThrough: UInt64) {
        self.events = events
        self.scannedThrough = scannedThrough
    }
}

/// The fan-out of watch events, off the runtime's actor (issue 12: many watchers must not slow
/// writes down). After each batch of applied entries the runtime hands the hub that batch's
/// events in one message (`publish`); watchers read them here and sleep here, so a thousand
/// watchers cost the runtime one message per batch, not one per watcher.
///
/// The hub keeps the newest events only (`ringEventsMax`); a watcher behind them reads from the
/// store's history through the runtime (the history is the source of truth: a watcher further
/// behind than the history is cancelled as compacted).
///
/// Invariant: `ring` holds every event of revisions `ringStart...revision`, in order.
actor WatchHub {
    /// The most watchers this node serves at once (`429`-like `too_many_watchers` past it).
    let watchersMax: Int
    /// The most events the hub keeps.
    let ringEventsMax: Int
    private(set) var watcherCount = 0
    private var ring: [KVEvent] = []
    /// The lowest revision whose events the ring is sure to hold.
    private var ringStart: UInt64 = 1
    /// The newest revision published.
    private(set) var revision: UInt64 = 0
    private var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    private var nextWaiterID: UInt64 = 0

    init(watchersMax: Int, ringEventsMax: Int = 8_192) {
        precondition(watchersMax >= 0 && ringEventsMax >= 1, "WatchHub: bounds are positive")
        self.watchersMax = watchersMax
        self.ringEventsMax = ringEventsMax
    }

    /// Admits one more watcher, or refuses past `watchersMax`.
    func register() -> Bool {
        guard watcherCount < watchersMax else { return false }
        watcherCount += 1
        return true
    }

    func unregister() {
        precondition(watcherCount > 0, "WatchHub: every unregister follows a register")
        watcherCount -= 1
    }

    /// The events of revisions above the previous publication, up to `revision`. With
    /// `isContinuous` false (a snapshot was installed, history was compacted past what was
    /// published) the ring starts over above `revision`.
    func publish(_ events: [KVEvent], revision: UInt64, isContinuous: Bool) {
        if !isContinuous {
            ring = []
            ringStart = revision + 1
        }
        ring.append(contentsOf: events)
        if ring.count > ringEventsMax {
            // Drop whole revisions from the front.
            var drop = ring.count - ringEventsMax
            while drop < ring.count, ring[drop].revision == ring[drop - 1].revision { drop += 1 }
            ringStart = drop < ring.count ? ring[drop].revision : revision + 1
            ring.removeFirst(drop)
        }
        self.revision = max(self.revision, revision)
        let woken = waiters
        waiters = [:]
        for (_, waiter) in woken { waiter.resume(returning: true) }
    }

    /// The events of `range` from revision `from` on, at most `limit` (whole revisions), or
    /// nil when the ring no longer holds `from` (read the store's history instead).
    func events(from: UInt64, in range: KVKeyRange?, limit: Int) -> WatchBatch? {
        guard from >= ringStart else { return nil }
        guard from <= revision else { return WatchBatch(events: [], scannedThrough: from - 1) }
        var low = 0
        var high = ring.count
        while low < high {
            let middle = (low + high) / 2
            if ring[middle].revision < from { low = middle + 1 } else { high = middle }
        }
        var found: [KVEvent] = []
        var scannedThrough = revision
        var position = low
        while position < ring.count {
            let event = ring[position]
            if found.count >= limit, let last = found.last, last.revision != event.revision {
                scannedThrough = event.revision - 1
                break
            }
            if range.map({ $0.contains(event.entry.key) }) ?? true { found.append(event) }
            position += 1
        }
        return WatchBatch(events: found, scannedThrough: scannedThrough)
    }

    /// Waits until a revision above `above` is published (true) or `timeout` passes (false).
    func wait(above: UInt64, timeout: Duration) async -> Bool {
        if revision > above { return true }
        let id = nextWaiterID
        nextWaiterID += 1
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.timeOut(id)
        }
        let changed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiters[id] = continuation
        }
        timer.cancel()
        return changed
    }

    private func timeOut(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.resume(returning: false)
    }
}
