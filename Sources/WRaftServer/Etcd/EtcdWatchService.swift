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

    func watch(
        request: RPCAsyncSequence<Etcdserverpb_WatchRequest, any Error>,
        response: RPCWriter<Etcdserverpb_WatchResponse>, context: ServerContext
    ) async throws {
        let etcd = self.etcd
        try await withThrowingTaskGroup(of: Void.self) { group in
            var watches: [Int64: WatchStream] = [:]
            var nextWatchID: Int64 = 0
            let finished = FinishedWatches()
            defer { for stream in watches.values { stream.cancel() } }
            for try await message in request {
                switch message.requestUnion {
                case .createRequest(let create):
                    var id = create.watchID
                    if id == 0 {
                        while watches[nextWatchID] != nil { nextWatchID += 1 }
                        id = nextWatchID
                        nextWatchID += 1
                    }
                    var reply = Etcdserverpb_WatchResponse()
                    reply.watchID = id
                    reply.created = true
                    guard id >= 0, watches[id] == nil else {
                        reply.header = await etcd.header()
                        reply.canceled = true
                        reply.cancelReason = "etcdserver: mvcc: watcher ID exists"
                        try await response.write(reply)
                        continue
                    }
                    // Finished watches leave their place (their tasks cancelled them).
                    for done in finished.drain() where watches[done.watchID] === done.stream {
                        watches[done.watchID] = nil
                    }
                    guard watches.count < Self.watchesPerStreamMax else {
                        reply.header = await etcd.header()
                        reply.canceled = true
                        reply.cancelReason = "etcdserver: this stream serves \(Self.watchesPerStreamMax) watches already"
                        try await response.write(reply)
                        continue
                    }
                    let stream: WatchStream
                    do {
                        stream = try await etcd.node.openWatch(try Self.watchRequest(create, etcd: etcd))
                    } catch let error as WatchOpenError {
                        reply.header = await etcd.header()
                        try await response.write(reply)
                        var end = Etcdserverpb_WatchResponse()
                        end.header = reply.header
                        end.watchID = id
                        end.canceled = true
                        switch error {
                        case .compacted(let compactRevision):
                            end.compactRevision = Int64(clamping: compactRevision)
                            end.cancelReason = Self.compactedReason
                        case .tooManyWatchers(let watchersMax):
                            end.cancelReason = "etcdserver: this node serves \(watchersMax) watches already"
                        case .notServing(let message):
                            end.cancelReason = "etcdserver: \(message)"
                        }
                        try await response.write(end)
                        continue
                    } catch let error as RPCError {
                        reply.header = await etcd.header()
                        reply.canceled = true
                        reply.cancelReason = error.message
                        try await response.write(reply)
                        continue
                    }
                    watches[id] = stream
                    reply.header = await etcd.header()
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
                    reply.header = await etcd.header()
                    reply.watchID = cancel.watchID
                    reply.canceled = true
                    try await response.write(reply)
                case .progressRequest:
                    var reply = Etcdserverpb_WatchResponse()
                    reply.header = await etcd.header()
                    reply.watchID = Self.streamProgressWatchID
                    try await response.write(reply)
                case nil:
                    continue
                }
            }
            // The client closed its side: the watches run until it ends the call.
            try await group.waitForAll()
        }
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
                reply.header = await etcd.header(revision: events.last?.revision)
                reply.events = events.map { Mvccpb_Event($0, includesPrevious: stream.request.includesPrevious) }
            case .progress(let revision):
                reply.header = await etcd.header(revision: revision)
            case .ended(let end):
                reply.header = await etcd.header()
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
        let range = KVKeyRange.etcd(key: try etcd.checkedKey(create.key), rangeEnd: end)
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
