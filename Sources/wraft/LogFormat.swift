import Logging
import NIOCore
import Synchronization
import WRaftAPI
import WRaftConfig

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LogFormat {
    /// Bootstraps the process's logging (once) in this format at `level`.
    func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Writes each log event to standard error as one line of JSON:
///
///     {"time":"2026-01-02T03:04:05.678Z","level":"notice","label":"wraft","source":"WRaftServer",
///      "message":"leader known","raft.node_id":"…","raft.term":"7","raft.leader_id":"…",
///      "raft.leader_address":"10.0.0.2:10002",…}
///
/// The fixed fields come first; then the logger's metadata, the metadata provider's and the
/// event's (the event's win), each key as it was set (`raft.node_id`, `raft.term`, `raft.peer_id`,
/// ...). A metadata key equal to a fixed field's name is written as `metadata.<key>`. Nested
/// metadata becomes JSON objects and arrays; every leaf is a string.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// The names of the fixed fields, which metadata cannot take.
    static let fixedFields: Set<String> = ["time", "level", "label", "source", "message", "error"]
    /// At most this many bytes of one line are written (a longer line is cut, and says so).
    static let lineBytesMax = 64 << 10

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        let line = Self.line(
            time: Self.timestamp(), level: event.level, label: label, source: event.source, message: "\(event.message)",
            error: event.error.map { "\($0)" }, metadata: merged)
        Self.emit(line)
    }

    /// One event as a JSON line (with its newline). Pure, for the tests.
    static func line(
        time: String, level: Logger.Level, label: String, source: String, message: String, error: String?,
        metadata: Logger.Metadata
    ) -> ByteBuffer {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.field(Key("time"), time)
        writer.field(Key("level"), level.rawValue)
        writer.field(Key("label"), label)
        writer.field(Key("source"), source)
        writer.field(Key("message"), message)
        if let error { writer.field(Key("error"), error) }
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            writer.key(Key(fixedFields.contains(key) ? "metadata.\(key)" : key))
            writeValue(value, to: &writer)
        }
        writer.endObject()
        var buffer = writer.buffer
        if buffer.readableBytes > lineBytesMax {
            // Cut, and still one valid JSON object: the message alone, marked as cut.
            buffer = JSONWriter.object { writer in
                writer.field(Key("time"), time)
                writer.field(Key("level"), level.rawValue)
                writer.field(Key("label"), label)
                writer.field(Key("message"), String(decoding: Array(message.utf8.prefix(lineBytesMax / 2)), as: UTF8.self))
                writer.field(Key("truncated"), true)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    private static func writeValue(_ value: Logger.Metadata.Value, to writer: inout JSONWriter) {
        switch value {
        case .string(let text): writer.string(text)
        case .stringConvertible(let convertible): writer.string(convertible.description)
        case .array(let values):
            writer.beginArray()
            for element in values { writeValue(element, to: &writer) }
            writer.endArray()
        case .dictionary(let dictionary):
            writer.beginObject()
            for key in dictionary.keys.sorted() {
                guard let element = dictionary[key] else { continue }
                writer.key(Key(key))
                writeValue(element, to: &writer)
            }
            writer.endObject()
        }
    }

    /// A metadata or field name as a `CodingKey`, which is what `JSONWriter` names keys by.
    private struct Key: CodingKey {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    // MARK: Output

    /// Serializes whole lines: two events never interleave their bytes.
    private static let outputLock = Mutex<Void>(())

    private static func emit(_ line: ByteBuffer) {
        outputLock.withLock { _ in
            line.withUnsafeReadableBytes { bytes in
                guard let base = bytes.baseAddress else { return }
                var offset = 0
                while offset < bytes.count {
                    let written = write(STDERR_FILENO, base + offset, bytes.count - offset)
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }

    /// Now, in UTC, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return timestamp(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday), hour: Int(parts.tm_hour),
            minute: Int(parts.tm_min), second: Int(parts.tm_sec), millisecond: Int(now.tv_nsec / 1_000_000))
    }

    static func timestamp(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int) -> String {
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))T\(padded(hour, 2)):\(padded(minute, 2)):"
            + "\(padded(second, 2)).\(padded(millisecond, 3))Z"
    }
}
