import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import Testing
import X509

@testable import WRaftServer

// HTTPS on the HTTP port, and client certificates (issue 8). The certificates are made here: a
// CA, a server certificate for 127.0.0.1, and client certificates from that CA and from another.

/// A CA, and certificates it issues, as PEM text.
struct TestAuthority {
    let name: String
    let key: P256.Signing.PrivateKey
    let certificate: Certificate

    init(name: String) throws {
        self.name = name
        key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: Date().addingTimeInterval(-3_600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    var pem: String { get throws { try certificate.serializeAsPEM().pemString } }

    /// A leaf certificate for `127.0.0.1` and `localhost`, good for servers and clients.
    func issue(commonName: String) throws -> (certificate: String, key: String) {
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3_600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: certificate.subject, subject: try DistinguishedName { CommonName(commonName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        return (try leaf.serializeAsPEM().pemString, leafKey.pemRepresentation)
    }
}

/// Writes PEM files into a fresh folder; removed by `remove()`.
struct PEMFolder {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("wraft-tls-\(UUID().uuidString.prefix(8))").path

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }

    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct HTTPTLSTests {
    private func clientContext(trusting ca: String, certificate: (String, String)? = nil) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(ca.utf8), format: .pem)])
        configuration.certificateVerification = .noHostnameVerification
        if let certificate {
            let (chain, key) = certificate
            configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(chain.utf8), format: .pem))]
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
        }
        return try NIOSSLContext(configuration: configuration)
    }

    @Test func httpsServesWithTheNodesCertificateAndRefusesPlainHTTP() async throws {
        let folder = try PEMFolder()
        defer { folder.remove() }
        let authority = try TestAuthority(name: "WRaft test CA")
        let server = try authority.issue(commonName: "node")
        let files = TLSFiles(
            certificateFile: try folder.write("node.pem", server.certificate), privateKeyFile: try folder.write("node.key", server.key))
        let caPEM = try authority.pem
        try await withHTTPServer(FakeNodeService(), security: HTTPSecurity(tls: files)) { plain in
            var secure = plain
            secure.tls = try clientContext(trusting: caPEM)
            let health = try await secure.request("GET", "/health")
            #expect(health.status == 200)
            let state = try await secure.request(
                "POST", "/start", headers: [("Origin", "https://127.0.0.1:\(plain.port)"), ("Host", "127.0.0.1:\(plain.port)")])
            #expect(state.status == 200, "a same-origin page under HTTPS: \(state.text)")
            await #expect(throws: (any Error).self, "plain HTTP gets no answer from the HTTPS port") {
                _ = try await plain.request("GET", "/health")
            }
        }
    }

    @Test func clientCertificatesFromTheTrustedCAAreRequiredWhenAsked() async throws {
        let folder = try PEMFolder()
        defer { folder.remove() }
        let authority = try TestAuthority(name: "WRaft test CA")
        let stranger = try TestAuthority(name: "Some other CA")
        let server = try authority.issue(commonName: "node")
        let files = TLSFiles(
            certificateFile: try folder.write("node.pem", server.certificate), privateKeyFile: try folder.write("node.key", server.key),
            trustedCAFile: try folder.write("ca.pem", try authority.pem))
        let caPEM = try authority.pem
        let security = HTTPSecurity(tls: files, isClientCertificateAuthRequired: true)
        let service = FakeNodeService()
        try await withHTTPServer(service, security: security) { plain in
            var member = plain
            member.tls = try clientContext(trusting: caPEM, certificate: try authority.issue(commonName: "operator"))
            let allowed = try await member.request("PUT", "/data/k", body: Array("v".utf8))
            #expect(allowed.status == 200, "\(allowed.text)")

            var anonymous = plain
            anonymous.tls = try clientContext(trusting: caPEM)
            await #expect(throws: (any Error).self, "no client certificate: the handshake fails") {
                _ = try await anonymous.request("PUT", "/data/k", body: Array("v".utf8))
            }
            var foreign = plain
            foreign.tls = try clientContext(trusting: caPEM, certificate: try stranger.issue(commonName: "intruder"))
            await #expect(throws: (any Error).self, "a certificate from another CA: the handshake fails") {
                _ = try await foreign.request("PUT", "/data/k", body: Array("v".utf8))
            }
            #expect(await service.calls.count == 1, "only the member's write arrived")
        }
    }

    @Test func unreadableCertificateFilesAreASetupError() throws {
        let files = TLSFiles(certificateFile: "/nonexistent/cert.pem", privateKeyFile: "/nonexistent/key.pem")
        #expect(throws: HTTPServerSetupError.self) {
            _ = try makeServerTLSConfiguration(files, requiresClientCertificate: false)
        }
    }
}
