import ArgumentParser
import Foundation
import Logging
import WRaftServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one node: the HTTP API on --http-port, Raft traffic on --raft-port.",
        discussion: """
            A new node starts `initial`: form a cluster with POST /connect and POST /start (see \
            the README), or let `wraft cluster` do it. A node restarted on the same --data-dir \
            comes back `running` in its cluster by itself. Logs go to standard error; metrics are \
            served at /metrics in Prometheus text.
            Plaintext is served only on loopback addresses (127.0.0.1, ::1, localhost). On any other \
            address each port needs TLS (make certificates with `wraft certs`), or the node refuses \
            to start; --insecure-plaintext overrides that, with a warning at every start. With \
            --host 0.0.0.0, set --advertised-host to the address the other machines reach this one at.
            Examples:
              wraft serve --http-port 8081 --raft-port 10002 --data-dir /tmp/wraft/node1
              wraft serve --host 0.0.0.0 --advertised-host 10.0.0.1 --data-dir /var/lib/wraft \\
                  --peer-cert-file certs/node1.pem --peer-key-file certs/node1-key.pem --peer-trusted-ca-file certs/ca.pem \\
                  --cert-file certs/node1.pem --key-file certs/node1-key.pem
            """)

    @Option(help: "The HTTP port (clients, operators, dashboard).") var httpPort: Int = 8081
    @Option(help: "The Raft port (peer-to-peer traffic only).") var raftPort: Int = 10002
    @Option(help: "The folder of this node's WAL, snapshots and identity (created if missing).") var dataDir: String
    @Option(help: "The interface to listen on, and the host peers and clients reach this node at.")
    var host: String = "127.0.0.1"
    @Option(help: "The host peers and clients reach this node at, when --host is a wildcard such as 0.0.0.0.")
    var advertisedHost: String?
    @Flag(help: "Allow fault injection through POST /op/... (otherwise 403 faults_disabled).")
    var enableFaults = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"
    @Option(help: "Log line format on standard error: text, or json (one object a line, metadata as fields).")
    var logFormat: LogFormat = .text
    @Option(help: "Election timeout in milliseconds (a random jitter is added).") var electionTimeoutMs: Int = 300
    @Option(help: "Leader heartbeat interval in milliseconds.") var heartbeatMs: Int = 100
    @Option(help: "Take a snapshot every this many applied entries (default 100000).") var snapshotEntries: Int?
    @Option(help: "Take a snapshot once this many bytes of commands were applied since the last (default 64 MiB).")
    var snapshotLogBytes: Int?
    @Option(help: "Log entries kept behind a snapshot for followers that lag a little.") var snapshotRetainedEntries: Int?
    @Option(help: "Event-loop threads for HTTP, peers and the node's tasks (default: one per core).")
    var threads: Int?
    @Flag(help: .hidden) var exitWithParent = false

    // The trust boundary (etcd's flag names where etcd has the flag).
    @Option(help: "This member's certificate for the raft port (PEM); with --peer-key-file and --peer-trusted-ca-file turns on mutual TLS between members.")
    var peerCertFile: String?
    @Option(help: "The private key of --peer-cert-file (PEM).") var peerKeyFile: String?
    @Option(help: "The CA (PEM) every member's certificate must be issued by.") var peerTrustedCaFile: String?
    @Option(help: "The HTTP port's certificate (PEM): serve HTTPS.") var certFile: String?
    @Option(help: "The private key of --cert-file (PEM).") var keyFile: String?
    @Option(help: "The CA (PEM) client certificates must be issued by (with --client-cert-auth).") var trustedCaFile: String?
    @Flag(help: "Require a client certificate from --trusted-ca-file on the HTTP port.") var clientCertAuth = false
    @Option(help: "A file of `TOKEN ROLE` lines (roles: read, write, admin): every request but /health needs `Authorization: Bearer TOKEN`.")
    var authTokenFile: String?
    @Option(help: "Comma-separated origins (scheme://host[:port]) whose pages may change state, besides the members' own.")
    var corsAllowedOrigins: String?
    @Option(help: "Comma-separated host names a request's Host header may name, besides this node's own addresses and localhost.")
    var hostAllowlist: String?
    @Flag(help: "Serve plaintext on non-loopback addresses (anyone who can reach the ports can read and drive the cluster).")
    var insecurePlaintext = false
    @Option(help: "Past this many bytes of keys and values, writes get 507 quota_exceeded (default 2 GiB).")
    var quotaBytes: Int?

    /// How often `--exit-with-parent` looks for its parent.
    static let parentCheckIntervalMs = 500

    func validate() throws {
        try EventLoopThreads.validate(threads)
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try makeOptions()
    }

    func makeOptions() throws -> NodeOptions {
        var options = NodeOptions(
            host: host, httpPort: httpPort, raftPort: raftPort, dataDirectory: dataDir,
            isFaultInjectionEnabled: enableFaults, heartbeatMs: heartbeatMs, electionTimeoutMs: electionTimeoutMs,
            logLevel: Logger.Level(rawValue: logLevel) ?? .info)
        options.advertisedHost = advertisedHost
        if let snapshotEntries { options.snapshotEntries = snapshotEntries }
        if let snapshotLogBytes { options.snapshotLogBytes = snapshotLogBytes }
        if let snapshotRetainedEntries { options.snapshotRetainedEntries = snapshotRetainedEntries }
        options.peerTLS = try Self.tlsFiles(
            certificate: peerCertFile, key: peerKeyFile, trustedCA: peerTrustedCaFile, flagPrefix: "--peer-")
        options.httpTLS = try Self.tlsFiles(certificate: certFile, key: keyFile, trustedCA: trustedCaFile, flagPrefix: "--")
        options.isClientCertificateAuthRequired = clientCertAuth
        options.authTokenFile = authTokenFile
        options.corsAllowedOrigins = Self.commaSeparated(corsAllowedOrigins)
        options.hostAllowlist = Self.commaSeparated(hostAllowlist)
        options.isInsecurePlaintextAllowed = insecurePlaintext
        if let quotaBytes { options.quotaBytes = quotaBytes }
        do {
            try options.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        return options
    }

    /// The TLS files of one port: all of certificate and key, or none.
    private static func tlsFiles(
        certificate: String?, key: String?, trustedCA: String?, flagPrefix: String
    ) throws -> TLSFiles? {
        switch (certificate, key) {
        case (nil, nil):
            guard trustedCA == nil else {
                throw ValidationError("\(flagPrefix)trusted-ca-file needs \(flagPrefix)cert-file and \(flagPrefix)key-file")
            }
            return nil
        case (let certificate?, let key?):
            return TLSFiles(certificateFile: certificate, privateKeyFile: key, trustedCAFile: trustedCA)
        default:
            throw ValidationError("give both \(flagPrefix)cert-file and \(flagPrefix)key-file, or neither")
        }
    }

    private static func commaSeparated(_ list: String?) -> [String] {
        (list ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() async throws {
        let options = try makeOptions()
        let level = options.logLevel
        logFormat.bootstrap(level: level)
        let metricsText = MetricsBackend.bootstrap()
        var logger = Logger(label: "wraft")
        logger.logLevel = level
        if exitWithParent { watchParent(logger: logger) }
        try await applyStartupPolicy(options, logger: logger)
        do {
            try await runNode(options: options, logger: logger, metricsText: metricsText)
        } catch {
            logger.critical("node stopped: \(error)")
            throw CLIError("\(error)")
        }
    }

    /// Refuses plaintext on a network address and a wildcard advertised address (SECURITY.md),
    /// warns at every start under `--insecure-plaintext`, and raises the open-file limit.
    private func applyStartupPolicy(_ options: NodeOptions, logger: Logger) async throws {
        do {
            for warning in try StartupPolicy.check(options).warnings { logger.warning("\(warning)") }
            try await StartupPolicy.checkFiles(options)
        } catch {
            logger.critical("node not started: \(error)")
            throw CLIError("\(error)")
        }
        if let limit = StartupPolicy.raiseOpenFileLimit() {
            logger.info("open-file limit \(limit.after) (was \(limit.before), hard limit \(limit.hard))")
        } else {
            logger.warning("cannot read the open-file limit")
        }
    }

    /// Stops the node (cleanly, through SIGTERM) when the process that launched it is gone, so
    /// a test run or `wraft cluster` that dies never leaves nodes behind.
    private func watchParent(logger: Logger) {
        let parent = getppid()
        Task.detached {
            while true {
                try? await Task.sleep(for: .milliseconds(Self.parentCheckIntervalMs))
                guard getppid() != parent else { continue }
                logger.warning("the launching process \(parent) is gone: stopping")
                kill(getpid(), SIGTERM)
                try? await Task.sleep(for: .seconds(5))
                _exit(3)
            }
        }
    }
}
