/// Why a certificate could not be made, written or read.
///
/// Every case names what the user can fix: the file, the flag value or the reason.
public enum WRaftCertificateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A certificate name (`--name`) that is not 1...64 of `[A-Za-z0-9._-]`, starts with a dot or
    /// a dash, or is reserved (`ca`).
    case invalidName(String, reason: String)
    /// A host (`--host`) that is neither an IP address nor a DNS name.
    case invalidHost(String, reason: String)
    /// A certificate for a member or client names no host at all, or too many.
    case invalidHostCount(Int)
    /// A validity outside the accepted range of days.
    case invalidValidity(days: Int, range: ClosedRange<Int>)
    /// The file exists and is not overwritten.
    case fileExists(path: String)
    /// The file does not exist.
    case fileMissing(path: String)
    /// The file exists but could not be read (permissions, a directory, too large).
    case unreadable(path: String, reason: String)
    /// The file was read but is not the PEM it should be.
    case malformed(path: String, reason: String)
    /// The certificate is not a certificate authority (no `basicConstraints CA:TRUE` or no
    /// `keyCertSign`).
    case notACertificateAuthority(path: String)
    /// The private key is not the key of the certificate next to it.
    case keyMismatch(certificatePath: String, keyPath: String)
    /// A file or directory could not be created or written.
    case writeFailed(path: String, reason: String)
    /// The certificate could not be built or signed.
    case signingFailed(reason: String)
    /// An existing certificate cannot be reused: not issued by the CA, expired, or missing a host.
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidName(let name, let reason):
            return "invalid certificate name '\(name)': \(reason)"
        case .invalidHost(let host, let reason):
            return "invalid host '\(host)': \(reason)"
        case .invalidHostCount(let count):
            return "a certificate needs 1...\(CertificateHost.countMax) hosts (given \(count))"
        case .invalidValidity(let days, let range):
            return "validity of \(days) days is not in \(range.lowerBound)...\(range.upperBound)"
        case .fileExists(let path):
            return "\(path) exists; not overwriting it (remove it first, or choose another --dir or --name)"
        case .fileMissing(let path):
            return "\(path) does not exist"
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .malformed(let path, let reason):
            return "\(path) is not a valid PEM file: \(reason)"
        case .notACertificateAuthority(let path):
            return "\(path) is not a certificate authority (it lacks CA:TRUE or keyCertSign)"
        case .keyMismatch(let certificatePath, let keyPath):
            return "\(keyPath) is not the private key of \(certificatePath)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .signingFailed(let reason):
            return "cannot make the certificate: \(reason)"
        case .unusable(let path, let reason):
            return "\(path) cannot be reused: \(reason) (remove it and its key to issue a new one)"
        }
    }
}
