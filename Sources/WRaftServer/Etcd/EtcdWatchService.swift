import Foundation
import Synchronization
import GRPCCore
import KVStore
import WRaftAPI
import WRaftEtcd

/// etcd's Watch service on the node's watch hub (`NodeService.openWatch`): one bidirectional
/// stream multiplexes up to `watchesPerStreamMax` watches. A create request opens a
/// `WatchStream` and answers `created`; each watch's deliveries become responses with its
/// `watch_id` (events, progress when `progress_notify`, and a last `canceled` one, with
/// `compact_revision` for a compacted start as etcd does). Every watch is cancelled when the
/// stream ends.
struct EtcdWatchService: Etcdserverpb_Watch.SimpleServiceProtocol {
    let etcd: EtcdContext

    /// Watches open at once on one stream; one more is answered `created` and `canceled`.
    static let watchesPerStreamMax = 1_024
    /// How long a `progress_notify` watch stays idle before a progress response (etcd: 10 min).
    static let progressNotifyInterval: Duration = .seconds(600)
    /// The `watch_id` of a response to a WatchProgressRequest (etcd's `InvalidWatchID`).
    static let streamProgressWatchID: Int64 = -1
    /// etcd's cancel reason for a start at or below the compaction revision.
    static let compactedReason = "etcdserver: mvcc: required revision has been compacted"
    /// etcd's cancel reason for a create request naming a `watch_id` the stream uses.
    static let duplicateIDReason = "mvcc: duplicate watch ID provided on the WatchStream"
    /// etcd's cancel reason for a range whose end is not above its key.
    static let emptyRangeReason = "mvcc: watcher range is empty"

    func watch(
        request: RPCAsyncSequence<Etcdserverpb_WatchRequest, any Error>,
        response: RPCWriter<Etcdserverpb_WatchResponse>, context: ServerContext
    ) async throws {
        let etcd = self.etcd
        // Discarding: a long stream's finished watches leave no results behind in the group.
        try await withThrowingDiscardingTaskGroup { group in
            var watches: [Int64: WatchStream] = [:]
            var nextWatchID: Int64 = 0
            let finished = FinishedWatches()
            defer { for stream in watches.values { stream.cancel() } }
            for try await message in request {
                switch message.requestUnion {
                case .createRequest(let create):
                    // Finished watches leave their place (their tasks cancelled them).
                    for done in finished.drain() where watches[done.watchID] === done.stream {
                        watches[done.watchID] = nil
                    }
                    var id = create.watchID
                    if id == 0 {
                        while watches[nextWatchID] != nil { nextWatchID += 1 }
                        id = nextWatchID
                        nextWatchID += 1
                    }
                    // A watch that cannot start is answered as etcd answers: one response,
                    // `created` and `canceled`, with the reason.
                    if let refusal = Self.refusal(of: id, watches: watches) {
                        try await response.write(await Self.refused(watchID: refusal.watchID, reason: refusal.reason, etcd: etcd))
                        continue
                    }
                    let stream: WatchStream
                    do {
                        stream = try await etcd.node.openWatch(try Self.watchRequest(create, etcd: etcd))
                    } catch let error as WatchOpenError {
                        switch error {
                        case .compacted(let compactRevision):
                            // etcd creates the watch, then its first (and last) response says
                            // the start is compacted.
                            var reply = Etcdserverpb_WatchResponse()
                            reply.header = etcd.header()
                            reply.watchID = id
                            reply.created = true
                            try await response.write(reply)
                            var end = Etcdserverpb_WatchResponse()
                            end.header = reply.header
                            end.watchID = id
                            end.canceled = true
                            end.compactRevision = Int64(clamping: compactRevision)
                            end.cancelReason = Self.compactedReason
                            try await response.write(end)
                        case .tooManyWatchers(let watchersMax):
                            let reason = "etcdserver: this node serves \(watchersMax) watches already (--watchers-max)"
                            try await response.write(await Self.refused(watchID: id, reason: reason, etcd: etcd))
                        case .notServing(let message):
                            try await response.write(await Self.refused(watchID: id, reason: "etcdserver: \(message)", etcd: etcd))
                        }
                        continue
                    } catch let error as RPCError {
                        try await response.write(await Self.refused(watchID: id, reason: error.message, etcd: etcd))
                        continue
                    }
                    var reply = Etcdserverpb_WatchResponse()
                    reply.watchID = id
                    reply.created = true
                    watches[id] = stream
                    reply.header = etcd.header()
                    try await response.write(reply)
                    let progressAfter = create.progressNotify ? Self.progressNotifyInterval : nil
                    group.addTask {
                        defer { finished.add(watchID: id, stream: stream) }
                        try await Self.forward(stream, watchID: id, progressAfter: progressAfter, etcd: etcd, to: response)
                    }
                case .cancelRequest(let cancel):
                    guard let stream = watches.removeValue(forKey: cancel.watchID) else { continue }
                    stream.cancel()
                    var reply = Etcdserverpb_WatchResponse()
                    reply.header = etcd.header()
                    reply.watchID = cancel.watchID
                    reply.canceled = true
                    try await response.write(reply)
                case .progressRequest:
                    // The answer promises that every watch of the stream was sent everything
                    // through its revision: it waits (boundedly) for each watch's events to be
                    // written, and says the lowest revision they stand at. While a watch stays
                    // busy it is not answered, as etcd (3.5 on) does not; the client asks again.
                    guard let revision = try await Self.progressRevision(Array(watches.values)) else { continue }
                    var reply = Etcdserverpb_WatchResponse()
                    reply.header = etcd.header(revision: revision)
                    reply.watchID = Self.streamProgressWatchID
                    try await response.write(reply)
                case nil:
                    continue
                }
            }
            // The client closed its side: the watches run until it ends the call (the group
            // waits for them).
        }
    }

    /// How long a progress request waits for the stream's watches to be idle, in steps.
    static let progressWaitStep: Duration = .milliseconds(10)
    static let progressWaitSteps = 100

    /// The revision a progress response may say: the lowest any watch stands at once every
    /// watch is idle (nil: the store's revision, with no watch), or nil after the wait.
    static func progressRevision(_ streams: [WatchStream]) async throws -> UInt64?? {
        for _ in 0..<progressWaitSteps {
            var lowest: UInt64?
            var isBusy = false
            for stream in streams {
                switch stream.standing() {
                case .idle(let through): lowest = min(lowest ?? through, through)
                case .busy: isBusy = true
                case .gone: continue
                }
            }
            if !isBusy { return .some(lowest) }
            try await Task.sleep(for: progressWaitStep)
        }
        return nil
    }

    /// Why a create request naming `id` is refused before it is opened (nil: it may open): a
    /// negative id, an id this stream uses already (etcd answers that with `watch_id` -1 and
    /// its mvcc message), or a stream at `watchesPerStreamMax`.
    static func refusal(of id: Int64, watches: [Int64: WatchStream]) -> (watchID: Int64, reason: String)? {
        guard id >= 0 else { return (id, "etcdserver: a watch_id is 0 (the server assigns one) or positive") }
        guard watches[id] == nil else { return (streamProgressWatchID, duplicateIDReason) }
        guard watches.count < watchesPerStreamMax else {
            return (id, "etcdserver: this stream serves \(watchesPerStreamMax) watches already")
        }
        return nil
    }

    /// The one response to a create request that did not start a watch.
    private static func refused(watchID: Int64, reason: String, etcd: EtcdContext) async -> Etcdserverpb_WatchResponse {
        var reply = Etcdserverpb_WatchResponse()
        reply.header = etcd.header()
        reply.watchID = watchID
        reply.created = true
        reply.canceled = true
        reply.cancelReason = reason
        return reply
    }

    /// One watch's deliveries as responses, until its end (or its cancel).
    private static func forward(
        _ stream: WatchStream, watchID: Int64, progressAfter: Duration?, etcd: EtcdContext,
        to response: RPCWriter<Etcdserverpb_WatchResponse>
    ) async throws {
        defer { stream.cancel() }
        while let delivery = await stream.next(progressAfter: progressAfter) {
            var reply = Etcdserverpb_WatchResponse()
            reply.watchID = watchID
            switch delivery {
            case .events(let events):
                reply.header = etcd.header(revision: events.last?.revision)
                reply.events = events.map { Mvccpb_Event($0, includesPrevious: stream.request.includesPrevious) }
            case .progress(let revision):
                reply.header = etcd.header(revision: revision)
            case .ended(let end):
                reply.header = etcd.header()
                reply.canceled = true
                switch end {
                case .compacted(let compactRevision):
                    reply.compactRevision = Int64(clamping: compactRevision)
                    reply.cancelReason = compactedReason
                case .tooSlow:
                    reply.cancelReason = "etcdserver: the watcher fell behind the writes; watch again from the next revision"
                case .closed:
                    reply.cancelReason = "etcdserver: the node is stopping"
                }
            }
            try await response.write(reply)
            if case .ended = delivery { return }
        }
    }

    /// A create request as the hub's `WatchRequest`; its numbers and keys range-checked.
    static func watchRequest(_ create: Etcdserverpb_WatchCreateRequest, etcd: EtcdContext) throws(RPCError) -> WatchRequest {
        let end = try etcd.checkedRangeEnd(create.rangeEnd)
        // etcd watches from the smallest key when none is given.
        let key = create.key.isEmpty ? [0] : try etcd.checkedKey(create.key)
        let range = KVKeyRange.etcd(key: key, rangeEnd: end)
        if let rangeEnd = range.end, !key.lexicographicallyPrecedes(rangeEnd) {
            throw RPCError(code: .invalidArgument, message: emptyRangeReason)
        }
        guard create.startRevision >= 0 else { throw EtcdError.invalid("start_revision is not negative") }
        let fromRevision = try EtcdContext.checkedRevision(create.startRevision) ?? 0
        var request = WatchRequest(range: range, fromRevision: fromRevision, includesPrevious: create.prevKv)
        for filter in create.filters {
            switch filter {
            case .noput: request.excludesPuts = true
            case .nodelete: request.excludesDeletes = true
            case .UNRECOGNIZED: throw EtcdError.invalid("unknown watch filter")
            }
        }
        return request
    }
}

/// The watches of one stream whose tasks ended, for the stream's loop to forget (at most
/// `watchesPerStreamMax` are open, so at most that many wait here).
private final class FinishedWatches: Sendable {
    private let ended = Mutex<[(watchID: Int64, stream: WatchStream)]>([])

    func add(watchID: Int64, stream: WatchStream) {
        ended.withLock { $0.append((watchID, stream)) }
    }

    func drain() -> [(watchID: Int64, stream: WatchStream)] {
        ended.withLock { list in
            defer { list.removeAll() }
            return list
        }
    }
}

extension Mvccpb_Event {
    init(_ event: KVEvent, includesPrevious: Bool) {
        self.init()
        type = event.kind == .put ? .put : .delete
        kv = Mvccpb_KeyValue(event.entry)
        if includesPrevious, let previous = event.previous { prevKv = Mvccpb_KeyValue(previous) }
    }
}
