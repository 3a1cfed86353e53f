import KVStore
import Synchronization

/// Reads a watcher's history for the hub: implemented by the node's runtime, which owns the
/// store. It must hand the page back with `WatchHub.caughtUp` (or `historyCompacted`) in the
/// same turn of its isolation as it read it, and publish every apply in the turn that made it.
protocol WatchHistoryReader: Sendable {
    func readWatchHistory(watcher id: UInt64, from revision: UInt64, selector: WatchSelector) async
}

/// The node's watches (issue 12): what the apply loop publishes, fanned out to every watcher
/// whose range and filters match, each with a bounded queue.
///
/// The apply loop's part is cheap and never blocks on a reader: `publish` appends one batch per
/// Ready to an inbox (its own lock) and wakes the fan-out task. The fan-out matches each batch
/// once per distinct selector (a thousand watchers of one prefix cost one match and a thousand
/// appends of the same events) and wakes the readers. A reader too slow for its queue is ended
/// (`WatchEnd.tooSlow`), and if the fan-out itself fell `WatchLimits.inboxEventsMax` events
/// behind, every live watcher is; memory stays bounded either way.
///
/// Readers use `WatchStream` (`NodeRuntime.openWatch` opens one); each watcher's decisions are
/// its `WatcherStateMachine`'s.
public final class WatchHub: Sendable {
    /// A batch from the apply loop.
    enum Publication: Sendable {
        /// The changes of the revisions after the previous publication, through `through`.
        case events([KVEvent], through: UInt64)
        /// The history through `compactRevision` was gone before it could be published (a
        /// snapshot installed, or the history's byte bound within one batch).
        case compacted(through: UInt64)
    }

    private struct Inbox {
        var publications: [Publication] = []
        var eventCount = 0
        /// Publications were dropped through this revision (the fan-out fell behind).
        var droppedThrough: UInt64?
        var fanOutWaiter: CheckedContinuation<Void, Never>?
        var isClosed = false
    }

    private struct Watcher {
        var machine: WatcherStateMachine
        let selector: WatchSelector
        var waiter: CheckedContinuation<Void, Never>?

        /// Changes the machine in place (a copy would copy its queue) and, when it says so,
        /// hands back the reader to wake.
        mutating func update(_ change: (inout WatcherStateMachine) -> Bool) -> CheckedContinuation<Void, Never>? {
            guard change(&machine), let waiter else { return nil }
            self.waiter = nil
            return waiter
        }
    }

    private struct Table {
        var watchers: [UInt64: Watcher] = [:]
        /// The watchers of each selector (the fan-out matches once per key).
        var groups: [WatchSelector: Set<UInt64>] = [:]
        var nextID: UInt64 = 1
        /// The last revision every live watcher was offered.
        var fannedOutThrough: UInt64 = 0
        var isClosed = false
    }

    let limits: WatchLimits
    private let inbox = Mutex(Inbox())
    private let table = Mutex(Table())
    /// Watchers registered (read by the apply loop without the table's lock).
    private let watcherCount = Atomic<Int>(0)

    init(limits: WatchLimits) {
        self.limits = limits
    }

    /// Whether any watcher is open: with none, the apply loop publishes nothing.
    var hasWatchers: Bool { watcherCount.load(ordering: .acquiring) > 0 }

    /// The watches open now.
    public var watcherCountNow: Int { watcherCount.load(ordering: .relaxed) }

    // MARK: The apply loop's side

    /// Hands the fan-out one publication. Cheap: a lock, an append and perhaps a wake-up.
    func publish(_ publication: Publication) {
        let waiter: CheckedContinuation<Void, Never>? = inbox.withLock { inbox in
            guard !inbox.isClosed else { return nil }
            let count: Int
            let through: UInt64
            switch publication {
            case .events(let events, let revision): (count, through) = (events.count, revision)
            case .compacted(let revision): (count, through) = (0, revision)
            }
            if inbox.eventCount + count > limits.inboxEventsMax {
                inbox.publications = []
                inbox.eventCount = 0
                inbox.droppedThrough = through
            } else {
                inbox.publications.append(publication)
                inbox.eventCount += count
            }
            defer { inbox.fanOutWaiter = nil }
            return inbox.fanOutWaiter
        }
        waiter?.resume()
    }

    // MARK: Opening and reading

    /// Registers a watcher; the caller (the runtime, in its own turn) decides where it starts:
    /// `.live(next:)` with `knownThrough` the store's revision, or `.catchingUp(next:)`.
    func register(selector: WatchSelector, phase: WatcherStateMachine.Phase, knownThrough: UInt64) throws(WatchOpenError) -> UInt64 {
        let result: Result<UInt64, WatchOpenError> = table.withLock { table in
            guard !table.isClosed else { return .failure(.notServing(message: "the node is stopping")) }
            guard table.watchers.count < limits.watchersMax else { return .failure(.tooManyWatchers(watchersMax: limits.watchersMax)) }
            let id = table.nextID
            table.nextID += 1
            table.watchers[id] = Watcher(
                machine: WatcherStateMachine(
                    phase: phase, knownThrough: knownThrough, queuedEventsMax: limits.queuedEventsMax,
                    queuedBytesMax: limits.queuedBytesMax),
                selector: selector)
            table.groups[selector, default: []].insert(id)
            watcherCount.add(1, ordering: .releasing)
            return .success(id)
        }
        return try result.get()
    }

    /// Removes a watcher (its reader went away).
    func cancel(_ id: UInt64) {
        let waiter: CheckedContinuation<Void, Never>? = table.withLock { table in
            guard let watcher = table.watchers.removeValue(forKey: id) else { return nil }
            table.groups[watcher.selector]?.remove(id)
            if table.groups[watcher.selector]?.isEmpty == true { table.groups[watcher.selector] = nil }
            watcherCount.subtract(1, ordering: .releasing)
            return watcher.waiter
        }
        waiter?.resume()
    }

    func take(_ id: UInt64, eventsMax: Int) -> WatcherStateMachine.Take {
        table.withLock { table in
            let fannedOutThrough = table.fannedOutThrough
            return table.watchers[id]?.machine.take(eventsMax: eventsMax, fannedOutThrough: fannedOutThrough) ?? .finished
        }
    }

    /// Where watcher `id` stands for a progress report that must not run ahead of what its
    /// reader was handed (etcd's `WatchProgressRequest`).
    func standing(_ id: UInt64) -> WatchStanding {
        table.withLock { table in
            guard let watcher = table.watchers[id] else { return .gone }
            // Parked with nothing to take: everything through its position was handed over.
            guard watcher.waiter != nil, !watcher.machine.hasWork, case .live = watcher.machine.phase else { return .busy }
            return .idle(through: max(watcher.machine.knownThrough, table.fannedOutThrough))
        }
    }

    /// A page of history for watcher `id` (see `WatcherStateMachine.caughtUp`).
    func caughtUp(_ id: UInt64, events: [KVEvent], readThrough: UInt64, isCurrent: Bool) {
        table.withLock { table in
            table.watchers[id]?.machine.caughtUp(events, readThrough: readThrough, isCurrent: isCurrent)
        }
    }

    /// Watcher `id`'s history read found it compacted.
    func historyCompacted(_ id: UInt64, through compactRevision: UInt64) {
        table.withLock { table in
            _ = table.watchers[id]?.machine.historyCompacted(through: compactRevision)
        }
    }

    /// Suspends until watcher `id` has something for `take`, or it is cancelled, or the calling
    /// task is cancelled.
    func waitForWork(_ id: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = table.withLock { table -> Bool in
                    guard let watcher = table.watchers[id], !Task.isCancelled, !watcher.machine.hasWork else { return true }
                    precondition(watcher.waiter == nil, "WatchHub: one reader per watcher")
                    table.watchers[id]?.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            wake(id)
        }
    }

    private func wake(_ id: UInt64) {
        let waiter: CheckedContinuation<Void, Never>? = table.withLock { table in
            defer { table.watchers[id]?.waiter = nil }
            return table.watchers[id]?.waiter
        }
        waiter?.resume()
    }

    // MARK: Fan-out

    /// The fan-out loop: run once per hub (the runtime starts it); returns after `close`.
    func runFanOut() async {
        while let (publications, droppedThrough) = await nextPublications() {
            if let droppedThrough { fanOut { $0.publicationsDropped(through: droppedThrough) } }
            for publication in publications { fanOut(publication) }
        }
    }

    private func nextPublications() async -> ([Publication], UInt64?)? {
        while true {
            let taken: ([Publication], UInt64?)?? = inbox.withLock { inbox in
                if inbox.isClosed { return .some(nil) }
                guard !inbox.publications.isEmpty || inbox.droppedThrough != nil else { return nil }
                defer {
                    inbox.publications = []
                    inbox.eventCount = 0
                    inbox.droppedThrough = nil
                }
                return .some((inbox.publications, inbox.droppedThrough))
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = inbox.withLock { inbox -> Bool in
                    guard inbox.publications.isEmpty, inbox.droppedThrough == nil, !inbox.isClosed else { return true }
                    inbox.fanOutWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func fanOut(_ publication: Publication) {
        switch publication {
        case .events(let events, let through):
            var woken: [CheckedContinuation<Void, Never>] = []
            table.withLock { table in
                for (selector, ids) in table.groups {
                    let matched = events.filter(selector.matches)
                    guard !matched.isEmpty else { continue }
                    for id in ids {
                        if let waiter = table.watchers[id]?.update({ $0.offer(matched[...]) }) { woken.append(waiter) }
                    }
                }
                table.fannedOutThrough = max(table.fannedOutThrough, through)
            }
            for waiter in woken { waiter.resume() }
        case .compacted(let through):
            fanOut { $0.historyCompacted(through: through) }
        }
    }

    /// Applies `change` to every watcher and wakes those it says to wake.
    private func fanOut(_ change: (inout WatcherStateMachine) -> Bool) {
        var woken: [CheckedContinuation<Void, Never>] = []
        table.withLock { table in
            for id in Array(table.watchers.keys) {
                if let waiter = table.watchers[id]?.update(change) { woken.append(waiter) }
            }
        }
        for waiter in woken { waiter.resume() }
    }

    /// Ends every watcher (`WatchEnd.closed`) and stops the fan-out: the node is stopping.
    func close() {
        fanOut { $0.close() }
        table.withLock { $0.isClosed = true }
        let waiter: CheckedContinuation<Void, Never>? = inbox.withLock { inbox in
            inbox.isClosed = true
            defer { inbox.fanOutWaiter = nil }
            return inbox.fanOutWaiter
        }
        waiter?.resume()
    }
}
