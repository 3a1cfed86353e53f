import Foundation
import X509

extension CertificateFiles {
    /// How long an existing certificate must still be valid to be reused.
    public static let reuseValidityMarginSeconds: TimeInterval = 86_400

    /// The CA of `directory`: read when `ca.pem` exists, else made and written.
    public static func readOrMakeAuthority(in directory: String, now: Date = Date()) throws(WRaftCertificateError)
        -> CertificateAuthority
    {
        if FileManager.default.fileExists(atPath: authorityCertificatePath(in: directory)) {
            return try readAuthority(from: directory)
        }
        let authority = try CertificateAuthority.make(now: now)
        try writeAuthority(authority, to: directory)
        return authority
    }

    /// The certificate `NAME` of `directory`: read when `NAME.pem` exists (and checked: issued by
    /// `authority`, valid for at least another day, naming every one of `hosts`), else issued
    /// and written.
    public static func readOrIssue(
        name: String, hosts: [CertificateHost], by authority: CertificateAuthority, in directory: String,
        now: Date = Date()
    ) async throws(WRaftCertificateError) -> IssuedCertificate {
        let path = certificatePath(name: name, in: directory)
        guard FileManager.default.fileExists(atPath: path) else {
            let issued = try authority.issue(name: name, hosts: hosts, now: now)
            try writeIssued(issued, name: name, to: directory)
            return issued
        }
        let existing = try readIssued(name: name, from: directory)
        guard await authority.verifies(existing.certificate, until: now + reuseValidityMarginSeconds) else {
            throw .unusable(path: path, reason: "not issued by \(authorityCertificatePath(in: directory)), or expiring within a day")
        }
        let missing = hosts.filter { !existing.hosts.contains($0) }
        guard missing.isEmpty else {
            throw .unusable(path: path, reason: "it does not name \(missing.map(\.description).joined(separator: ", "))")
        }
        return existing
    }
}

extension CertificateFiles {
    /// Checks that the certificate at `certificatePath` chains to the CA certificate at
    /// `authorityPath` and is valid now (any key type: the files may come from another PKI).
    /// Throws `.unusable` naming both files otherwise.
    public static func checkIssued(certificateAt certificatePath: String, byAuthorityAt authorityPath: String) async
        throws(WRaftCertificateError)
    {
        let certificate = try readCertificate(at: certificatePath)
        let authority = try readCertificate(at: authorityPath)
        var verifier = Verifier(rootCertificates: CertificateStore([authority])) { RFC5280Policy() }
        guard case .validCertificate = await verifier.validate(leaf: certificate, intermediates: CertificateStore()) else {
            throw .unusable(path: certificatePath, reason: "not a valid certificate issued by \(authorityPath) (another CA, expired, or not yet valid)")
        }
    }
}
