import Hummingbird
import NIOCore

// GET /events?since=SEQ: Server-Sent Events of what the node did (README, "GET /events").

/// How a stream reads the node's event log. Pure numbers, validated once.
struct EventStreamPacing: Sendable {
    /// How often a stream looks for new events, idle or not: a stream writes at most one batch
    /// per `pollMs` unless a full batch (`batchEventsMax`) is waiting. Writing every event as it
    /// came (the loop going straight back to the log after each write) meant hundreds of small
    /// writes a second per stream under load, each a task hop and a system call on a machine
    /// whose cores the writes need; 50 ms is below what the page's animation shows.
    static let pollMs = 50
    /// An idle stream writes an SSE comment this often, so proxies and the idle timeout keep it
    /// open and a closed client is noticed.
    static let keepaliveMs = 10_000
    /// Events written in one batch at most.
    static let batchEventsMax = 256
}

extension APIResponder {
    /// Opens a stream: first a `timing` event (no id), then every event after `since` still in the
    /// ring (all of them without `since`, or when `since` is beyond the last: the node restarted;
    /// from the oldest kept when `since` is older: the ids show the gap), then new ones as they
    /// happen. A reader the ring laps while streaming gets a final `lagged` event and the stream
    /// ends; more than `NodeEventLog.streamsMax` open streams: `503 overloaded`.
    func eventsResponse(_ query: QueryParameters) throws(APIError) -> Response {
        guard let log = service.eventStreamSource else { throw .node(.notFound(message: "this node has no event stream")) }
        let since = try query.logIndex("since")?.rawValue
        guard log.openStream() else { throw .node(.overloaded(retryAfterMs: 1_000)) }
        let held = log.heldSequences
        let requested: UInt64 = since.map { $0 > held.newest ? 0 : $0 } ?? 0
        let start = max(requested, held.oldest - 1)
        let timing = NodeEvent(sequence: 0, timeMs: NodeEventLog.wallClockMs(), kind: log.timing)
        let body = ResponseBody { writer in
            defer { log.closeStream() }
            var cursor = start
            var buffer = ByteBuffer()
            ServerSentEvents.append(to: &buffer, id: nil, event: "timing", text: timing.jsonText)
            try await writer.write(buffer)
            var idleMs = 0
            while !Task.isCancelled {
                let (events, isLapped, newest) = log.events(after: cursor, limit: EventStreamPacing.batchEventsMax)
                if isLapped {
                    buffer.clear()
                    ServerSentEvents.append(
                        to: &buffer, id: nil, event: "lagged", text: "{\"type\":\"lagged\",\"after\":\(cursor),\"last\":\(newest)}")
                    try await writer.write(buffer)
                    break
                }
                guard let lastEvent = events.last else {
                    try await Task.sleep(for: .milliseconds(EventStreamPacing.pollMs))
                    idleMs += EventStreamPacing.pollMs
                    if idleMs >= EventStreamPacing.keepaliveMs {
                        idleMs = 0
                        buffer.clear()
                        ServerSentEvents.appendKeepalive(to: &buffer)
                        try await writer.write(buffer)
                    }
                    continue
                }
                idleMs = 0
                buffer.clear()
                for event in events {
                    ServerSentEvents.append(to: &buffer, id: event.sequence, event: nil, text: event.jsonText)
                }
                try await writer.write(buffer)
                cursor = lastEvent.sequence
                if events.count < EventStreamPacing.batchEventsMax {
                    try await Task.sleep(for: .milliseconds(EventStreamPacing.pollMs))
                }
            }
            try await writer.finish(nil)
        }
        return ServerSentEvents.response(body)
    }
}
