import ArgumentParser
import Foundation
import Logging
import WRaftConfig
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
            Every setting below is a flag, a WRAFT_* environment variable and a key of the JSON \
            file given with --config (or WRAFT_CONFIG): flags override the environment, which \
            overrides the file, which overrides the defaults. A bad or unknown setting stops the \
            node with exit code \(configurationErrorExitCode), naming the setting and where it came from.
            Plaintext is served only on loopback addresses (127.0.0.1, ::1, localhost). On any other \
            address each port needs TLS (make certificates with `wraft certs`), or the node refuses \
            to start; --insecure-plaintext overrides that, with a warning at every start. A port \
            that listens on a wildcard (--host 0.0.0.0, --http-bind 0.0.0.0:8081) needs \
            --advertised-host: the address the other machines reach this one at.
            Examples:
              wraft serve --http-port 8081 --raft-port 10002 --data-dir /tmp/wraft/node1
              wraft serve --config /etc/wraft/wraft.json
              wraft serve --host 0.0.0.0 --advertised-host 10.0.0.1 --data-dir /var/lib/wraft \\
                  --peer-cert-file certs/node1.pem --peer-key-file certs/node1-key.pem --peer-trusted-ca-file certs/ca.pem \\
                  --cert-file certs/node1.pem --key-file certs/node1-key.pem

            \(ServeSettings.helpText)
            """)

    /// The exit code of a configuration `serve` refuses (sysexits' EX_CONFIG): a bad or unknown
    /// setting, or one the start-up policy refuses (a wildcard advertised address, plaintext on
    /// the network).
    static let configurationErrorExitCode: Int32 = 78
    /// The environment variable naming the configuration file when --config is not given.
    static let configEnvironmentVariable = "WRAFT_CONFIG"

    @Option(help: "A JSON file of settings, keyed by the flag names without -- (default: $WRAFT_CONFIG).")
    var config: String?
    @Flag(help: "Print the effective settings as JSON (itself a valid --config file), and on standard error where each came from, then exit.")
    var printConfig = false
    @Flag(help: .hidden) var exitWithParent = false
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The settings listed below (--NAME VALUE).", valueName: "settings"))
    var settings: [String] = []

    /// How often `--exit-with-parent` looks for its parent.
    static let parentCheckIntervalMs = 500

    /// The effective settings of this invocation.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ServeConfigurationError)
        -> ServeConfiguration
    {
        try ServeConfiguration.resolve(
            arguments: settings, environment: environment, configFile: config ?? environment[Self.configEnvironmentVariable])
    }

    /// The event-loop threads a `serve` command line asks for (flag, environment or file), read
    /// before the arguments are parsed; nil when none or when the settings are bad (the command
    /// then reports them).
    static func requestedThreads(arguments: [String]) -> Int? {
        guard arguments.first == "serve", let command = try? parseAsRoot(Array(arguments.dropFirst())) as? ServeCommand
        else { return nil }
        return try? command.resolve().threads
    }

    func run() async throws {
        let configuration: ServeConfiguration
        do {
            configuration = try resolve()
        } catch {
            Self.refuse("invalid configuration: \(error)")
        }
        if printConfig {
            print(configuration.printed)
            for setting in ServeSettings.all {
                let source = configuration.sources[setting.name].map { "\($0)" } ?? "default"
                FileHandle.standardError.write(Data("\(setting.name): \(source)\n".utf8))
            }
            return
        }
        let options = configuration.options
        let level = options.logLevel
        configuration.logFormat.bootstrap(level: level)
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

    /// Writes `Error: message` and exits with `configurationErrorExitCode`.
    static func refuse(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Foundation.exit(configurationErrorExitCode)
    }

    /// Refuses plaintext on a network address and a wildcard advertised address (SECURITY.md),
    /// warns at every start under `--insecure-plaintext`, and raises the open-file limit.
    private func applyStartupPolicy(_ options: NodeOptions, logger: Logger) async throws {
        do {
            for warning in try StartupPolicy.check(options).warnings { logger.warning("\(warning)") }
        } catch {
            logger.critical("node not started: \(error)")
            Self.refuse("node not started: \(error)")
        }
        do {
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
