import NIOCore
import NIOSSL
import NIOTLS

/// How a `NodeClient` speaks HTTPS: which CA the node's certificate must come from, and the
/// client's own certificate for a node that requires one (`--client-cert-auth`).
///
/// The node's certificate is always verified: it must chain to `trustedCAFile` (or, without
/// one, to the system's roots) and name the host dialled (a DNS SAN, or an IP SAN for an address).
public struct ClientTLS: Sendable, Equatable {
    /// The CA bundle (PEM) the node's certificate must chain to; nil: the system's trust roots.
    public var trustedCAFile: String?
    /// The client's certificate (PEM), given to a node that asks for one.
    public var certificateFile: String?
    /// The private key of `certificateFile` (PEM).
    public var privateKeyFile: String?

    public init(trustedCAFile: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil) {
        self.trustedCAFile = trustedCAFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }

    /// The TLS context of these files; throws `.invalidTLSConfiguration` naming what is wrong.
    func makeContext() throws(WRaftClientError) -> NIOSSLContext {
        guard (certificateFile == nil) == (privateKeyFile == nil) else {
            throw .invalidTLSConfiguration("give a client certificate and its key together, or neither")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .fullVerification
        do {
            if let trustedCAFile {
                let roots = try NIOSSLCertificate.fromPEMFile(trustedCAFile)
                guard !roots.isEmpty else { throw WRaftClientError.invalidTLSConfiguration("\(trustedCAFile) holds no certificate") }
                configuration.trustRoots = .certificates(roots)
            }
            if let certificateFile, let privateKeyFile {
                let chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
                guard !chain.isEmpty else { throw WRaftClientError.invalidTLSConfiguration("\(certificateFile) holds no certificate") }
                configuration.certificateChain = chain.map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as WRaftClientError {
            throw error
        } catch {
            let files = [trustedCAFile, certificateFile, privateKeyFile].compactMap { $0 }.joined(separator: ", ")
            throw .invalidTLSConfiguration("cannot load \(files.isEmpty ? "the system trust roots" : files): \(error)")
        }
    }
}

/// Completes `promise` when the TLS handshake of its channel is done (or failed), so a
/// connection is handed out only once it can carry a request, and a handshake failure is told
/// apart from a request lost on the way.
final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let promise: EventLoopPromise<Void>

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            promise.succeed()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}

extension String {
    /// Whether this is an IPv4 or IPv6 literal (TLS sends no server name for those; the
    /// certificate's IP SANs are checked against the address instead).
    var isIPAddressLiteral: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
