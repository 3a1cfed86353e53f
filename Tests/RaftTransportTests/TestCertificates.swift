import Crypto
import Foundation
import NIOSSL
import RaftTransport
import SwiftASN1
import X509

/// A throwaway certificate authority for tests: P-256 keys, certificates valid for a day,
/// member certificates good for both ends of a TLS connection (mutual TLS).
struct TestCA {
    let key: P256.Signing.PrivateKey
    let certificate: Certificate
    let name: DistinguishedName

    init(name commonName: String = "wraft test CA") throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName { CommonName(commonName) }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    /// A member certificate and key for `commonName`, valid for 127.0.0.1.
    func issue(_ commonName: String) throws -> TestMember {
        let memberKey = P256.Signing.PrivateKey()
        let now = Date()
        let memberCertificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(memberKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400, issuer: name,
            subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        return TestMember(
            certificatePEM: try memberCertificate.serializeAsPEM().pemString, keyPEM: memberKey.pemRepresentation,
            caPEM: try certificate.serializeAsPEM().pemString)
    }
}

/// One member's certificate, key and trusted CA, as PEM text.
struct TestMember {
    let certificatePEM: String
    let keyPEM: String
    let caPEM: String

    /// The transport TLS settings for this member.
    func tls() throws -> TransportTLS {
        TransportTLS(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)),
            privateKey: try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem),
            trustRoots: try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
    }
}
