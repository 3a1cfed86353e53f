/// One Server-Sent Events message: its `id` (nil: none given), `event` (`message` when none
/// given) and `data` (the `data:` lines joined with newlines).
public struct ServerSentEvent: Sendable, Equatable {
    public var id: String?
    public var event: String
    public var data: String

    public init(id: String?, event: String = "message", data: String) {
        self.id = id
        self.event = event
        self.data = data
    }
}

/// Why a stream of Server-Sent Events could not be read.
public enum ServerSentEventError: Error, Sendable, Equatable {
    /// A line longer than `ServerSentEventParser.lineBytesMax`.
    case lineTooLong(bytesMax: Int)
    /// A message whose data passed `ServerSentEventParser.eventBytesMax`.
    case eventTooLarge(bytesMax: Int)
}

/// Splits a `text/event-stream` into messages, as the WHATWG rules say (lines end with LF, CR
/// or CRLF; `:` starts a comment; a blank line ends a message; a message without data is not
/// dispatched), with a bound on a line and on a message, so a broken or hostile server cannot
/// make the reader grow without limit. Feed it bytes as they arrive.
public struct ServerSentEventParser: Sendable {
    /// The longest line accepted (a `GET /watch` message is one line: a value of 1 MiB and its
    /// previous value, escaped or in base64, fit).
    public static let lineBytesMax = 8 << 20
    /// The most data one message may carry.
    public static let eventBytesMax = 8 << 20

    private var line: [UInt8] = []
    private var lastWasCR = false
    private var id: String?
    private var event: String?
    private var data: [UInt8] = []
    private var hasData = false

    public init() {}

    /// The messages completed by `bytes`, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(ServerSentEventError) -> [ServerSentEvent] {
        var messages: [ServerSentEvent] = []
        for byte in bytes {
            if lastWasCR {
                lastWasCR = false
                if byte == UInt8(ascii: "\n") { continue }  // CRLF: the CR ended the line.
            }
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                lastWasCR = byte == UInt8(ascii: "\r")
                if let message = try endLine() { messages.append(message) }
            default:
                guard line.count < Self.lineBytesMax else { throw .lineTooLong(bytesMax: Self.lineBytesMax) }
                line.append(byte)
            }
        }
        return messages
    }

    private mutating func endLine() throws(ServerSentEventError) -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: line.count <= 4_096) }
        guard !line.isEmpty else { return dispatch() }
        if line[0] == UInt8(ascii: ":") { return nil }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let name = String(decoding: line[..<colon], as: UTF8.self)
        var valueStart = colon == line.endIndex ? colon : colon + 1
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = line[valueStart...]
        switch name {
        case "data":
            guard data.count + value.count + 1 <= Self.eventBytesMax else { throw .eventTooLarge(bytesMax: Self.eventBytesMax) }
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains(0) { id = String(decoding: value, as: UTF8.self) }
        case "event":
            event = String(decoding: value, as: UTF8.self)
        default:
            break  // `retry` and unknown fields are ignored.
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            data.removeAll(keepingCapacity: data.count <= 4_096)
            hasData = false
            event = nil
        }
        guard hasData else { return nil }
        // The id stays: it is the stream's last event id until another is given.
        return ServerSentEvent(id: id, event: event ?? "message", data: String(decoding: data, as: UTF8.self))
    }
}
