import WRaftCertificates

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The start-up rules of the trust boundary (SECURITY.md), as a pure function of the options:
/// a node never serves plaintext to the network by accident, and never announces an address its
/// peers cannot reach.
///
/// - A port that binds a non-loopback address must have TLS: the raft port `--peer-cert-file`,
///   `--peer-key-file` and `--peer-trusted-ca-file`, the HTTP port `--cert-file` and `--key-file`.
///   `--insecure-plaintext` lifts this, with a warning at every start.
/// - The advertised host (`--advertised-host`, else `--host`) must not be a wildcard such as
///   `0.0.0.0` or `::`: peers and clients would be told to dial it.
public enum StartupPolicy {
    /// What `check` decided: the warnings to log (the node may start).
    public struct Verdict: Sendable, Equatable {
        /// Lines to log at `warning` before serving.
        public var warnings: [String]
    }

    /// Why the node refuses to start; `description` says how to fix it.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Applies the rules to `options`; throws a `Refusal` that says how to fix what it refuses.
    public static func check(_ options: NodeOptions) throws(Refusal) -> Verdict {
        for (announced, bind, bindFlag) in [
            (options.announcedRaftHost, options.raftListenHost, options.raftBindHost == nil ? "--host" : "--raft-bind"),
            (options.announcedHTTPHost, options.httpListenHost, options.httpBindHost == nil ? "--host" : "--http-bind"),
        ] where isWildcard(announced) {
            let flag = options.advertisedHost == nil ? "\(bindFlag) \(bind)" : "--advertised-host \(announced)"
            throw Refusal(
                description: """
                    \(flag) would be advertised, and it is a wildcard address: peers and clients cannot reach this \
                    node at it. Keep \(bindFlag) \(bind) to listen on every interface and set --advertised-host (or \
                    WRAFT_ADVERTISED_HOST, or "advertised-host" in the config file) to the address or name the other \
                    machines reach this one at (for example --advertised-host 10.0.0.1).
                    """)
        }
        var plaintextPorts: [String] = []
        if options.peerTLS == nil && !isLoopback(options.raftListenHost) {
            plaintextPorts.append("the raft port \(options.raftListenHost):\(options.raftPort)")
        }
        if options.httpTLS == nil && !isLoopback(options.httpListenHost) {
            plaintextPorts.append("the HTTP port \(options.httpListenHost):\(options.httpPort)")
        }
        guard !plaintextPorts.isEmpty else { return Verdict(warnings: []) }
        let ports = plaintextPorts.joined(separator: " and ")
        guard options.isInsecurePlaintextAllowed else {
            throw Refusal(description: refusalText(options: options, ports: ports))
        }
        return Verdict(warnings: [
            "--insecure-plaintext: \(ports) serve\(plaintextPorts.count == 1 ? "s" : "") plaintext on a non-loopback address: "
                + "anyone who can reach \(plaintextPorts.count == 1 ? "it" : "them") can read every value, join the cluster and drive it. "
                + "Use TLS (see `wraft certs --help` and SECURITY.md)."
        ])
    }

    private static func refusalText(options: NodeOptions, ports: String) -> String {
        var lines = [
            "refusing to serve plaintext on a non-loopback address: \(ports) would have no TLS, so anyone who can reach them could read every value, join the cluster and drive it.",
            "Either:",
            "  - make certificates:  wraft certs init --dir certs  &&  wraft certs issue --dir certs --name node1 --host \(options.announcedRaftHost)",
        ]
        if options.peerTLS == nil {
            lines.append(
                "    and give the raft port mutual TLS:  --peer-cert-file certs/node1.pem --peer-key-file certs/node1-key.pem --peer-trusted-ca-file certs/ca.pem"
            )
        }
        if options.httpTLS == nil {
            lines.append("    and serve HTTPS:  --cert-file certs/node1.pem --key-file certs/node1-key.pem")
        }
        lines.append("  - or bind a loopback address (--host 127.0.0.1) for a local cluster,")
        lines.append("  - or accept the risk on a network you trust: --insecure-plaintext")
        return lines.joined(separator: "\n")
    }

    /// Whether `host` names this machine only: `localhost`, 127.0.0.0/8, `::1` (brackets allowed),
    /// or an IPv4-mapped 127.0.0.0/8.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "localhost." { return true }
        guard let bytes = CertificateHost.ipAddressBytes(of: host) else { return false }
        if bytes.count == 4 { return bytes[0] == 127 }
        if bytes == Array(repeating: 0, count: 15) + [1] { return true }
        let isIPv4Mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
        return isIPv4Mapped && bytes[12] == 127
    }

    /// Whether `host` is a wildcard (any-address) such as `0.0.0.0`, `::`, `[::]`, or empty.
    public static func isWildcard(_ host: String) -> Bool {
        let host = host.trimmingWhitespace
        if host.isEmpty || host == "*" || host == "[]" { return true }
        return CertificateHost.ipAddressBytes(of: host)?.allSatisfy { $0 == 0 } ?? false
    }
}

extension StartupPolicy {
    /// The open-file limit after `raiseOpenFileLimit()`: the soft limit before and after, and the hard limit.
    public struct OpenFileLimit: Sendable, Equatable {
        public var before: UInt64
        public var after: UInt64
        public var hard: UInt64
    }

    /// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (every peer, client and WAL
    /// file is a descriptor; the usual soft limit of 1024 is reached by a few hundred clients).
    /// Returns nil when the limit cannot be read; a failed raise leaves `after == before`.
    public static func raiseOpenFileLimit() -> OpenFileLimit? {
        var limit = rlimit()
        guard getrlimit(resourceOpenFiles, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        var target = limit.rlim_max
        #if canImport(Darwin)
        // macOS refuses RLIM_INFINITY for open files; OPEN_MAX is its real ceiling.
        target = min(target, rlim_t(OPEN_MAX))
        #endif
        guard limit.rlim_cur < target else {
            return OpenFileLimit(before: before, after: before, hard: UInt64(limit.rlim_max))
        }
        var raised = limit
        raised.rlim_cur = target
        guard setrlimit(resourceOpenFiles, &raised) == 0 else {
            return OpenFileLimit(before: before, after: before, hard: UInt64(limit.rlim_max))
        }
        var now = rlimit()
        let after = getrlimit(resourceOpenFiles, &now) == 0 ? UInt64(now.rlim_cur) : before
        return OpenFileLimit(before: before, after: after, hard: UInt64(limit.rlim_max))
    }

    #if canImport(Glibc)
    private static let resourceOpenFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceOpenFiles = RLIMIT_NOFILE
    #endif
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

extension StartupPolicy {
    /// Checks the TLS files before anything starts, so a wrong path or a certificate from the
    /// wrong CA is a clear refusal naming the file rather than a handshake failure later: every
    /// file must be a readable regular file, certificates must parse, and the peer certificate
    /// must chain to the peer CA and be valid now (members verify each other against that CA).
    public static func checkFiles(_ options: NodeOptions) async throws(Refusal) {
        if let peerTLS = options.peerTLS {
            try await checkFiles(peerTLS, flagPrefix: "--peer-", mustChainToCA: true)
        }
        if let httpTLS = options.httpTLS {
            // The HTTP CA vouches for clients, not for this node: it need not have issued our certificate.
            try await checkFiles(httpTLS, flagPrefix: "--", mustChainToCA: false)
        }
    }

    private static func checkFiles(_ files: TLSFiles, flagPrefix: String, mustChainToCA: Bool) async throws(Refusal) {
        do {
            _ = try CertificateFiles.readCertificate(at: files.certificateFile)
            _ = try CertificateFiles.readText(at: files.privateKeyFile)
        } catch {
            throw Refusal(description: "\(flagPrefix)cert-file/\(flagPrefix)key-file: \(error)")
        }
        guard let trustedCAFile = files.trustedCAFile else { return }
        do {
            _ = try CertificateFiles.readCertificate(at: trustedCAFile)
        } catch {
            throw Refusal(description: "\(flagPrefix)trusted-ca-file: \(error)")
        }
        guard mustChainToCA else { return }
        do {
            try await CertificateFiles.checkIssued(certificateAt: files.certificateFile, byAuthorityAt: trustedCAFile)
        } catch {
            throw Refusal(
                description: """
                    \(error); the other members would refuse it. Issue one with \
                    `wraft certs issue --dir <the CA's dir> --name <name> --host <this node's address>`.
                    """)
        }
    }
}
