/// The bounds of the HTTP API. Every limit a request can reach is named here and checked once,
/// by `validate()`, before the application is built.
public struct HTTPOptions: Sendable, Equatable {
    /// Keys are 1 to `keyBytesMax` bytes of UTF-8 (after percent-decoding); longer: `400 bad_key`.
    public var keyBytesMax: Int = 1024
    /// Values are at most `valueBytesMax` bytes; larger: `413 value_too_large`, read no further.
    public var valueBytesMax: Int = 1 << 20
    /// JSON request bodies (`/set`, `/connect`, `/op/...`) are at most this many bytes; larger:
    /// `413`. It exceeds `valueBytesMax` because `/set` carries the value inside JSON (escaped or
    /// base64), and the decoded value is checked against `valueBytesMax` again.
    public var jsonBodyBytesMax: Int = 4 << 20
    /// The deadline of a request that gives no `?timeoutMs=`.
    public var defaultTimeoutMs: Int = 5_000
    /// `?timeoutMs=` outside `timeoutMsMin...timeoutMsMax`: `400 bad_request`.
    public var timeoutMsMin: Int = 1
    public var timeoutMsMax: Int = 60_000
    /// `GET /data?limit=`: the default, and the most one answer holds (more: `400 bad_request`).
    public var listLimitDefault: Int = 1_000
    public var listLimitMax: Int = 10_000
    /// One `GET /data` answer stops adding items once its JSON would pass this many bytes (it
    /// always holds at least one item, so paging progresses), and says `"more": true` with a
    /// `"next"` cursor.
    public var listBytesMax: Int = 4 << 20
    /// `GET /log?limit=`: the default, and the most entries one answer holds.
    public var logLimitDefault: Int = 50
    public var logLimitMax: Int = 1_000
    /// `POST /op/delay`: the largest `ms` and `jitterMs` accepted.
    public var faultDelayMsMax: Int = 10_000
    /// Open client connections at most; past it the server stops accepting until one closes.
    public var connectionsMax: Int = 1_024
    /// Of `connectionsMax`, this many are kept for loopback clients (the operator's CLI, the
    /// dashboard, `wraft bench` and `check` on the node's machine): a connection from any other
    /// address is closed at once while `connectionsMax - connectionsReservedForLoopback` are open.
    public var connectionsReservedForLoopback: Int = 64
    /// Open connections from one non-loopback address at most; more are closed at once, so one
    /// remote host cannot hold every slot.
    public var connectionsPerSourceMax: Int = 128
    /// A keep-alive connection idle this long is closed.
    public var idleTimeoutMs: Int = 60_000
    /// A request must arrive whole, head and body, within this long of its first byte (the TLS
    /// handshake counts too); else the connection is closed. Unlike the idle timeout, bytes that
    /// trickle in do not extend it.
    public var requestReceiveMs: Int = 30_000
    /// Whether `PUT`/`GET`/`DELETE /data/{key}` and `POST /set` are answered on the connection's
    /// event loop (`FastPathHandler`) rather than through Hummingbird's per-connection task.
    /// The answers are the same either way; only their cost differs.
    public var isFastPathEnabled = true

    /// The largest log index a client may name (`/log?from=`, `prevIndex`): room is left above
    /// it, so no arithmetic on a client's index can overflow.
    public static let logIndexMax = UInt64(Int64.max)

    public init() {}

    /// Checks every bound; `makeHTTPApplication` requires options that pass.
    public func validate() throws(HTTPOptionsError) {
        try require(keyBytesMax >= 1, "keyBytesMax must be >= 1")
        try require(valueBytesMax >= 0, "valueBytesMax must be >= 0")
        try require(jsonBodyBytesMax >= valueBytesMax, "jsonBodyBytesMax must be >= valueBytesMax")
        try require(timeoutMsMin >= 1, "timeoutMsMin must be >= 1")
        try require(timeoutMsMin <= timeoutMsMax, "timeoutMsMin must be <= timeoutMsMax")
        try require(
            (timeoutMsMin...timeoutMsMax).contains(defaultTimeoutMs),
            "defaultTimeoutMs must lie in timeoutMsMin...timeoutMsMax")
        try require(listLimitMax >= 1, "listLimitMax must be >= 1")
        try require((1...listLimitMax).contains(listLimitDefault), "listLimitDefault must lie in 1...listLimitMax")
        try require(logLimitMax >= 1, "logLimitMax must be >= 1")
        try require((1...logLimitMax).contains(logLimitDefault), "logLimitDefault must lie in 1...logLimitMax")
        try require(faultDelayMsMax >= 0, "faultDelayMsMax must be >= 0")
        try require(listBytesMax >= 1_024, "listBytesMax must be >= 1024")
        try require(connectionsMax >= 1, "connectionsMax must be >= 1")
        try require(
            (0..<connectionsMax).contains(connectionsReservedForLoopback),
            "connectionsReservedForLoopback must lie in 0..<connectionsMax")
        try require(connectionsPerSourceMax >= 1, "connectionsPerSourceMax must be >= 1")
        try require(idleTimeoutMs >= 1, "idleTimeoutMs must be >= 1")
        try require(requestReceiveMs >= 1, "requestReceiveMs must be >= 1")
    }

    private func require(_ condition: Bool, _ message: String) throws(HTTPOptionsError) {
        if !condition { throw .invalid(message) }
    }
}

/// Options that `HTTPOptions.validate()` refused.
public enum HTTPOptionsError: Error, Equatable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let why): return "invalid HTTP options: \(why)"
        }
    }
}
