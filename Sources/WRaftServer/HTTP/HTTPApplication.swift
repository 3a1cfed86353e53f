import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
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
/// - Every request names the node in `Host` (its bind and advertised host, `localhost`,
///   `127.0.0.1`, `[::1]`, or `security.hostAllowlist`, at its HTTP port), else
///   `421 misdirected_request`: a DNS-rebinding page cannot reach it.
/// - A state-changing request (not GET/HEAD) carrying `Origin` comes from this page's own origin,
///   a member's HTTP address (`http://`, and `https://` under HTTPS; a loopback member under each
///   loopback name) or `security.corsAllowedOrigins`, else `403 forbidden_origin`. An allowed
///   origin is reflected in `Access-Control-Allow-Origin` (never `*`), with `Vary: Origin`, on
///   every answer, and preflights (`OPTIONS`) allow `Content-Type` and `Authorization`.
/// - With `security.tokens`, every endpoint but `/health` and the dashboard page needs
///   `Authorization: Bearer TOKEN` of a role: `read` (GET of `/data`, `/state`, `/log`, `/metrics`),
///   `write` (+ `PUT`/`DELETE /data`, `/set`), `admin` (+ `/connect`, `/start`, `/members/remove`,
///   `/op/...`). None or an unknown token: `401 unauthenticated` with `WWW-Authenticate: Bearer`;
///   too weak a role: `403 forbidden`.
/// - A JSON endpoint (`/set`, `/connect`, `/start`, `/members/remove`, `/op/...`) given a body, or
///   any `Content-Type`, needs `Content-Type: application/json`, else `415 unsupported_media_type`.
/// - Client numbers are range-checked: an index (`from`, `prevIndex`) is at most
///   `HTTPOptions.logIndexMax`, `limit` and `timeoutMs` lie in their bounds; else `400 bad_request`
///   naming the parameter.
/// - `GET /data` answers stop at `listLimitMax` items or `listBytesMax` bytes of JSON (at least one
///   item); with `"more": true` comes `"next"`, an opaque cursor: `?cursor=` continues after it,
///   with the same `prefix` (a bad cursor: `400 bad_request`).
/// - Connections: at most `connectionsMax`; non-loopback sources share all but
///   `connectionsReservedForLoopback` of them, at most `connectionsPerSourceMax` each. A request
///   must arrive whole within `requestReceiveMs` of its first byte, else the connection closes.
/// - Past the store's quota a write is `507 quota_exceeded`; deletes still work.
/// - With `security.tls`, HTTPS only; with `isClientCertificateAuthRequired`, the TLS handshake
///   fails for a client without a certificate from `tls.trustedCAFile`.
/// - `PUT`/`GET`/`DELETE /data/{key}` and `POST /set` with a bounded `Content-Length` body are
///   read and answered on the connection's event loop (`FastPathHandler`, unless
///   `options.isFastPathEnabled` is off), everything else by Hummingbird's per-connection task;
///   both run the same responder, so every rule above holds on both, and answers on a keep-alive
///   connection leave in request order.
///
/// - Parameters:
///   - host: the address to listen on (`127.0.0.1`, `0.0.0.0`, ...).
///   - port: the port to listen on; `0` picks a free one, reported to `onServerRunning`.
///   - options: the API's bounds; they must pass `HTTPOptions.validate()`.
///   - security: allowed names and origins, tokens, TLS.
///   - onServerRunning: called once the server listens, with the port it is bound to.
/// - Throws: `HTTPServerSetupError` when a TLS file cannot be read.
public func makeHTTPApplication(
    service: some NodeService,
    host: String,
    port: Int,
    options: HTTPOptions,
    security: HTTPSecurity = HTTPSecurity(),
    metricsText: @escaping @Sendable () -> String,
    logger: Logger,
    onServerRunning: @escaping @Sendable (_ boundPort: Int) async -> Void = { _ in }
) throws(HTTPServerSetupError) -> some ApplicationProtocol {
    precondition((try? options.validate()) != nil, "makeHTTPApplication: the HTTPOptions pass validate()")
    var security = security
    security.ownHosts.append(host)
    let boundPort = BoundPort(port)
    let responder = APIResponder(
        service: service,
        options: options,
        hostPolicy: HostPolicy(security),
        tokens: security.tokens,
        boundPort: boundPort,
        metricsText: metricsText,
        dashboardPage: DashboardPage.load(),
        logger: logger,
        metrics: HTTPMetrics())
    let tlsConfiguration = try security.tls.map { files throws(HTTPServerSetupError) in
        try makeServerTLSConfiguration(files, requiresClientCertificate: security.isClientCertificateAuthRequired)
    }
    let channelConfiguration = HTTP1Channel.Configuration(
        additionalChannelHandlers: [RequestProgressHandler(), ParseErrorResponder()],
        idleTimeout: .milliseconds(Int64(options.idleTimeoutMs)))
    let limiter = ConnectionLimiter(options: options)
    let receiveTimeout = TimeAmount.milliseconds(Int64(options.requestReceiveMs))
    let date = HTTPDateHeader()
    let fastPathAnswer: FastPathHandler.Answer = { request, channel in
        await responder.fastPathAnswer(request, channel: channel, logger: logger, date: date)
    }
    let isFastPathEnabled = options.isFastPathEnabled
    let server = HTTPServerBuilder { respond throws -> any ServerChildChannel in
        let http = HTTP1Channel(responder: respond, configuration: channelConfiguration)
        if isFastPathEnabled {
            let fast = FastPathChildChannel(base: http, options: options, answer: fastPathAnswer)
            guard let tlsConfiguration else {
                return GuardedChildChannel(base: fast, limiter: limiter, receiveTimeout: receiveTimeout)
            }
            let tls = try TLSChannel(fast, tlsConfiguration: tlsConfiguration)
            return GuardedChildChannel(base: tls, limiter: limiter, receiveTimeout: receiveTimeout)
        }
        guard let tlsConfiguration else {
            return GuardedChildChannel(base: http, limiter: limiter, receiveTimeout: receiveTimeout)
        }
        let tls = try TLSChannel(http, tlsConfiguration: tlsConfiguration)
        return GuardedChildChannel(base: tls, limiter: limiter, receiveTimeout: receiveTimeout)
    }
    return Application(
        responder: responder,
        server: server,
        configuration: ApplicationConfiguration(
            address: .hostname(host, port: port),
            availableConnectionsDelegate: MaximumAvailableConnections(options.connectionsMax, logger: logger)),
        onServerRunning: { channel in
            let bound = channel.localAddress?.port ?? port
            boundPort.set(bound)
            await onServerRunning(bound)
        },
        logger: logger)
}

/// The server side of HTTPS: this node's certificate chain and key and, when client
/// certificates are required, the CA they must chain to (TLS 1.2 at least).
func makeServerTLSConfiguration(_ files: TLSFiles, requiresClientCertificate: Bool) throws(HTTPServerSetupError)
    -> TLSConfiguration
{
    do {
        let chain = try NIOSSLCertificate.fromPEMFile(files.certificateFile)
        guard !chain.isEmpty else {
            throw HTTPServerSetupError(description: "no certificate in \(files.certificateFile)")
        }
        let key = try NIOSSLPrivateKey(file: files.privateKeyFile, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if requiresClientCertificate {
            guard let caFile = files.trustedCAFile else {
                throw HTTPServerSetupError(description: "client certificates need a trusted CA file")
            }
            let authorities = try NIOSSLCertificate.fromPEMFile(caFile)
            guard !authorities.isEmpty else { throw HTTPServerSetupError(description: "no certificate in \(caFile)") }
            configuration.trustRoots = .certificates(authorities)
            // The server asks for and requires a client certificate chaining to `trustRoots`;
            // a client has no host name to check.
            configuration.certificateVerification = .noHostnameVerification
        }
        return configuration
    } catch let error as HTTPServerSetupError {
        throw error
    } catch {
        throw HTTPServerSetupError(description: "cannot load the HTTPS certificate or key: \(error)")
    }
}

/// The HTTP server could not be built (a TLS file is missing or malformed).
public struct HTTPServerSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
