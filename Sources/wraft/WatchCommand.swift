import ArgumentParser
import Foundation
import WRaftAPI
import WRaftClient

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print every change of a key, a range or a prefix as it happens (GET /watch).",
        discussion: """
            Any member serves the watch. With --rev the changes from that revision on are \
            replayed first, then new ones follow. When the node goes away, the watch resumes on \
            the next endpoint (--endpoints) after the last revision printed: nothing is lost or \
            printed twice. A node silent for 15 s (it sends progress every 5 s) counts as gone. -o simple prints etcdctl's lines (PUT or DELETE, the key, the value; \
            with --prev-kv the previous value after them); -o json prints each revision's JSON as \
            the node sends it, one line each. Stops after --count events, or on an error the node \
            gives (410 compacted: the revision is gone; exit 8).
            Examples:
              wraft watch config --prefix
              wraft watch app/a --rev 120 --prev-kv
              wraft watch a --end b -o json            (the keys from a up to b)
            \(ClientExit.helpText)
            """)

    /// Rounds over every endpoint without one that could be reached before giving up.
    static let unreachableRoundsMax = 3
    /// The node's progress notifications, so a stream that went quiet is still known to be alive.
    static let progressMs = 5_000
    /// A stream silent for this long (three missed progress notifications) is taken as a node
    /// that stopped without closing (SIGSTOP, a partition), and the watch resumes elsewhere.
    static let idleTimeoutMs = 3 * progressMs

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The key (or the prefix with --prefix, or the range's start with --end).") var key: String
    @Flag(help: "Watch every key starting with KEY.") var prefix = false
    @Option(help: "Watch the keys from KEY up to (not including) this one.") var end: String?
    @Option(help: "Start at this revision (replaying the history from it); default: the next one.") var rev: UInt64?
    @Flag(help: "Print each event's previous value.") var prevKv = false
    @Flag(help: "Leave puts out.") var noPut = false
    @Flag(help: "Leave deletes out.") var noDelete = false
    @Option(help: "Exit after this many events.") var count: Int?

    func validate() throws {
        guard !(prefix && end != nil) else { throw ValidationError("give --prefix or --end, not both") }
        guard !key.isEmpty || prefix else { throw ValidationError("the key is empty (an empty prefix is every key: --prefix)") }
        if let count { guard count >= 1 else { throw ValidationError("--count is at least 1") } }
        if let rev { guard rev <= UInt64(Int64.max) else { throw ValidationError("--rev is at most \(Int64.max)") } }
    }

    /// The query of `GET /watch` (the start is `fromRevision` only on the first connection;
    /// after it `Last-Event-ID` says where to resume).
    func target() -> String {
        var items: [(String, String)] = [(prefix ? "prefix" : "key", key)]
        if let end { items.append(("end", end)) }
        if let rev { items.append(("fromRevision", String(rev))) }
        if prevKv { items.append(("prevKV", "true")) }
        if noPut { items.append(("noPut", "true")) }
        if noDelete { items.append(("noDelete", "true")) }
        items.append(("progressMs", String(Self.progressMs)))
        return NodeClient.target("/watch", query: items)
    }

    func run() async throws {
        try await runClientCommand {
            let addresses = try endpoints.endpoints()
            let format = endpoints.format()
            let target = target()
            var state = WatchState(countMax: count)
            var position = 0
            var unreachableInARow = 0
            while true {
                let address = addresses[position % addresses.count]
                let client = try endpoints.makeClient(address)
                do throws(WRaftClientError) {
                    try await client.streamEvents(
                        target, lastEventID: state.lastRevision.map(String.init), timeoutMs: endpoints.timeoutMs,
                        idleTimeoutMs: Self.idleTimeoutMs
                    ) { message throws(WRaftClientError) in
                        try state.handle(message, format: format)
                    }
                    await client.shutDown()
                    if state.isDone { return }
                } catch {
                    await client.shutDown()
                    if state.isDone { return }
                    if case .http(let status, let code, _, _) = error, !(status == 503 && code == .tooManyWatchers) {
                        throw ClientFailure(error, endpoint: address)
                    }
                    if case .badResponse = error { throw ClientFailure(error, endpoint: address) }
                    unreachableInARow = state.receivedSinceConnect ? 1 : unreachableInARow + 1
                    guard unreachableInARow <= Self.unreachableRoundsMax * addresses.count else {
                        throw ClientFailure(.unreachable, "no endpoint kept the watch open: \(error)")
                    }
                    position += 1
                    let next = addresses[position % addresses.count]
                    let after = state.lastRevision.map { " after revision \($0)" } ?? ""
                    printToStandardError("wraft: \(address.url): \(error); resuming\(after) on \(next.url)")
                    try await Task.sleep(for: .milliseconds(unreachableInARow > addresses.count ? 500 : 50))
                }
                state.receivedSinceConnect = false
            }
        }
    }
}

/// What the watch has printed: where to resume, and when to stop.
struct WatchState {
    let countMax: Int?
    /// The last revision seen whole (an event message's or a progress notification's id).
    var lastRevision: UInt64?
    var printed = 0
    var isDone = false
    var receivedSinceConnect = false

    init(countMax: Int?) {
        self.countMax = countMax
    }

    /// Handles one message; false stops reading (done). Throws the node's final error; a
    /// `watch_too_slow` end is not an error: the stream resumes after `lastRevision`.
    mutating func handle(_ message: ServerSentEvent, format: OutputFormat) throws(WRaftClientError) -> Bool {
        receivedSinceConnect = true
        let data = Data(message.data.utf8)
        switch message.event {
        case "message":
            guard let view = try? JSONDecoder().decode(WatchMessageView.self, from: data) else {
                throw .badResponse("a watch message that is not a revision's events: \(message.data.prefix(200))")
            }
            if let lastRevision, view.revision <= lastRevision { return true }  // Never printed twice.
            var events = view.events
            if let countMax { events = Array(events.prefix(countMax - printed)) }
            if format == .json {
                print(message.data)
            } else {
                for event in events { Self.printSimple(event) }
            }
            printed += events.count
            lastRevision = view.revision
            fflush(nil)
            if let countMax, printed >= countMax {
                isDone = true
                return false
            }
        case "progress":
            if let view = try? JSONDecoder().decode(WatchRevisionView.self, from: data) {
                lastRevision = max(lastRevision ?? 0, view.revision)
            }
        case "error":
            let view = try? JSONDecoder().decode(WatchErrorView.self, from: data)
            if view?.code == .watchTooSlow { return false }  // Resume from lastRevision.
            throw .http(status: view?.code?.httpStatus ?? 500, code: view?.code, message: view?.message ?? message.data, retryAfterSeconds: nil)
        default:
            break  // `created`, and kinds a newer node may add.
        }
        return true
    }

    static func printSimple(_ event: WatchEventView) {
        print(event.type == WatchEventView.put ? "PUT" : "DELETE")
        print(event.kv.key)
        print(text(event.kv))
        if let previous = event.prevKV {
            print(previous.key)
            print(text(previous))
        }
    }

    private static func text(_ view: KeyView) -> String {
        guard view.encoding == ListView.Item.base64, let bytes = Data(base64Encoded: view.value) else { return view.value }
        return String(decoding: bytes, as: UTF8.self)
    }
}
