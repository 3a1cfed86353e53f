import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Builds the HTTP server of one node: every endpoint of API.md answered from `service`, the
/// Prometheus text of `metricsText()` at `/metrics`, and the dashboard at `/`. Run it as a
/// service (`try await application.run()`, or inside a `ServiceGroup`); cancelling the run stops it.
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
    let channelConfiguration = HTTP1Channel.Configuration(idleTimeout: .milliseconds(Int64(options.idleTimeoutMs)))
    return Application(
        responder: responder,
        server: .http1(configuration: channelConfiguration),
        configuration: ApplicationConfiguration(
            address: .hostname(host, port: port),
            availableConnectionsDelegate: MaximumAvailableConnections(options.connectionsMax, logger: logger)),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
        logger: logger)
}
