import HTTPTypes
import Hummingbird
import KVStore
import NIOCore
import WRaftAPI

// GET /watch: Server-Sent Events of the changes to a key, a range or a prefix (README, "GET /watch").

/// The pacing of a watch stream: named numbers, validated once.
enum WatchPacing {
    /// An idle watch sends `event: progress` (the revision seen through) this often unless the
    /// request says `progressMs`; it doubles as the keepalive.
    static let progressMsDefault = 10_000
    /// `progressMs`: 0 (no progress notifications; then a keepalive comment every
    /// `progressMsDefault`), or within this range.
    static let progressMsRange = 100...3_600_000
}

extension APIResponder {
    /// `GET /watch?key=K[&end=E]|prefix=P&fromRevision=N&prevKV&noPut&noDelete&progressMs=MS`,
    /// `Last-Event-ID: R` resumes at R+1 (it wins over `fromRevision`).
    ///
    /// Opens with `event: created` (`{"revision"}`, the node's revision then, no id), then one
    /// message per revision (`id: R`, `data: {"revision", "events": [{"type", "kv", "prevKV"?}]}`),
    /// `event: progress` (`id: R`, `{"revision": R}`) when idle, and a last `event: error` when
    /// the watch ends (`compacted` with `compactRevision`, `watch_too_slow`, `stopped`). A start
    /// at or below the compaction revision is `410 compacted` before any stream, with
    /// `X-WRaft-Compact-Revision`; too many watches `503 too_many_watchers`.
    func watch(_ request: Request) async throws(APIError) -> Response {
        let watchRequest = try Self.watchRequest(
            QueryParameters(request.uri.query), lastEventID: request.headers[HTTPHeader.lastEventID],
            keyBytesMax: options.keyBytesMax)
        let query = QueryParameters(request.uri.query)
        let progressMs = try query.integer("progressMs", in: 0...WatchPacing.progressMsRange.upperBound) ?? WatchPacing.progressMsDefault
        guard progressMs == 0 || WatchPacing.progressMsRange.contains(progressMs) else {
            throw .badRequest("progressMs is 0 (off) or \(WatchPacing.progressMsRange.lowerBound)...\(WatchPacing.progressMsRange.upperBound)")
        }
        let stream: WatchStream
        do {
            stream = try await service.openWatch(watchRequest)
        } catch {
            switch error {
            case .compacted(let compactRevision):
                var response = errorResponse(
                    for: .node(.refused(code: .compacted, message: "revision \(watchRequest.fromRevision) is compacted; the history starts after \(compactRevision)")))
                response.headers[HTTPHeader.compactRevision] = String(compactRevision)
                return response
            case .tooManyWatchers(let watchersMax):
                throw .node(.refused(code: .tooManyWatchers, message: "this node serves \(watchersMax) watches already (--watchers-max)"))
            case .notServing(let message):
                throw .node(.wrongState(code: .notRunning, message: message))
            }
        }
        let createdRevision = await service.currentRevision()
        let includesPrevious = watchRequest.includesPrevious
        let progressAfter: Duration = .milliseconds(progressMs == 0 ? WatchPacing.progressMsDefault : progressMs)
        let body = ResponseBody { writer in
            defer { stream.cancel() }
            var buffer = ByteBuffer()
            ServerSentEvents.append(
                to: &buffer, id: nil, event: "created", data: WatchRevisionView(revision: createdRevision).encodedJSON())
            try await writer.write(buffer)
            while let delivery = await stream.next(progressAfter: progressAfter) {
                buffer.clear()
                switch delivery {
                case .events(let events):
                    Self.appendWatchMessages(events, includesPrevious: includesPrevious, to: &buffer)
                case .progress(let revision):
                    if progressMs == 0 {
                        ServerSentEvents.appendKeepalive(to: &buffer)
                    } else {
                        ServerSentEvents.append(
                            to: &buffer, id: revision, event: "progress", data: WatchRevisionView(revision: revision).encodedJSON())
                    }
                case .ended(let end):
                    ServerSentEvents.append(to: &buffer, id: nil, event: "error", data: Self.watchErrorView(end).encodedJSON())
                }
                try await writer.write(buffer)
                if case .ended = delivery { break }
            }
            try await writer.finish(nil)
        }
        return ServerSentEvents.response(body)
    }

    /// The checked request: exactly one of `key` (with `end`: the range `[key, end)`) and
    /// `prefix` (empty: every key); revisions within `KVStore.revisionMax`; flags `true`/`false`
    /// or bare.
    static func watchRequest(_ query: QueryParameters, lastEventID: String?, keyBytesMax: Int) throws(APIError) -> WatchRequest {
        let key = try query.string("key")
        let prefix = try query.string("prefix")
        let end = try query.string("end")
        for (name, text) in [("key", key), ("prefix", prefix), ("end", end)] {
            guard let text, text.utf8.count > keyBytesMax else { continue }
            throw .badKey("\(name) is \(text.utf8.count) bytes; keys are at most \(keyBytesMax)")
        }
        let range: KVKeyRange
        switch (key, prefix) {
        case (let key?, nil):
            guard !key.isEmpty else { throw .badKey("key is empty; give key=K, key=K&end=E or prefix=P") }
            if let end {
                guard !end.isEmpty, Array(key.utf8).lexicographicallyPrecedes(Array(end.utf8)) else {
                    throw .badKey("end must sort after key")
                }
                range = KVKeyRange(start: Array(key.utf8), end: Array(end.utf8))
            } else {
                range = .key(Array(key.utf8))
            }
        case (nil, let prefix?):
            guard end == nil else { throw .badRequest("give key (and end) or prefix, not both") }
            range = .prefix(Array(prefix.utf8))
        case (nil, nil): throw .badRequest("give key=K, key=K&end=E or prefix=P")
        case (.some, .some): throw .badRequest("give key (and end) or prefix, not both")
        }
        var fromRevision = try query.revision("fromRevision") ?? 0
        if let lastEventID {
            guard lastEventID.utf8.count <= 20, let seen = UInt64(lastEventID), seen < KVStore.revisionMax else {
                throw .node(.refused(code: .badRevision, message: "Last-Event-ID is a revision in 0..<\(KVStore.revisionMax)"))
            }
            fromRevision = seen + 1
        }
        return WatchRequest(
            range: range, fromRevision: fromRevision, includesPrevious: try flag(query, "prevKV"),
            excludesPuts: try flag(query, "noPut"), excludesDeletes: try flag(query, "noDelete"))
    }

    private static func flag(_ query: QueryParameters, _ name: String) throws(APIError) -> Bool {
        switch try query.string(name) {
        case nil, "false": return false
        case "", "true": return true
        case let other?: throw .badRequest("\(name) is true or false, not \"\(other.prefix(20))\"")
        }
    }

    /// One SSE message per revision.
    static func appendWatchMessages(_ events: [KVEvent], includesPrevious: Bool, to buffer: inout ByteBuffer) {
        var start = events.startIndex
        while start < events.endIndex {
            let revision = events[start].revision
            var end = start
            while end < events.endIndex, events[end].revision == revision { end += 1 }
            let json = JSONWriter.object(capacity: 256) { writer in
                WatchMessageView.writeFields(&writer, revision: revision) { writer in
                    for event in events[start..<end] {
                        let previous = includesPrevious ? event.previous : nil
                        WatchEventView.write(&writer, isPut: event.kind == .put, hasPrevious: previous != nil) { writer, isPrevious in
                            let entry = isPrevious ? (previous ?? event.entry) : event.entry
                            KeyView.write(
                                &writer, key: String(decoding: entry.key, as: UTF8.self), value: entry.value,
                                index: entry.index.rawValue, createRevision: entry.createRevision,
                                modRevision: entry.modRevision, version: entry.version, lease: entry.lease)
                        }
                    }
                }
            }
            ServerSentEvents.append(to: &buffer, id: revision, event: nil, data: json)
            start = end
        }
    }

    static func watchErrorView(_ end: WatchEnd) -> WatchErrorView {
        switch end {
        case .compacted(let compactRevision):
            return WatchErrorView(
                code: .compacted, message: "the history this watch needs is compacted through \(compactRevision)",
                compactRevision: compactRevision)
        case .tooSlow(let eventsMax, let bytesMax):
            return WatchErrorView(
                code: .watchTooSlow,
                message: "the watcher fell more than \(eventsMax) events or \(bytesMax) bytes behind; reconnect with Last-Event-ID")
        case .closed:
            return WatchErrorView(code: .stopped, message: "the node is stopping")
        }
    }
}
