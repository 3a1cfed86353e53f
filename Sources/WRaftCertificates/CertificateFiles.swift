import Crypto
import Foundation
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The PEM files of a certificate directory (`wraft certs`): `ca.pem` and `ca-key.pem` for the
/// CA, `NAME.pem` and `NAME-key.pem` for each certificate it issued.
///
/// Keys are written 0600 and certificates 0644, each with `O_EXCL` (an existing file is never
/// overwritten), and a directory made here is 0700. Reads are bounded by `fileBytesMax`.
public enum CertificateFiles {
    /// The CA certificate's file name.
    public static let authorityCertificateFileName = "ca.pem"
    /// The CA key's file name.
    public static let authorityKeyFileName = "ca-key.pem"
    /// The largest PEM file read (a certificate or key is a few hundred bytes).
    public static let fileBytesMax = 1 << 20
    /// The longest certificate name.
    public static let nameCharactersMax = 64
    /// Permissions of the files written.
    public static let keyFileMode: mode_t = 0o600
    public static let certificateFileMode: mode_t = 0o644
    public static let directoryMode: mode_t = 0o700

    /// `DIRECTORY/ca.pem`.
    public static func authorityCertificatePath(in directory: String) -> String {
        join(directory, authorityCertificateFileName)
    }

    /// `DIRECTORY/ca-key.pem`.
    public static func authorityKeyPath(in directory: String) -> String {
        join(directory, authorityKeyFileName)
    }

    /// `DIRECTORY/NAME.pem`.
    public static func certificatePath(name: String, in directory: String) -> String {
        join(directory, name + ".pem")
    }

    /// `DIRECTORY/NAME-key.pem`.
    public static func keyPath(name: String, in directory: String) -> String {
        join(directory, name + "-key.pem")
    }

    /// Checks a certificate name from untrusted text: it becomes a file name, so 1...64 of
    /// `[A-Za-z0-9._-]`, not starting with `.` or `-`; `ca` and names ending in `-key` are
    /// reserved (their files would collide with the CA's or another certificate's key).
    public static func checkName(_ name: String) throws(WRaftCertificateError) {
        guard (1...nameCharactersMax).contains(name.utf8.count) else {
            throw .invalidName(name, reason: "it must have 1...\(nameCharactersMax) characters")
        }
        guard name.utf8.allSatisfy(\.isNameCharacter) else {
            throw .invalidName(name, reason: "use only letters, digits, '.', '_' and '-'")
        }
        guard !name.hasPrefix("."), !name.hasPrefix("-") else {
            throw .invalidName(name, reason: "it must not start with '.' or '-'")
        }
        guard name != "ca", !name.hasSuffix("-key") else {
            throw .invalidName(name, reason: "'ca' and names ending in '-key' are reserved")
        }
    }

    // MARK: Writing

    /// Writes `ca.pem` and `ca-key.pem` into `directory` (made 0700 if missing); refuses when
    /// either exists.
    public static func writeAuthority(_ authority: CertificateAuthority, to directory: String) throws(WRaftCertificateError) {
        try writePair(
            certificate: authority.certificate, key: authority.privateKey,
            certificatePath: authorityCertificatePath(in: directory), keyPath: authorityKeyPath(in: directory),
            directory: directory)
    }

    /// Writes `NAME.pem` and `NAME-key.pem` into `directory`; refuses when either exists.
    public static func writeIssued(_ issued: IssuedCertificate, name: String, to directory: String)
        throws(WRaftCertificateError)
    {
        try checkName(name)
        try writePair(
            certificate: issued.certificate, key: issued.privateKey,
            certificatePath: certificatePath(name: name, in: directory), keyPath: keyPath(name: name, in: directory),
            directory: directory)
    }

    /// Makes `directory` (and missing parents) if it does not exist; the last component is made 0700.
    public static func makeDirectory(_ directory: String) throws(WRaftCertificateError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .writeFailed(path: directory, reason: "not a directory") }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw .writeFailed(path: parent, reason: "\(error)")
            }
        }
        guard mkdir(directory, directoryMode) == 0 || errno == EEXIST else {
            throw .writeFailed(path: directory, reason: String(cString: strerror(errno)))
        }
        // mkdir's mode is filtered by the umask; the directory must be exactly 0700.
        _ = chmod(directory, directoryMode)
    }

    private static func writePair(
        certificate: Certificate, key: P256.Signing.PrivateKey, certificatePath: String, keyPath: String,
        directory: String
    ) throws(WRaftCertificateError) {
        try makeDirectory(directory)
        for path in [certificatePath, keyPath] where FileManager.default.fileExists(atPath: path) {
            throw .fileExists(path: path)
        }
        let certificatePEM: String
        do {
            certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
        } catch {
            throw .signingFailed(reason: "cannot encode the certificate: \(error)")
        }
        try writeNewFile(keyPath, contents: key.pemRepresentation + "\n", mode: keyFileMode)
        do {
            try writeNewFile(certificatePath, contents: certificatePEM, mode: certificateFileMode)
        } catch {
            // Never leave a key without its certificate: the next attempt would refuse to overwrite it.
            unlink(keyPath)
            throw error
        }
        syncDirectory(directory)
    }

    /// Creates `path` (never overwriting), writes `contents`, sets `mode` exactly and fsyncs.
    static func writeNewFile(_ path: String, contents: String, mode: mode_t) throws(WRaftCertificateError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw .fileExists(path: path) }
            throw .writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        var failure: String?
        if fchmod(descriptor, mode) != 0 { failure = String(cString: strerror(errno)) }
        let bytes = Array(contents.utf8)
        var written = 0
        while failure == nil && written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
            } else {
                written += result
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if let failure {
            unlink(path)
            throw .writeFailed(path: path, reason: failure)
        }
    }

    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }

    // MARK: Reading

    /// Reads `ca.pem` and `ca-key.pem` from `directory`, checking that the certificate is a CA and
    /// the key is its key.
    public static func readAuthority(from directory: String) throws(WRaftCertificateError) -> CertificateAuthority {
        let certificatePath = authorityCertificatePath(in: directory)
        let keyPath = authorityKeyPath(in: directory)
        let certificate = try readCertificate(at: certificatePath)
        let key = try readPrivateKey(at: keyPath)
        guard CertificateAuthority.isCertificateAuthority(certificate) else {
            throw .notACertificateAuthority(path: certificatePath)
        }
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw .keyMismatch(certificatePath: certificatePath, keyPath: keyPath)
        }
        return try CertificateAuthority(certificate: certificate, privateKey: key)
    }

    /// Reads `NAME.pem` and `NAME-key.pem` from `directory`, checking that the key is the certificate's.
    public static func readIssued(name: String, from directory: String) throws(WRaftCertificateError) -> IssuedCertificate {
        try checkName(name)
        let certificatePath = certificatePath(name: name, in: directory)
        let keyPath = keyPath(name: name, in: directory)
        let certificate = try readCertificate(at: certificatePath)
        let key = try readPrivateKey(at: keyPath)
        guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw .keyMismatch(certificatePath: certificatePath, keyPath: keyPath)
        }
        return IssuedCertificate(certificate: certificate, privateKey: key)
    }

    /// Reads the first certificate of a PEM file.
    public static func readCertificate(at path: String) throws(WRaftCertificateError) -> Certificate {
        let text = try readText(at: path)
        do {
            return try Certificate(pemEncoded: text)
        } catch {
            throw .malformed(path: path, reason: "no certificate in it (\(error))")
        }
    }

    /// Reads a P-256 private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY` PEM).
    public static func readPrivateKey(at path: String) throws(WRaftCertificateError) -> P256.Signing.PrivateKey {
        let text = try readText(at: path)
        do {
            return try P256.Signing.PrivateKey(pemRepresentation: text)
        } catch {
            throw .malformed(path: path, reason: "no P-256 private key in it (\(error))")
        }
    }

    /// The text of a small file, bounded by `fileBytesMax`.
    public static func readText(at path: String) throws(WRaftCertificateError) -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT { throw .fileMissing(path: path) }
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw .unreadable(path: path, reason: "not a regular file") }
        guard status.st_size <= fileBytesMax else {
            throw .unreadable(path: path, reason: "larger than \(fileBytesMax) bytes")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: fileBytesMax + 1) ?? Data()
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        guard data.count <= fileBytesMax else { throw .unreadable(path: path, reason: "larger than \(fileBytesMax) bytes") }
        guard let text = String(data: data, encoding: .utf8) else { throw .malformed(path: path, reason: "not UTF-8 text") }
        return text
    }

    private static func join(_ directory: String, _ file: String) -> String {
        (directory as NSString).appendingPathComponent(file)
    }
}

extension UInt8 {
    fileprivate var isNameCharacter: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || self == UInt8(ascii: ".")
            || self == UInt8(ascii: "_") || self == UInt8(ascii: "-")
    }
}
