import Crypto
import Foundation
import SwiftASN1
import X509

/// A cluster's certificate authority: a self-signed P-256 certificate and its key, which issues
/// the certificates of members and clients.
///
/// Pure values: making and issuing touch no file (see `CertificateFiles` for that).
public struct CertificateAuthority: Sendable {
    /// The CA's own certificate (self-signed, `CA:TRUE`, `keyCertSign`).
    public let certificate: Certificate
    /// The key that signs what the CA issues.
    public let privateKey: P256.Signing.PrivateKey

    /// Days a CA is valid for by default (10 years).
    public static let validityDaysDefault = 3_650
    /// Days an issued certificate is valid for by default (1 year).
    public static let issuedValidityDaysDefault = 365
    /// The validities accepted, in days (up to 100 years).
    public static let validityDaysRange = 1...36_500
    /// Certificates start this long before "now", so a peer whose clock is a little behind
    /// accepts a certificate made a moment ago.
    public static let clockSkewAllowanceSeconds: TimeInterval = 300

    /// Pairs a CA certificate with its key; throws when the certificate is no CA or the key is not its key.
    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) throws(WRaftCertificateError) {
        guard Self.isCertificateAuthority(certificate) else { throw .notACertificateAuthority(path: "(certificate)") }
        guard certificate.publicKey == Certificate.PublicKey(privateKey.publicKey) else {
            throw .keyMismatch(certificatePath: "(certificate)", keyPath: "(key)")
        }
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Makes a new CA with a fresh key. Its subject is `CN=<commonName>, O=WRaft`.
    public static func make(
        commonName: String = "WRaft cluster CA", validityDays: Int = validityDaysDefault, now: Date = Date()
    ) throws(WRaftCertificateError) -> CertificateAuthority {
        try checkValidity(validityDays)
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        do {
            let name = try DistinguishedName {
                OrganizationName("WRaft")
                CommonName(commonName)
            }
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now - clockSkewAllowanceSeconds, notValidAfter: now + days(validityDays),
                issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                issuerPrivateKey: Certificate.PrivateKey(key))
            return try CertificateAuthority(certificate: certificate, privateKey: key)
        } catch let error as WRaftCertificateError {
            throw error
        } catch {
            throw .signingFailed(reason: "\(error)")
        }
    }

    /// Issues a certificate for a member or a client, signed by this CA, with a fresh key.
    ///
    /// The certificate's subject is `CN=<name>, O=WRaft`; it is usable as a TLS server and a TLS
    /// client (`serverAuth`, `clientAuth`), and names every host as a SAN (IP addresses as IP
    /// SANs, names as DNS SANs). It never outlives the CA: its end is the earlier of the two.
    public func issue(
        name: String, hosts: [CertificateHost], validityDays: Int = issuedValidityDaysDefault, now: Date = Date()
    ) throws(WRaftCertificateError) -> IssuedCertificate {
        try CertificateFiles.checkName(name)
        try Self.checkValidity(validityDays)
        guard (1...CertificateHost.countMax).contains(hosts.count) else { throw .invalidHostCount(hosts.count) }
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let notValidAfter = min(now + Self.days(validityDays), certificate.notValidAfter)
        do {
            let subject = try DistinguishedName {
                OrganizationName("WRaft")
                CommonName(name)
            }
            let alternativeNames = SubjectAlternativeNames(hosts.map { host -> GeneralName in
                switch host {
                case .dnsName(let name): return .dnsName(name)
                case .ipAddress(let bytes): return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes)))
                }
            })
            let authorityKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
                ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
            let extensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                alternativeNames
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
            }
            let issued = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
                notValidBefore: now - Self.clockSkewAllowanceSeconds, notValidAfter: notValidAfter,
                issuer: certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(privateKey))
            return IssuedCertificate(certificate: issued, privateKey: key)
        } catch {
            throw .signingFailed(reason: "\(error)")
        }
    }

    /// Whether `candidate` chains to this CA and is valid now (RFC 5280 path validation with
    /// swift-certificates' `Verifier`), and both it and the CA are still valid at `time`.
    public func verifies(_ candidate: Certificate, until time: Date = Date()) async -> Bool {
        var verifier = Verifier(rootCertificates: CertificateStore([certificate])) {
            RFC5280Policy()
        }
        switch await verifier.validate(leaf: candidate, intermediates: CertificateStore()) {
        case .validCertificate:
            return time <= candidate.notValidAfter && time <= certificate.notValidAfter
        case .couldNotValidate:
            return false
        }
    }

    /// Whether a certificate says it is a CA that may sign certificates.
    public static func isCertificateAuthority(_ certificate: Certificate) -> Bool {
        guard let constraints = try? certificate.extensions.basicConstraints,
            case .isCertificateAuthority = constraints
        else { return false }
        // No keyUsage extension at all allows every use (RFC 5280 4.2.1.3).
        guard let usage = try? certificate.extensions.keyUsage else { return true }
        return usage.keyCertSign
    }

    private static func checkValidity(_ days: Int) throws(WRaftCertificateError) {
        guard validityDaysRange.contains(days) else { throw .invalidValidity(days: days, range: validityDaysRange) }
    }

    private static func days(_ count: Int) -> TimeInterval {
        TimeInterval(count) * 86_400
    }
}

/// A certificate issued by a `CertificateAuthority`, and its private key.
public struct IssuedCertificate: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// The hosts named by the certificate's SAN extension, in order.
    public var hosts: [CertificateHost] {
        Self.hosts(of: certificate)
    }

    /// The hosts a certificate's SAN extension names (DNS and IP entries; others are skipped).
    public static func hosts(of certificate: Certificate) -> [CertificateHost] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let text): return .dnsName(text)
            case .ipAddress(let octets): return .ipAddress(Array(octets.bytes))
            default: return nil
            }
        }
    }
}
