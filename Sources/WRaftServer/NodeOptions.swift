import Logging

/// Everything one node process is configured with. Every bound is named here and checked once,
/// by `validate()`, before anything starts.
public struct NodeOptions: Sendable, Equatable {
    /// The interface both listeners bind to unless `httpBindHost` or `raftBindHost` says
    /// otherwise, and the host part of the addresses this node advertises to its peers.
    public var host: String
    /// The interface the HTTP listener binds to (`--http-bind HOST:PORT`); nil: `host`.
    public var httpBindHost: String?
    /// The interface the raft listener binds to (`--raft-bind HOST:PORT`); nil: `host`.
    public var raftBindHost: String?
    /// The host this node announces to its peers and clients for both ports
    /// (`--advertised-host`); nil: each port's bind host (set it when that is a wildcard such
    /// as `0.0.0.0`).
    public var advertisedHost: String?
    /// The HTTP port (clients, operators, dashboard).
    public var httpPort: Int
    /// The raft port (peer-to-peer Raft traffic and the cluster-formation control RPC).
    public var raftPort: Int
    /// The port of etcd's v3 gRPC API (`--etcd-port`), on the HTTP port's interface and with
    /// its TLS and tokens; 0: off.
    public var etcdPort: Int = 0
    /// The folder holding the WAL, the snapshots and the node's identity.
    public var dataDirectory: String
    /// Whether `/op/...` fault injection is allowed (otherwise `403 faults_disabled`).
    public var isFaultInjectionEnabled: Bool
    /// The period of the Raft clock: the core advances one tick per `tickMs`.
    public var tickMs: Int
    /// A leader sends heartbeats this often.
    public var heartbeatMs: Int
    /// A follower that hears nothing from a leader for `electionTimeoutMs` plus a random part of
    /// `electionTimeoutJitterMs` starts an election.
    public var electionTimeoutMs: Int
    public var electionTimeoutJitterMs: Int
    /// A snapshot is taken (and the log compacted) every this many applied entries (etcd's
    /// `--snapshot-count` default), or sooner, once `snapshotLogBytes` were applied.
    public var snapshotEntries: Int
    /// A snapshot is taken once this many bytes of commands were applied since the last one: the
    /// in-memory log stays bounded whatever the value sizes.
    public var snapshotLogBytes: Int
    /// Log entries kept behind a snapshot, so a follower that lags a little catches up from the
    /// log rather than needing the whole snapshot.
    public var snapshotRetainedEntries: Int
    /// The deadline of a client request that names none.
    public var requestTimeoutMs: Int
    /// The most client writes waiting for their outcome at once; past it `503 overloaded`.
    public var pendingWritesMax: Int
    /// The most bytes of client writes waiting for their outcome at once (each is held for a
    /// possible re-proposal); past it `503 overloaded`.
    public var pendingWriteBytesMax: Int
    /// The most linearizable reads waiting at once; past it `503 overloaded`.
    public var pendingReadsMax: Int
    /// A learner is promoted to voter once its match index is within this many entries of the
    /// leader's last index.
    public var promotionLagEntriesMax: Int
    /// Whether the leader promotes a caught-up learner to voter by itself
    /// (`--auto-promote-learners`, default on); off, an operator promotes it with
    /// `POST /members/promote` (`wraft member promote`), as etcd's `member promote`.
    public var isAutoPromotingLearners: Bool = true
    /// The bound of one control RPC (cluster formation, forwarding to the leader).
    public var controlTimeoutMs: Int
    /// The level of the node's log lines (`trace` ... `critical`).
    public var logLevel: Logger.Level

    // MARK: The trust boundary (see SECURITY.md)

    /// Mutual TLS on the raft port (`--peer-cert-file`, `--peer-key-file`,
    /// `--peer-trusted-ca-file`); nil: plaintext, allowed only on loopback addresses or with
    /// `isInsecurePlaintextAllowed`. Peers must present a certificate from `trustedCAFile`.
    public var peerTLS: TLSFiles?
    /// HTTPS on the HTTP port (`--cert-file`, `--key-file`, and `--trusted-ca-file` for client
    /// certificates); nil: plain HTTP.
    public var httpTLS: TLSFiles?
    /// Whether HTTP clients must present a certificate from `httpTLS.trustedCAFile`
    /// (`--client-cert-auth`).
    public var isClientCertificateAuthRequired: Bool
    /// A file of `TOKEN ROLE` lines (`--auth-token-file`); nil: no bearer tokens are required.
    public var authTokenFile: String?
    /// Origins, besides the members' own HTTP addresses, whose pages may send state-changing
    /// requests (`--cors-allowed-origins`), as `scheme://host[:port]`.
    public var corsAllowedOrigins: [String]
    /// Host names, besides the node's own addresses, `localhost`, `127.0.0.1` and `[::1]`, that a
    /// request's `Host` header may name (`--host-allowlist`).
    public var hostAllowlist: [String]
    /// Whether the ports may serve plaintext on non-loopback addresses (`--insecure-plaintext`).
    public var isInsecurePlaintextAllowed: Bool
    /// Past this many bytes of keys and values in the store, writes get `507 quota_exceeded`
    /// (`--quota-bytes`, etcd's default of 2 GiB); deletes still work.
    public var quotaBytes: Int
    /// Watches (`GET /watch`) open at once on this node; one more gets `503 too_many_watchers`
    /// (`--watchers-max`).
    public var watchersMax = WatchLimits.watchersMaxDefault
    /// The most bytes of proposed but uncommitted entries the leader holds before it refuses
    /// proposals as overloaded (the core's `Config.uncommittedBytesMax`). Not a command-line
    /// option: the runtime tests lower it to reach the overloaded paths with small writes.
    var uncommittedBytesMax = 64 << 20

    public init(
        host: String = "127.0.0.1", httpPort: Int = 8081, raftPort: Int = 10002, dataDirectory: String,
        isFaultInjectionEnabled: Bool = false, tickMs: Int = 10, heartbeatMs: Int = 100,
        electionTimeoutMs: Int = 300, electionTimeoutJitterMs: Int = 150, snapshotEntries: Int = 100_000,
        snapshotLogBytes: Int = 64 << 20, snapshotRetainedEntries: Int = 1_000, requestTimeoutMs: Int = 5_000, pendingWritesMax: Int = 8_192,
        pendingWriteBytesMax: Int = 256 << 20, pendingReadsMax: Int = 8_192, promotionLagEntriesMax: Int = 100, controlTimeoutMs: Int = 3_000,
        logLevel: Logger.Level = .info
    ) {
        self.host = host
        self.advertisedHost = nil
        self.httpBindHost = nil
        self.raftBindHost = nil
        self.httpPort = httpPort
        self.raftPort = raftPort
        self.dataDirectory = dataDirectory
        self.isFaultInjectionEnabled = isFaultInjectionEnabled
        self.tickMs = tickMs
        self.heartbeatMs = heartbeatMs
        self.electionTimeoutMs = electionTimeoutMs
        self.electionTimeoutJitterMs = electionTimeoutJitterMs
        self.snapshotEntries = snapshotEntries
        self.snapshotLogBytes = snapshotLogBytes
        self.snapshotRetainedEntries = snapshotRetainedEntries
        self.requestTimeoutMs = requestTimeoutMs
        self.pendingWritesMax = pendingWritesMax
        self.pendingWriteBytesMax = pendingWriteBytesMax
        self.pendingReadsMax = pendingReadsMax
        self.promotionLagEntriesMax = promotionLagEntriesMax
        self.controlTimeoutMs = controlTimeoutMs
        self.logLevel = logLevel
        self.peerTLS = nil
        self.httpTLS = nil
        self.isClientCertificateAuthRequired = false
        self.authTokenFile = nil
        self.corsAllowedOrigins = []
        self.hostAllowlist = []
        self.isInsecurePlaintextAllowed = false
        self.quotaBytes = Self.quotaBytesDefault
    }

    /// etcd's default backend quota.
    public static let quotaBytesDefault = 2 << 30

    /// `--slow-motion N`: every timer of the node runs N times slower (the tick, heartbeats,
    /// election timeouts and their jitter), so each phase of an election can be watched. 1: off.
    public var slowMotionFactor = 1
    public static let slowMotionFactorRange = 1...100

    /// These options with `slowMotionFactor` applied to the timers (and reset to 1). The ticks
    /// per heartbeat and per election timeout stay the same: only the tick is longer.
    public func applyingSlowMotion() -> NodeOptions {
        guard slowMotionFactor > 1 else { return self }
        var slowed = self
        slowed.tickMs *= slowMotionFactor
        slowed.heartbeatMs *= slowMotionFactor
        slowed.electionTimeoutMs *= slowMotionFactor
        slowed.electionTimeoutJitterMs *= slowMotionFactor
        slowed.slowMotionFactor = 1
        return slowed
    }
    /// The bounds `--quota-bytes` accepts: room for one largest write, and at most 64 GiB.
    public static let quotaBytesRange = (2 << 20)...(64 << 30)

    /// Checks every bound; a node refuses to start on options that fail.
    public func validate() throws(NodeOptionsError) {
        guard !host.isEmpty else { throw .invalid("host must not be empty") }
        guard advertisedHost?.isEmpty != true else { throw .invalid("the advertised host must not be empty") }
        guard httpBindHost?.isEmpty != true, raftBindHost?.isEmpty != true else {
            throw .invalid("a bind host must not be empty")
        }
        guard (0...65_535).contains(httpPort) else { throw .invalid("http port \(httpPort) is not in 0...65535") }
        guard (0...65_535).contains(raftPort) else { throw .invalid("raft port \(raftPort) is not in 0...65535") }
        guard httpPort == 0 || httpPort != raftPort else {
            throw .invalid("the http port and the raft port must differ (both \(httpPort))")
        }
        guard (0...65_535).contains(etcdPort) else { throw .invalid("etcd port \(etcdPort) is not in 0...65535") }
        guard etcdPort == 0 || (etcdPort != httpPort && etcdPort != raftPort) else {
            throw .invalid("the etcd port must differ from the http and raft ports (\(etcdPort))")
        }
        guard !dataDirectory.isEmpty else { throw .invalid("data dir must not be empty") }
        guard Self.slowMotionFactorRange.contains(slowMotionFactor) else {
            throw .invalid("slowMotionFactor \(slowMotionFactor) is not in \(Self.slowMotionFactorRange)")
        }
        guard (1...1_000).contains(tickMs) else { throw .invalid("tickMs \(tickMs) is not in 1...1000") }
        guard heartbeatMs >= tickMs else { throw .invalid("heartbeatMs (\(heartbeatMs)) must be >= tickMs (\(tickMs))") }
        guard electionTimeoutMs > heartbeatMs else {
            throw .invalid("electionTimeoutMs (\(electionTimeoutMs)) must exceed heartbeatMs (\(heartbeatMs))")
        }
        guard electionTimeoutJitterMs >= tickMs else {
            throw .invalid("electionTimeoutJitterMs (\(electionTimeoutJitterMs)) must be >= tickMs (\(tickMs))")
        }
        guard snapshotEntries >= 1 else { throw .invalid("snapshotEntries must be >= 1") }
        guard snapshotLogBytes >= 1 else { throw .invalid("snapshotLogBytes must be >= 1") }
        guard snapshotRetainedEntries >= 0 else { throw .invalid("snapshotRetainedEntries must be >= 0") }
        guard requestTimeoutMs >= 1 else { throw .invalid("requestTimeoutMs must be >= 1") }
        guard pendingWritesMax >= 1 else { throw .invalid("pendingWritesMax must be >= 1") }
        guard pendingWriteBytesMax >= 2 << 20 else {
            throw .invalid("pendingWriteBytesMax must be >= 2 MiB (one largest write must fit)")
        }
        guard pendingReadsMax >= 1 else { throw .invalid("pendingReadsMax must be >= 1") }
        guard promotionLagEntriesMax >= 0 else { throw .invalid("promotionLagEntriesMax must be >= 0") }
        guard controlTimeoutMs >= 1 else { throw .invalid("controlTimeoutMs must be >= 1") }
        guard uncommittedBytesMax >= 1 << 20 else {
            throw .invalid("uncommittedBytesMax must be >= 1 MiB (one largest append must fit)")
        }
        guard Self.quotaBytesRange.contains(quotaBytes) else {
            throw .invalid("quotaBytes \(quotaBytes) is not in \(Self.quotaBytesRange)")
        }
        guard WatchLimits.watchersMaxRange.contains(watchersMax) else {
            throw .invalid("watchersMax \(watchersMax) is not in \(WatchLimits.watchersMaxRange)")
        }
        if let peerTLS {
            try peerTLS.validate(what: "peer TLS")
            guard peerTLS.trustedCAFile != nil else {
                throw .invalid("peer TLS needs --peer-trusted-ca-file: members must prove who they are")
            }
        }
        if let httpTLS { try httpTLS.validate(what: "HTTP TLS") }
        if isClientCertificateAuthRequired {
            guard httpTLS?.trustedCAFile != nil else {
                throw .invalid("--client-cert-auth needs --cert-file, --key-file and --trusted-ca-file")
            }
        }
        guard authTokenFile?.isEmpty != true else { throw .invalid("the auth token file must not be empty") }
        guard corsAllowedOrigins.count <= Self.allowListCountMax, hostAllowlist.count <= Self.allowListCountMax else {
            throw .invalid("at most \(Self.allowListCountMax) allowed origins and hosts")
        }
    }

    /// The most entries `corsAllowedOrigins` and `hostAllowlist` may hold each.
    public static let allowListCountMax = 64

    /// The interface the HTTP listener binds to.
    public var httpListenHost: String { httpBindHost ?? host }
    /// The interface the raft listener binds to.
    public var raftListenHost: String { raftBindHost ?? host }
    /// The host part of the HTTP address this node announces.
    public var announcedHTTPHost: String { advertisedHost ?? httpListenHost }
    /// The host part of the raft address this node announces.
    public var announcedRaftHost: String { advertisedHost ?? raftListenHost }
    /// The address peers reach this node's raft port at.
    public var raftAddress: String { "\(Self.bracketed(announcedRaftHost)):\(raftPort)" }
    /// The address clients reach this node's HTTP port at.
    public var httpAddress: String { "\(Self.bracketed(announcedHTTPHost)):\(httpPort)" }
    /// The address etcd clients reach this node's etcd port at.
    public var etcdAddress: String { "\(Self.bracketed(announcedHTTPHost)):\(etcdPort)" }

    /// An IPv6 host goes in brackets, or the port after it would be ambiguous.
    static func bracketed(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    }

    /// Ticks are whole: the timeouts above rounded up to a number of ticks.
    var heartbeatTicks: Int { Self.ticks(heartbeatMs, tickMs: tickMs) }
    var electionTimeoutTicks: Int { Self.ticks(electionTimeoutMs, tickMs: tickMs) }
    var electionTimeoutJitterTicks: Int { Self.ticks(electionTimeoutJitterMs, tickMs: tickMs) }

    private static func ticks(_ milliseconds: Int, tickMs: Int) -> Int {
        (milliseconds + tickMs - 1) / tickMs
    }
}

/// The PEM files of one TLS endpoint.
public struct TLSFiles: Sendable, Equatable {
    /// This node's certificate chain (PEM).
    public var certificateFile: String
    /// The private key of `certificateFile` (PEM).
    public var privateKeyFile: String
    /// The CA bundle (PEM) the other side's certificate must chain to; nil: the other side is
    /// not asked for a certificate.
    public var trustedCAFile: String?

    public init(certificateFile: String, privateKeyFile: String, trustedCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.trustedCAFile = trustedCAFile
    }

    func validate(what: String) throws(NodeOptionsError) {
        guard !certificateFile.isEmpty, !privateKeyFile.isEmpty, trustedCAFile?.isEmpty != true else {
            throw .invalid("\(what): file names must not be empty")
        }
    }
}

/// Options that `NodeOptions.validate()` refused.
public enum NodeOptionsError: Error, Equatable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self {
        case .invalid(let why): return "invalid node options: \(why)"
        }
    }
}
