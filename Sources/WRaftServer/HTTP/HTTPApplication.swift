import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Builds the HTTP server of one node: every endpoint of API.md answered from `service`, the
/// Prometheus text of `metricsText()` at `/metrics`, and the dashboard at `/`. Run it as a
/// service (`try await application.run()`, or inside a `ServiceGroup`, whose graceful shutdown
/// stops it).
///
/// Where API.md leaves a choice, this is what the node does:
/// - Keys: `/data/{key}` takes every byte after `/data/`, percent-decoded as one string, so keys
///   may contain `/` (as is or `%2F`) and `+` is a plus. 1...`keyBytesMax` bytes of valid UTF-8,
///   else `400 bad_key`.
/// - Query values are percent-decoded with `+` as a space (as forms and most clients send them);
///   `prevValue` may be any bytes. Unknown parameters are ignored; bad values of known ones are
///   `400 bad_request`, as are both `prevValue` and `prevIndex` together.
/// - `GET /data/{key}` answers `application/octet-stream`. In lists, a value that is valid UTF-8
///   is a JSON string; any other value is base64 with `"encoding": "base64"` beside it. `/set`
///   takes the same `"encoding": "base64"` for binary values, and `prevValue`/`prevIndex` fields.
/// - Bodies are read with a bound: a value over `valueBytesMax` (declared or streamed) is
///   `413 value_too_large`, other JSON bodies over `jsonBodyBytesMax` `413 body_too_large`;
///   the rest of a refused body is drained by the server and the connection stays usable.
/// - Unknown paths: `404 not_found`; known paths with another method: `405 method_not_allowed`
///   with `Allow`. Requests HTTP cannot parse get a bare `400` and the connection closes.
/// - Other answers: `/connect` `{"result": "merged"|"joined", "clusterID"?, "members"}`, `/start`
///   `{"started": true}`, `/members/remove` `{"removed": id}`, `/op/...` `{"op", "ok": true}`,
///   `/health` 200 or 503 `not_serving` with `serving`, `status`, `role`; `/log` without `from`
///   gives the last `limit` entries.
/// - `Access-Control-Allow-Origin: *` on `/state`, `/health`, `/log` and `/op/...`, which the
///   dashboard calls on every member.
///
/// - Parameters:
///   - host: the address to listen on (`127.0.0.1`, `0.0.0.0`, ...).
///   - port: the port to listen on; `0` picks a free one, reported to `onServerRunning`.
///   - options: the API's bounds; they must pass `HTTPOptions.validate()`.
///   - onServerRunning: called once the server listens, with the port it is bound to.
public func makeHTTPApplication(
    service: some NodeService,
    host: String,
    port: Int,
    options: HTTPOptions,
    metricsText: @escaping @Sendable () -> String,
    logger: Logger,
    onServerRunning: @escaping @Sendable (_ boundPort: Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    precondition((try? options.validate()) != nil, "makeHTTPApplication: the HTTPOptions pass validate()")
    let responder = APIResponder(
        service: service,
        options: options,
        metricsText: metricsText,
        dashboardPage: DashboardPage.load(logger: logger),
        logger: logger,
        metrics: HTTPMetrics())
    let channelConfiguration = HTTP1Channel.Configuration(
        additionalChannelHandlers: [ParseErrorResponder()], idleTimeout: .milliseconds(Int64(options.idleTimeoutMs)))
    return Application(
        responder: responder,
        server: .http1(configuration: channelConfiguration),
        configuration: ApplicationConfiguration(
            address: .hostname(host, port: port),
            availableConnectionsDelegate: MaximumAvailableConnections(options.connectionsMax, logger: logger)),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger)
}
