import ArgumentParser
import Foundation
import KVStore
import WRaftAPI
import WRaftClient

/// `wraft lease grant|keepalive|revoke|list|ttl`.
struct LeaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease",
        abstract: "Grant, renew, revoke and inspect leases.",
        discussion: """
            A lease has a TTL in seconds; keys attached to it (`wraft put KEY VALUE --lease ID`) \
            vanish when it lapses or is revoked. Only the leader times leases; a keep-alive \
            renews the TTL there (any node takes it and asks the leader).
            Example:
              ID=$(wraft lease grant 10 -o json | sed -E 's/.*"id":([0-9]+).*/\\1/')
              wraft put service/a 10.0.0.1:80 --lease $ID
              wraft lease keepalive $ID          (until Ctrl-C)
            \(ClientExit.helpText)
            """,
        subcommands: [
            LeaseGrantCommand.self, LeaseKeepAliveCommand.self, LeaseRevokeCommand.self, LeaseListCommand.self,
            LeaseTTLCommand.self,
        ])

    /// The bound on a lease's TTL the node enforces, checked here first so a typo is a usage
    /// error, not a round trip.
    static let ttlSecondsRange: ClosedRange<Int64> = 1...KVRequest.leaseTTLSecondsMax

    /// A lease id from the command line: a positive 64-bit integer.
    static func checkID(_ id: Int64) throws {
        guard id > 0 else { throw ValidationError("a lease id is a positive integer") }
    }
}

/// The output of a single lease answer.
enum LeaseOutput {
    static func print(_ lease: LeaseView, format: OutputFormat, simple: String) {
        switch format {
        case .simple: Swift.print(simple)
        case .table:
            var table = TextTable(["ID", "TTL", "REMAINING MS", "KEYS"])
            table.append([
                String(lease.id), lease.ttl.map(String.init) ?? "-", lease.remainingMs.map(String.init) ?? "-",
                lease.keys.map { $0.joined(separator: ",") } ?? "-",
            ])
            Swift.print(table.rendered)
        case .json:
            printJSON(lease.encodedJSON())
        }
    }
}

struct LeaseGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grant",
        abstract: "Grant a lease of TTL seconds.",
        discussion: """
            Prints the lease's id (-o json: {"id","ttl"}). With --id the lease gets that id \
            (409 lease_exists when it is taken: exit 8); without, the cluster picks one.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The time to live in seconds (1...\(LeaseCommand.ttlSecondsRange.upperBound)).") var ttl: Int64
    @Option(help: "The lease id to use (a positive integer).") var id: Int64?

    func validate() throws {
        guard LeaseCommand.ttlSecondsRange.contains(ttl) else {
            throw ValidationError("TTL must be in \(LeaseCommand.ttlSecondsRange.lowerBound)...\(LeaseCommand.ttlSecondsRange.upperBound) seconds")
        }
        if let id { try LeaseCommand.checkID(id) }
    }

    func run() async throws {
        try await runClientCommand {
            let (ttl, id, timeoutMs) = (ttl, id, endpoints.serverTimeoutMs)
            // A grant is a write: it moves on only when no node can have seen it.
            let (lease, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.grantLease(ttlSeconds: ttl, id: id, timeoutMs: timeoutMs)
            }
            LeaseOutput.print(
                lease, format: endpoints.format(), simple: "lease \(lease.id) granted with TTL \(lease.ttl ?? ttl)s")
        }
    }
}

struct LeaseKeepAliveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keepalive",
        abstract: "Keep a lease alive: renew it every third of its TTL until Ctrl-C.",
        discussion: """
            Each renewal prints one line (-o json: the node's {"id","ttl","remainingMs"}). A \
            renewal that cannot reach a node moves on to the next endpoint, and one that finds \
            no leader (an election after the leader died: 502, 503), no node or no answer is \
            retried every 250 ms for as long as the lease may live (its TTL after the last \
            renewal), so the lease outlives a node or a leader going down. It ends, with the \
            exit code of the failure, when the lease is gone (404 lease_not_found: exit 3), the \
            node refuses, or the TTL passed without a renewal. With --once it renews once and \
            exits.
            \(ClientExit.helpText)
            """)

    /// The shortest pause between two renewals (a TTL of 1 s renews every 333 ms).
    static let renewIntervalMsMin = 100
    /// The pause before retrying a renewal that failed in a way that may pass.
    static let retryIntervalMs = 250

    /// Failures a renewal retries while the lease may still live: no leader or not serving,
    /// nothing reachable, no answer in time.
    static func mayPass(_ exit: ClientExit) -> Bool {
        exit == .unavailable || exit == .unreachable || exit == .timeout
    }

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The lease id.") var id: Int64
    @Flag(help: "Renew once and exit.") var once = false

    func validate() throws {
        try LeaseCommand.checkID(id)
    }

    private static func write(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func run() async throws {
        try await runClientCommand {
            let (id, timeoutMs, format) = (id, endpoints.serverTimeoutMs, endpoints.format())
            var isFirst = true
            // Until when a failure that may pass (no leader yet, a leader that died, nothing
            // reachable) is retried: the lease is surely gone once its TTL has passed since the
            // last renewal. Nil before the first one: a first failure ends the command.
            var retryUntil: ContinuousClock.Instant?
            while true {
                let lease: LeaseView
                do {
                    (lease, _) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                        try await client.keepAliveLease(id: id, timeoutMs: timeoutMs)
                    }
                } catch let failure as ClientFailure where Self.mayPass(failure.exit) {
                    guard let until = retryUntil, ContinuousClock.now < until else { throw failure }
                    printToStandardError("wraft: \(failure.message); retrying")
                    try await Task.sleep(for: .milliseconds(Self.retryIntervalMs))
                    continue
                }
                let ttlSeconds = lease.ttl ?? 1
                retryUntil = .now + .seconds(min(ttlSeconds, 1 << 31))
                // Written straight to the file descriptor (unbuffered): a reader of a pipe or
                // a file sees each renewal as it happens.
                switch format {
                case .simple: Self.write("lease \(lease.id) kept alive with TTL \(ttlSeconds)s")
                case .table:
                    if isFirst { Self.write("ID  TTL  REMAINING MS") }
                    Self.write("\(lease.id)  \(ttlSeconds)  \(lease.remainingMs.map(String.init) ?? "-")")
                case .json: printJSON(lease.encodedJSON())
                }
                isFirst = false
                if once { return }
                let intervalMs = max(Self.renewIntervalMsMin, Int(min(ttlSeconds, 1 << 31) * 1_000 / 3))
                try await Task.sleep(for: .milliseconds(intervalMs))
            }
        }
    }
}

struct LeaseRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a lease, deleting every key attached to it.",
        discussion: """
            The keys are deleted at one revision, which is printed (-o json: {"id","revision"}). \
            An unknown lease exits 3.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The lease id.") var id: Int64

    func validate() throws {
        try LeaseCommand.checkID(id)
    }

    func run() async throws {
        try await runClientCommand {
            let (id, timeoutMs) = (id, endpoints.serverTimeoutMs)
            let (lease, _) = try await endpoints.withFailover(.whenNotSent) { client throws(WRaftClientError) in
                try await client.revokeLease(id: id, timeoutMs: timeoutMs)
            }
            let revision = lease.revision.map { " at revision \($0)" } ?? ""
            LeaseOutput.print(lease, format: endpoints.format(), simple: "lease \(lease.id) revoked\(revision)")
        }
    }
}

struct LeaseListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every lease with its TTL.",
        discussion: """
            One lease per line: id, TTL, and the time left on the leader's clock when the node \
            answering knows it (-o json: the node's {"leases": [...]}).
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions

    func run() async throws {
        try await runClientCommand {
            let timeoutMs = endpoints.serverTimeoutMs
            let (leases, _) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.leases(timeoutMs: timeoutMs)
            }
            switch endpoints.format() {
            case .simple:
                if leases.leases.isEmpty { print("(no leases)") }
                for lease in leases.leases {
                    let remaining = lease.remainingMs.map { " remaining \($0) ms" } ?? ""
                    print("\(lease.id) ttl \(lease.ttl.map(String.init) ?? "-")s\(remaining)")
                }
            case .table:
                var table = TextTable(["ID", "TTL", "REMAINING MS"])
                for lease in leases.leases {
                    table.append([String(lease.id), lease.ttl.map(String.init) ?? "-", lease.remainingMs.map(String.init) ?? "-"])
                }
                print(table.rendered)
            case .json:
                printJSON(leases.encodedJSON())
            }
        }
    }
}

struct LeaseTTLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttl",
        abstract: "A lease's TTL and the time it has left (with --keys, its keys).",
        discussion: """
            The time left is the leader's: only the leader times leases. An unknown lease exits 3.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @Argument(help: "The lease id.") var id: Int64
    @Flag(help: "Also list the keys attached to the lease.") var keys = false

    func validate() throws {
        try LeaseCommand.checkID(id)
    }

    func run() async throws {
        try await runClientCommand {
            let (id, timeoutMs) = (id, endpoints.serverTimeoutMs)
            var (lease, _) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
                try await client.lease(id: id, timeoutMs: timeoutMs)
            }
            if !keys { lease.keys = nil }
            var simple = "lease \(lease.id) TTL \(lease.ttl.map(String.init) ?? "-")s"
            if let remaining = lease.remainingMs { simple += ", \(remaining) ms left" }
            if let attached = lease.keys { simple += ", keys: " + (attached.isEmpty ? "(none)" : attached.joined(separator: ", ")) }
            LeaseOutput.print(lease, format: endpoints.format(), simple: simple)
        }
    }
}
