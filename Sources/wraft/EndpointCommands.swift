import ArgumentParser
import Foundation
import NIOCore
import WRaftAPI
import WRaftClient

/// `wraft endpoint health|status`: every endpoint asked at once, one row each.
struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint",
        abstract: "Check every given endpoint: health, or status (id, role, term, indexes).",
        discussion: """
            Unlike the other commands, which stop at the first endpoint that answers, these ask \
            every endpoint (or with --cluster every member the first answering endpoint knows) \
            and print one row per endpoint, failures included.
            \(ClientExit.helpText)
            """,
        subcommands: [EndpointHealthCommand.self, EndpointStatusCommand.self])
}

/// `--cluster`: the endpoints are the members' HTTP addresses.
struct ClusterEndpointsOption: ParsableArguments {
    @Flag(help: "Ask every member the first answering endpoint knows (their HTTP addresses), not only the given endpoints.")
    var cluster = false

    /// The endpoints to ask: the given ones, or the members' HTTP addresses (with the scheme of
    /// the endpoint that listed them).
    func addresses(_ endpoints: EndpointOptions) async throws -> [NodeAddress] {
        guard cluster else { return try endpoints.endpoints() }
        let timeoutMs = endpoints.timeoutMs
        let (state, listedBy) = try await endpoints.withFailover(.whenUnanswered) { client throws(WRaftClientError) in
            try await client.state(timeoutMs: timeoutMs)
        }
        var addresses: [NodeAddress] = []
        for member in state.members.prefix(EndpointOptions.endpointsMax) {
            guard var address = try? NodeAddress(parsing: member.httpAddress) else {
                printToStandardError("wraft: member \(member.id) has no usable HTTP address ('\(member.httpAddress)'); skipped")
                continue
            }
            address.isSecure = listedBy.isSecure
            if !addresses.contains(address) { addresses.append(address) }
        }
        guard !addresses.isEmpty else { throw ClientFailure(.failed, "\(listedBy.url) lists no member with an HTTP address") }
        return addresses
    }
}

struct EndpointHealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask every endpoint whether it serves (GET /health).",
        discussion: """
            Healthy: the node answers 200 and serves. Exits 0 when every endpoint is healthy, \
            else with the code of the first one that is not (6 for a node that answers it does \
            not serve, 5 for one that cannot be reached).
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @OptionGroup var clusterOption: ClusterEndpointsOption

    func run() async throws {
        try await runClientCommand {
            let addresses = try await clusterOption.addresses(endpoints)
            let timeoutMs = endpoints.timeoutMs
            let outcomes = try await endpoints.eachEndpoint(addresses) { client throws(WRaftClientError) in
                try await client.healthReport(timeoutMs: timeoutMs)
            }
            Self.print(outcomes, format: endpoints.format(default: .table))
            let failures = outcomes.filter { $0.value?.isHealthy != true }
            if let first = failures.first {
                let exit = first.error.map { ClientExit($0) } ?? .unavailable
                throw ClientFailure(exit, "\(failures.count) of \(outcomes.count) endpoints unhealthy")
            }
        }
    }

    static func print(_ outcomes: [EndpointOutcome<HealthReport>], format: OutputFormat) {
        switch format {
        case .simple:
            for outcome in outcomes {
                let took = String(format: "%.3f", outcome.tookMs)
                if let report = outcome.value, report.isHealthy {
                    Swift.print("\(outcome.endpoint.url) is healthy: \(report.health.role ?? report.health.status), took \(took) ms")
                } else {
                    Swift.print("\(outcome.endpoint.url) is unhealthy: \(errorText(outcome)), took \(took) ms")
                }
            }
        case .table:
            var table = TextTable(["ENDPOINT", "HEALTH", "STATUS", "ROLE", "TOOK MS", "ERROR"])
            for outcome in outcomes {
                let report = outcome.value
                table.append([
                    outcome.endpoint.url, String(report?.isHealthy ?? false), report?.health.status ?? "-",
                    report?.health.role ?? "-", String(format: "%.3f", outcome.tookMs),
                    report?.isHealthy == true ? "" : errorText(outcome),
                ])
            }
            Swift.print(table.rendered)
        case .json:
            var writer = JSONWriter()
            writer.beginArray()
            for outcome in outcomes {
                let report = outcome.value
                writer.beginObject()
                writer.field(CLIField.endpoint, outcome.endpoint.url)
                writer.field(CLIField.health, report?.isHealthy ?? false)
                writer.field(CLIField.status, report?.health.status)
                writer.field(CLIField.role, report?.health.role)
                writer.field(CLIField.tookMs, milliseconds: outcome.tookMs)
                writer.field(CLIField.error, report?.isHealthy == true ? nil : errorText(outcome))
                writer.endObject()
            }
            writer.endArray()
            printJSON(writer.buffer)
        }
    }

    private static func errorText(_ outcome: EndpointOutcome<HealthReport>) -> String {
        if let error = outcome.error { return "\(error)" }
        guard let report = outcome.value else { return "" }
        return report.reason ?? "HTTP \(report.httpStatus), serving \(report.health.serving)"
    }
}

struct EndpointStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Ask every endpoint for its status (GET /state): id, role, leader, term, indexes.",
        discussion: """
            -o json: an array with, per endpoint, "endpoint", "tookMs", "error" and "state" (the \
            node's GET /state JSON, null when it did not answer). Exits 0 when every endpoint \
            answered, else with the code of the first that did not.
            \(ClientExit.helpText)
            """)

    @OptionGroup var endpoints: EndpointOptions
    @OptionGroup var clusterOption: ClusterEndpointsOption

    func run() async throws {
        try await runClientCommand {
            let addresses = try await clusterOption.addresses(endpoints)
            let timeoutMs = endpoints.timeoutMs
            let outcomes = try await endpoints.eachEndpoint(addresses) { client throws(WRaftClientError) in
                try await client.state(timeoutMs: timeoutMs)
            }
            Self.print(outcomes, format: endpoints.format(default: .table))
            let failures = outcomes.compactMap(\.error)
            if let first = failures.first {
                throw ClientFailure(ClientExit(first), "\(failures.count) of \(outcomes.count) endpoints did not answer")
            }
        }
    }

    static func print(_ outcomes: [EndpointOutcome<NodeStateView>], format: OutputFormat) {
        switch format {
        case .simple:
            for outcome in outcomes {
                let took = String(format: "%.3f", outcome.tookMs)
                guard let state = outcome.value else {
                    Swift.print("\(outcome.endpoint.url), error: \(outcome.error.map { "\($0)" } ?? ""), took \(took) ms")
                    continue
                }
                Swift.print(
                    [
                        outcome.endpoint.url, state.id, state.role ?? state.status, "leader=\(state.isLeader)",
                        "term=\(state.term)", "commit=\(state.commitIndex)", "applied=\(state.appliedIndex)",
                        "raft=\(state.raftAddress)", "took \(took) ms",
                    ].joined(separator: ", "))
            }
        case .table:
            var table = TextTable([
                "ENDPOINT", "ID", "STATUS", "ROLE", "IS LEADER", "TERM", "COMMIT", "APPLIED", "LEADER", "RAFT ADDRESS",
                "FAULTS", "TOOK MS", "ERROR",
            ])
            for outcome in outcomes {
                let took = String(format: "%.3f", outcome.tookMs)
                guard let state = outcome.value else {
                    table.append(
                        [outcome.endpoint.url] + Array(repeating: "-", count: 10) + [took, outcome.error.map { "\($0)" } ?? ""])
                    continue
                }
                table.append([
                    outcome.endpoint.url, state.id, state.status, state.role ?? "-", String(state.isLeader), String(state.term),
                    String(state.commitIndex), String(state.appliedIndex), state.leader?.id ?? "-", state.raftAddress,
                    state.faults.isEmpty ? "-" : state.faults.joined(separator: ","), took, "",
                ])
            }
            Swift.print(table.rendered)
        case .json:
            var writer = JSONWriter()
            writer.beginArray()
            for outcome in outcomes {
                writer.beginObject()
                writer.field(CLIField.endpoint, outcome.endpoint.url)
                writer.field(CLIField.tookMs, milliseconds: outcome.tookMs)
                writer.field(CLIField.error, outcome.error.map { "\($0)" })
                writer.key(CLIField.state)
                if let state = outcome.value { writer.element(raw: state.encodedJSON()) } else { writer.null() }
                writer.endObject()
            }
            writer.endArray()
            printJSON(writer.buffer)
        }
    }
}
