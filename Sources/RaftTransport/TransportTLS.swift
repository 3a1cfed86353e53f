import NIOCore
import NIOSSL
import WRaftCertificates

/// Mutual TLS on the raft port: this member's certificate and key, and the cluster CA every
/// peer's certificate must chain to. Both directions verify the chain only: members are often
/// known by IP, so a host name proves nothing; a member is bound to its certificate's public key
/// (`PublicKeyFingerprint`) instead, frame by frame (see `PeerTransport.setPeer`).
public struct TransportTLS: Sendable, Hashable {
    /// This member's certificate first, then any intermediates.
    public var certificateChain: [NIOSSLCertificate]
    /// The private key of `certificateChain[0]`.
    public var privateKey: NIOSSLPrivateKey
    /// The CA certificates a peer's chain must lead to.
    public var trustRoots: [NIOSSLCertificate]

    public init(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, trustRoots: [NIOSSLCertificate]) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
    }

    /// Loads the three PEM files of `--peer-cert-file`, `--peer-key-file` and
    /// `--peer-trusted-ca-file`. Throws `TransportError.invalidOptions` naming the file that
    /// cannot be read or parsed.
    public init(certificateFile: String, privateKeyFile: String, trustedCAFile: String) throws(TransportError) {
        func load<T>(_ what: String, _ file: String, _ body: () throws -> T) throws(TransportError) -> T {
            do {
                return try body()
            } catch {
                throw .invalidOptions("cannot read the \(what) \(file): \(error)")
            }
        }
        let chain = try load("peer certificate", certificateFile) { try NIOSSLCertificate.fromPEMFile(certificateFile) }
        let key = try load("peer key", privateKeyFile) { try NIOSSLPrivateKey(file: privateKeyFile, format: .pem) }
        let roots = try load("trusted CA", trustedCAFile) { try NIOSSLCertificate.fromPEMFile(trustedCAFile) }
        self.init(certificateChain: chain, privateKey: key, trustRoots: roots)
    }

    /// The fingerprint of this member's public key (its identity in member records).
    public func localFingerprint() throws(TransportError) -> PublicKeyFingerprint {
        guard let leaf = certificateChain.first else { throw .invalidOptions("the peer certificate chain is empty") }
        guard let fingerprint = leaf.publicKeyFingerprint else {
            throw .invalidOptions("the peer certificate's public key cannot be read")
        }
        return fingerprint
    }

    func validate() throws(TransportError) {
        _ = try localFingerprint()
        guard !trustRoots.isEmpty else { throw .invalidOptions("the trusted CA file holds no certificate") }
    }

    /// The configuration both sides share: TLS 1.3 only, the peer must present a certificate
    /// chaining to `trustRoots`, host names are not checked.
    private func configuration(isServer: Bool) -> TLSConfiguration {
        let chain = certificateChain.map { NIOSSLCertificateSource.certificate($0) }
        var configuration =
            isServer
            ? TLSConfiguration.makeServerConfigurationWithMTLS(
                certificateChain: chain, privateKey: .privateKey(privateKey), trustRoots: .certificates(trustRoots))
            : TLSConfiguration.makeClientConfiguration()
        if !isServer {
            configuration.certificateChain = chain
            configuration.privateKey = .privateKey(privateKey)
            configuration.trustRoots = .certificates(trustRoots)
        }
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = .tlsv13
        return configuration
    }

    /// The two contexts a transport uses (made once: a context is costly, a handler is cheap).
    func makeContexts() throws(TransportError) -> (server: NIOSSLContext, client: NIOSSLContext) {
        do {
            return (try NIOSSLContext(configuration: configuration(isServer: true)),
                    try NIOSSLContext(configuration: configuration(isServer: false)))
        } catch {
            throw .invalidOptions("the peer TLS files do not make a usable TLS context: \(error)")
        }
    }
}

extension NIOSSLCertificate {
    /// The fingerprint of this certificate's public key; nil when the key cannot be read.
    public var publicKeyFingerprint: PublicKeyFingerprint? {
        guard let spki = try? extractPublicKey().toSPKIBytes() else { return nil }
        return PublicKeyFingerprint(subjectPublicKeyInfoDER: spki)
    }
}

extension Channel {
    /// The fingerprint of the TLS peer's certificate on this channel, once the handshake is
    /// done; nil on a plaintext channel or before the handshake. Runs on the channel's loop.
    func peerPublicKeyFingerprint() -> PublicKeyFingerprint? {
        eventLoop.preconditionInEventLoop()
        guard let handler = try? pipeline.syncOperations.handler(type: NIOSSLHandler.self) else { return nil }
        return handler.peerCertificate?.publicKeyFingerprint
    }
}
