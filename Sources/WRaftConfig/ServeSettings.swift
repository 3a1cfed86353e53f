import WRaftServer

/// The one table of `wraft serve`'s settings. A new setting is one line here; it is then a flag,
/// a `WRAFT_*` environment variable and a configuration-file key, listed in `--help` and
/// `--print-config`.
///
/// Order matters only within one source: a later entry overrides an earlier one (`http-bind`
/// sets the port after `http-port`).
public enum ServeSettings {
    /// Environment variables are `WRAFT_` and the name in capitals, dashes as underscores.
    public static let environmentPrefix = "wraft"
    /// Event-loop threads accepted (as `EventLoopThreads.range` of the CLI).
    public static let threadsRange = 1...256
    static let portRange = 0...65_535
    static let timeoutMsRange = 1...600_000

    public static var all: [ServeSetting] {
        [
            .string("data-dir", "PATH", \.options.dataDirectory, "The folder of this node's WAL, snapshots and identity (created if missing). Required."),
            .int("http-port", portRange, \.options.httpPort, "The HTTP port (clients, operators, dashboard)."),
            .int("raft-port", portRange, \.options.raftPort, "The Raft port (peer-to-peer traffic only)."),
            .int("etcd-port", portRange, \.options.etcdPort, "The port of etcd's v3 gRPC API (etcdctl and etcd clients), on the HTTP port's interface, with its TLS and tokens (0: off)."),
            .string("host", "HOST", \.options.host, "The interface both ports listen on, and the host advertised when --advertised-host is not set."),
            .address("http-bind", host: \.options.httpBindHost, port: \.options.httpPort, "Where the HTTP port listens, overriding --host and --http-port for it."),
            .address("raft-bind", host: \.options.raftBindHost, port: \.options.raftPort, "Where the raft port listens, overriding --host and --raft-port for it."),
            .optionalString("advertised-host", "HOST", \.options.advertisedHost, "The host peers and clients reach this node at (both ports); required when a port listens on a wildcard such as 0.0.0.0."),
            .flag("enable-faults", \.options.isFaultInjectionEnabled, "Allow fault injection through POST /op/... (otherwise 403 faults_disabled)."),
            .choice("log-level", "LEVEL", \.options.logLevel, "Log level"),
            .choice("log-format", "FORMAT", \.logFormat, "Log line format on standard error: text, or json (one object a line, metadata as fields)"),
            .int("election-timeout-ms", timeoutMsRange, \.options.electionTimeoutMs, "Election timeout in milliseconds (a random jitter is added)."),
            .int("heartbeat-ms", timeoutMsRange, \.options.heartbeatMs, "Leader heartbeat interval in milliseconds."),
            .int("slow-motion", NodeOptions.slowMotionFactorRange, \.options.slowMotionFactor, "Run every timer (tick, heartbeat, election timeout) this many times slower, to watch elections happen (1: normal speed)."),
            .int("snapshot-entries", 1...1_000_000_000, \.options.snapshotEntries, "Take a snapshot every this many applied entries."),
            .int("snapshot-log-bytes", 1...(1 << 40), \.options.snapshotLogBytes, "Take a snapshot once this many bytes of commands were applied since the last."),
            .int("snapshot-retained-entries", 0...10_000_000, \.options.snapshotRetainedEntries, "Log entries kept behind a snapshot for followers that lag a little."),
            .optionalInt("threads", threadsRange, \.threads, "Event-loop threads for HTTP, peers and the node's tasks (default: one per core)."),
            .optionalString("peer-cert-file", "PATH", \.peerCertFile, "This member's certificate for the raft port (PEM); with --peer-key-file and --peer-trusted-ca-file turns on mutual TLS between members."),
            .optionalString("peer-key-file", "PATH", \.peerKeyFile, "The private key of --peer-cert-file (PEM)."),
            .optionalString("peer-trusted-ca-file", "PATH", \.peerTrustedCAFile, "The CA (PEM) every member's certificate must be issued by."),
            .optionalString("cert-file", "PATH", \.certFile, "The HTTP port's certificate (PEM): serve HTTPS."),
            .optionalString("key-file", "PATH", \.keyFile, "The private key of --cert-file (PEM)."),
            .optionalString("trusted-ca-file", "PATH", \.trustedCAFile, "The CA (PEM) client certificates must be issued by (with --client-cert-auth)."),
            .flag("client-cert-auth", \.options.isClientCertificateAuthRequired, "Require a client certificate from --trusted-ca-file on the HTTP port."),
            .optionalString("auth-token-file", "PATH", \.options.authTokenFile, "A file of `TOKEN ROLE` lines (roles: read, write, admin): every request but /health needs `Authorization: Bearer TOKEN`."),
            .list("cors-allowed-origins", \.options.corsAllowedOrigins, "Origins (scheme://host[:port]) whose pages may change state, besides the members' own."),
            .list("host-allowlist", \.options.hostAllowlist, "Host names a request's Host header may name, besides this node's own addresses and localhost."),
            .flag("insecure-plaintext", \.options.isInsecurePlaintextAllowed, "Serve plaintext on non-loopback addresses (anyone who can reach the ports can read and drive the cluster)."),
            .flag("auto-promote-learners", \.options.isAutoPromotingLearners, "The leader promotes a learner (a joining member) to voter by itself once it has caught up (default true); false: only `wraft member promote` (POST /members/promote) does."),
            .int("quota-bytes", NodeOptions.quotaBytesRange, \.options.quotaBytes, "Past this many bytes of keys and values, writes get 507 quota_exceeded (default 2 GiB)."),
            .int("watchers-max", WatchLimits.watchersMaxRange, \.options.watchersMax, "Watches (GET /watch) open at once on this node; one more gets 503 too_many_watchers (default 4096)."),
        ]
    }

    /// The setting called `name`.
    public static func named(_ name: String) -> ServeSetting? {
        all.first { $0.name == name }
    }

    /// The options part of `wraft serve --help`: every setting with its environment variable.
    public static var helpText: String {
        var lines = ["Settings (flag, environment variable; the configuration file's key is the flag without --):"]
        for setting in all {
            let flag = setting.valueName.isEmpty ? setting.flag : "\(setting.flag) \(setting.valueName)"
            lines.append("  \(flag)  [\(setting.environmentVariable)]")
            lines.append("      \(setting.help)")
        }
        return lines.joined(separator: "\n")
    }
}
