import GRPCCore
import GRPCNIOTransportHTTP2
import KVStore
import WRaftEtcd

/// etcd's v3 gRPC API on its own port (`--etcd-port`): KV, Lease, Cluster and Maintenance on the
/// node's calls, Watch on its watch hub (UNIMPLEMENTED: every method WRaft leaves out).
/// The HTTP port's TLS applies (`--cert-file`, `--key-file`, `--trusted-ca-file`,
/// `--client-cert-auth`), and so do its tokens (`EtcdAuthInterceptor`).
public enum EtcdServer {
    /// The largest request message the server reads (1.5 MiB, etcd's default
    /// `--max-request-bytes`): a put of the largest value and key fits.
    public static let requestBytesMax = KVCommand.valueBytesMax + (512 << 10)

    /// The server for `runNode`; `serve()` runs it, `beginGracefulShutdown()` ends it.
    static func make(
        node: any NodeService, options: NodeOptions, security: HTTPSecurity, keyBytesMax: Int
    ) -> GRPCServer<HTTP2ServerTransport.Posix> {
        let scheme = options.httpTLS == nil ? "http" : "https"
        let etcd = EtcdContext(
            node: node, requestTimeoutMs: options.requestTimeoutMs, clientURL: "\(scheme)://\(options.etcdAddress)",
            peerScheme: options.peerTLS == nil ? "http" : "https", keyBytesMax: keyBytesMax)
        let transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity
        if let tls = options.httpTLS {
            transportSecurity = .tls(
                certificateChain: [.file(path: tls.certificateFile, format: .pem)],
                privateKey: .file(path: tls.privateKeyFile, format: .pem)
            ) { config in
                if let trustedCAFile = tls.trustedCAFile {
                    config.trustRoots = .certificates([.file(path: trustedCAFile, format: .pem)])
                    config.clientCertificateVerification =
                        options.isClientCertificateAuthRequired ? .noHostnameVerification : .noVerification
                }
            }
        } else {
            transportSecurity = .plaintext
        }
        let config = HTTP2ServerTransport.Posix.Config.defaults { config in
            config.rpc.maxRequestPayloadSize = requestBytesMax
            // etcd's clients ping an idle connection every few seconds (etcdctl: 2 s); the
            // default policy would call that abuse and close the connection.
            config.connection.keepalive.clientBehavior = .init(
                minPingIntervalWithoutCalls: .seconds(1), allowWithoutCalls: true)
        }
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4OrIPv6(host: options.httpListenHost, port: options.etcdPort),
            transportSecurity: transportSecurity, config: config)
        let services: [any RegistrableRPCService] = [
            EtcdKVService(etcd: etcd), EtcdLeaseService(etcd: etcd), EtcdClusterService(etcd: etcd),
            EtcdMaintenanceService(etcd: etcd), EtcdWatchService(etcd: etcd),
        ]
        let interceptors: [any ServerInterceptor] = security.tokens.map { [EtcdAuthInterceptor(tokens: $0)] } ?? []
        return GRPCServer(transport: transport, services: services, interceptors: interceptors)
    }
}

extension SocketAddress {
    /// An IPv6 literal host (it holds a colon) or an IPv4 address or name.
    static func ipv4OrIPv6(host: String, port: Int) -> Self {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare.contains(":") ? .ipv6(host: bare, port: port) : .ipv4(host: bare, port: port)
    }
}

/// The HTTP port's bearer tokens on the etcd port: a call must carry `authorization: Bearer
/// TOKEN` (or etcd's `token` metadata) naming a token whose role covers the method: `read` for
/// Range, Watch, Status, MemberList and the lease queries, `admin` for members, alarms and snapshots,
/// `write` for the rest. etcdctl cannot send a bearer token (it sends `token` only after
/// Authenticate with `--user`, which WRaft does not serve): with tokens on, use etcd client
/// libraries that set metadata, or client certificates instead of tokens.
struct EtcdAuthInterceptor: ServerInterceptor {
    let tokens: AuthTokens

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let presented = Self.presentedToken(request.metadata)
        guard let presented, let role = tokens.role(of: presented.utf8) else {
            throw RPCError(code: .unauthenticated, message: "etcdserver: invalid auth token")
        }
        guard role >= Self.requiredRole(context.descriptor.method) else {
            throw RPCError(code: .permissionDenied, message: "etcdserver: permission denied")
        }
        return try await next(request, context)
    }

    static func presentedToken(_ metadata: Metadata) -> String? {
        for value in metadata[stringValues: "authorization"] where value.hasPrefix("Bearer ") {
            return String(value.dropFirst("Bearer ".count))
        }
        return metadata[stringValues: "token"].first { _ in true }
    }

    static func requiredRole(_ method: String) -> AccessRole {
        switch method {
        case "Range", "Watch", "Status", "MemberList", "LeaseTimeToLive", "LeaseLeases": return .read
        case "MemberAdd", "MemberRemove", "MemberPromote", "Alarm", "Snapshot": return .admin
        default: return .write
        }
    }
}
