import KVStore

// Watches (issue 12): the apply loop's one hand-off to the watch hub, opening a watch, and the
// history reads of a watcher catching up. The hub and its rules are in ../Watch/.
extension NodeRuntime: WatchHistoryReader {
    /// Hands the hub what the applies (or a snapshot install) since the last call changed.
    /// Called after every apply and install, in the same turn: so whenever the actor is between
    /// turns, everything up to `store.revision` is published (the seam of `WatcherStateMachine`).
    func publishWatchEvents() {
        publishResponseHeader()
        let revision = store.revision
        guard revision != watchPublication.revision else { return }
        let published = watchPublication
        watchPublication = (revision, store.tracksRevisions)
        // Nobody watches: nothing to build (a watcher opened later reads the history itself).
        guard watchHub.hasWatchers, store.tracksRevisions else { return }
        var from = published.revision + 1
        if !published.tracksRevisions {
            // The first command of the revision format: the revisions up to its start had no
            // events (the store counted entries then), so there is nothing below it to miss.
            from = max(from, store.compactRevision + 1)
        }
        do throws(KVReadError) {
            let events = try store.events(fromRevision: from, in: nil, limit: .max)
            watchHub.publish(.events(events, through: revision))
        } catch {
            guard case .compacted(let compactRevision) = error else { return }
            // A snapshot jumped past us, or one batch outgrew the history's bound: watchers
            // that needed what is gone end with `compacted`; the rest is still published.
            watchHub.publish(.compacted(through: compactRevision))
            let events = (try? store.events(fromRevision: compactRevision + 1, in: nil, limit: .max)) ?? []
            watchHub.publish(.events(events, through: revision))
        }
    }

    /// `GET /watch`: opens a watch. From the history when `fromRevision` is at or below the
    /// current revision (above the compaction revision, else `compacted`), else live.
    func openWatch(_ request: WatchRequest) async throws(WatchOpenError) -> WatchStream {
        guard lifecycle == .running else { throw .notServing(message: "the node is \(lifecycle.rawValue), not running") }
        publishWatchEvents()
        let current = store.revision
        let phase: WatcherStateMachine.Phase
        if request.fromRevision == 0 || request.fromRevision > current {
            phase = .live(next: max(request.fromRevision, current + 1))
        } else {
            guard request.fromRevision > store.compactRevision else {
                throw .compacted(compactRevision: store.compactRevision)
            }
            phase = .catchingUp(next: request.fromRevision)
        }
        let id = try watchHub.register(selector: request.selector, phase: phase, knownThrough: current)
        return WatchStream(id: id, hub: watchHub, request: request, reader: self)
    }

    /// One page of a watcher's history, handed back in this turn: if it reaches the store's
    /// revision the watcher goes live above it (no apply can come between).
    func readWatchHistory(watcher id: UInt64, from revision: UInt64, selector: WatchSelector) {
        let pageMax = watchHub.limits.historyPageEventsMax
        do throws(KVReadError) {
            let events = try store.events(fromRevision: revision, in: selector.range, limit: pageMax)
            let matched = events.filter(selector.matches)
            if events.count < pageMax || events.last?.revision == store.revision {
                watchHub.caughtUp(id, events: matched, readThrough: store.revision, isCurrent: true)
            } else {
                watchHub.caughtUp(id, events: matched, readThrough: events.last?.revision ?? store.revision, isCurrent: false)
            }
        } catch {
            switch error {
            case .compacted(let compactRevision): watchHub.historyCompacted(id, through: compactRevision)
            case .futureRevision: watchHub.caughtUp(id, events: [], readThrough: store.revision, isCurrent: true)
            }
        }
    }
}
