import Foundation
import Logging
import Testing
import WRaftConfig
import WRaftServer

/// `wraft serve`'s settings as a pure function of the flags, the environment and the file.
@Suite struct ServeConfigurationTests {
    /// A fresh folder for configuration files, removed by the caller.
    static func makeDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wraft-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func writeFile(_ text: String, in directory: String, name: String = "wraft.json") throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One value for many settings of every kind, as flags, as variables and as a file.
    static let flags = [
        "--data-dir", "/var/lib/wraft", "--http-port", "18081", "--raft-port", "20002", "--host", "0.0.0.0",
        "--advertised-host", "node1.example.com", "--enable-faults", "--log-level", "debug", "--election-timeout-ms", "900",
        "--heartbeat-ms", "150", "--snapshot-entries", "5000", "--threads", "3", "--peer-cert-file", "/c/n.pem",
        "--peer-key-file", "/c/n-key.pem", "--peer-trusted-ca-file", "/c/ca.pem", "--cors-allowed-origins",
        "https://a.example,https://b.example", "--quota-bytes", "4194304", "--raft-bind", "10.0.0.1:20003",
        "--etcd-port", "12379",
    ]
    static let environment = [
        "WRAFT_DATA_DIR": "/var/lib/wraft", "WRAFT_HTTP_PORT": "18081", "WRAFT_RAFT_PORT": "20002", "WRAFT_HOST": "0.0.0.0",
        "WRAFT_ADVERTISED_HOST": "node1.example.com", "WRAFT_ENABLE_FAULTS": "true", "WRAFT_LOG_LEVEL": "debug",
        "WRAFT_ELECTION_TIMEOUT_MS": "900", "WRAFT_HEARTBEAT_MS": "150", "WRAFT_SNAPSHOT_ENTRIES": "5000", "WRAFT_THREADS": "3",
        "WRAFT_PEER_CERT_FILE": "/c/n.pem", "WRAFT_PEER_KEY_FILE": "/c/n-key.pem", "WRAFT_PEER_TRUSTED_CA_FILE": "/c/ca.pem",
        "WRAFT_CORS_ALLOWED_ORIGINS": "https://a.example,https://b.example", "WRAFT_QUOTA_BYTES": "4194304",
        "WRAFT_RAFT_BIND": "10.0.0.1:20003", "WRAFT_ETCD_PORT": "12379", "PATH": "/usr/bin", "WRAFT_TOKEN": "not a serve setting",
    ]
    static let file = """
        {
          "data-dir": "/var/lib/wraft", "http-port": 18081, "raft-port": 20002, "host": "0.0.0.0",
          "advertised-host": "node1.example.com", "enable-faults": true, "log-level": "debug",
          "election-timeout-ms": 900, "heartbeat-ms": 150, "snapshot-entries": 5000, "threads": 3,
          "peer-cert-file": "/c/n.pem", "peer-key-file": "/c/n-key.pem", "peer-trusted-ca-file": "/c/ca.pem",
          "cors-allowed-origins": ["https://a.example", "https://b.example"], "quota-bytes": 4194304,
          "raft-bind": "10.0.0.1:20003", "etcd-port": 12379
        }
        """

    /// A switch whose default is on (issue 11): each source can turn it off, a flag as
    /// `--NAME=false`, and a higher source turns it back on.
    @Test func autoPromotionIsOnByDefaultAndEachSourceTurnsItOff() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = ["--data-dir", "/d"]
        #expect(try ServeConfiguration.resolve(arguments: base, environment: [:], configFile: nil).options.isAutoPromotingLearners)
        let byFlag = try ServeConfiguration.resolve(arguments: base + ["--auto-promote-learners=false"], environment: [:], configFile: nil)
        let byEnvironment = try ServeConfiguration.resolve(
            arguments: base, environment: ["WRAFT_AUTO_PROMOTE_LEARNERS": "false"], configFile: nil)
        let file = try Self.writeFile(#"{"auto-promote-learners": false}"#, in: directory)
        let byFile = try ServeConfiguration.resolve(arguments: base, environment: [:], configFile: file)
        #expect(!byFlag.options.isAutoPromotingLearners)
        #expect(!byEnvironment.options.isAutoPromotingLearners)
        #expect(!byFile.options.isAutoPromotingLearners)
        let flagOverFile = try ServeConfiguration.resolve(arguments: base + ["--auto-promote-learners"], environment: [:], configFile: file)
        #expect(flagOverFile.options.isAutoPromotingLearners)
        #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: base + ["--auto-promote-learners=maybe"], environment: [:], configFile: nil)
        }
    }

    @Test func flagsEnvironmentAndFileGiveTheSameNode() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let byFlags = try ServeConfiguration.resolve(arguments: Self.flags, environment: [:], configFile: nil)
        let byEnvironment = try ServeConfiguration.resolve(arguments: [], environment: Self.environment, configFile: nil)
        let byFile = try ServeConfiguration.resolve(
            arguments: [], environment: [:], configFile: try Self.writeFile(Self.file, in: directory))
        #expect(byFlags.options == byEnvironment.options)
        #expect(byFlags.options == byFile.options)
        #expect(byFlags.threads == 3 && byEnvironment.threads == 3 && byFile.threads == 3)
        #expect(byFlags.printed == byEnvironment.printed)
        #expect(byFlags.printed == byFile.printed)

        // And they are not the defaults: every value above reached the options.
        let options = byFile.options
        #expect(options.dataDirectory == "/var/lib/wraft")
        #expect(options.httpPort == 18081 && options.raftPort == 20003)
        #expect(options.httpListenHost == "0.0.0.0" && options.raftListenHost == "10.0.0.1")
        #expect(options.httpAddress == "node1.example.com:18081" && options.raftAddress == "node1.example.com:20003")
        #expect(options.isFaultInjectionEnabled && options.logLevel == .debug)
        #expect(options.electionTimeoutMs == 900 && options.heartbeatMs == 150 && options.snapshotEntries == 5000)
        #expect(options.peerTLS == TLSFiles(certificateFile: "/c/n.pem", privateKeyFile: "/c/n-key.pem", trustedCAFile: "/c/ca.pem"))
        #expect(options.corsAllowedOrigins == ["https://a.example", "https://b.example"])
        #expect(options.quotaBytes == 4_194_304)
        #expect(options.etcdPort == 12379 && options.etcdAddress == "node1.example.com:12379")
        #expect(byFile.sources["http-port"] == .file(path: directory + "/wraft.json", key: "http-port"))
        #expect(byEnvironment.sources["http-port"] == .environment("WRAFT_HTTP_PORT"))
        #expect(byFlags.sources["http-port"] == .flag("--http-port"))
    }

    /// What `--print-config` writes is itself a configuration file giving the same node.
    @Test func printedConfigurationReadsBackTheSame() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let byFlags = try ServeConfiguration.resolve(arguments: Self.flags, environment: [:], configFile: nil)
        let again = try ServeConfiguration.resolve(
            arguments: [], environment: [:], configFile: try Self.writeFile(byFlags.printed, in: directory))
        #expect(again.options == byFlags.options)
        #expect(again.printed == byFlags.printed)
    }

    /// Every setting in the table is read from its `WRAFT_*` variable, and from its file key.
    @Test func everySettingHasAVariableAndAFileKey() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let printed = try ServeConfiguration.resolve(arguments: Self.flags, environment: [:], configFile: nil).printed
        let values = try #require(try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any])
        var checked = 0
        for setting in ServeSettings.all {
            guard let value = values[setting.name] else { continue }
            let text: String
            switch value {
            case let list as [String]: text = list.joined(separator: ",")
            case let number as NSNumber where setting.valueName.isEmpty: text = number.boolValue ? "true" : "false"
            default: text = "\(value)"
            }
            // The peer TLS files come as a set of three.
            let base = ["data-dir": "/d", "peer-cert-file": "/c/n.pem", "peer-key-file": "/c/n-key.pem", "peer-trusted-ca-file": "/c/ca.pem"]
            var environment = Dictionary(uniqueKeysWithValues: base.map { ("WRAFT_" + $0.key.uppercased().replacingOccurrences(of: "-", with: "_"), $0.value) })
            environment[setting.environmentVariable] = text
            let resolved = try ServeConfiguration.resolve(arguments: [], environment: environment, configFile: nil)
            #expect(resolved.sources[setting.name] == .environment(setting.environmentVariable), "\(setting.name)")
            var object: [String: Any] = base
            object[setting.name] = value
            let file = try Self.writeFile(
                String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self), in: directory, name: "\(setting.name).json")
            let fromFile = try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: file)
            #expect(fromFile.sources[setting.name] == .file(path: file, key: setting.name), "\(setting.name)")
            #expect(fromFile.printed == resolved.printed, "\(setting.name): the same value either way")
            #expect(setting.environmentVariable == "WRAFT_" + setting.name.uppercased().replacingOccurrences(of: "-", with: "_"))
            checked += 1
        }
        #expect(checked >= 20, "most settings print a value")
        #expect(ServeSettings.all.count == Set(ServeSettings.all.map(\.name)).count, "names are unique")
    }

    @Test func flagsOverrideTheEnvironmentWhichOverridesTheFile() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.writeFile(#"{"data-dir": "/from-file", "http-port": 1001, "raft-port": 2001, "heartbeat-ms": 50}"#, in: directory)
        let environment = ["WRAFT_HTTP_PORT": "1002", "WRAFT_RAFT_PORT": "2002"]
        let all = try ServeConfiguration.resolve(arguments: ["--http-port", "1003"], environment: environment, configFile: file)
        #expect(all.options.httpPort == 1003)
        #expect(all.options.raftPort == 2002)
        #expect(all.options.heartbeatMs == 50)
        #expect(all.options.electionTimeoutMs == 300, "a default where no source names it")
        #expect(all.sources["http-port"] == .flag("--http-port"))
        #expect(all.sources["raft-port"] == .environment("WRAFT_RAFT_PORT"))
        #expect(all.sources["heartbeat-ms"] == .file(path: file, key: "heartbeat-ms"))
        #expect(all.sources["election-timeout-ms"] == nil)
        let noFlag = try ServeConfiguration.resolve(arguments: [], environment: environment, configFile: file)
        #expect(noFlag.options.httpPort == 1002)
        let fileOnly = try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: file)
        #expect(fileOnly.options.httpPort == 1001 && fileOnly.options.raftPort == 2001)
        // A port given by a later source overrides a bind address's port from an earlier one.
        let bindThenPort = try ServeConfiguration.resolve(
            arguments: ["--http-port", "3000"], environment: ["WRAFT_HTTP_BIND": "127.0.0.2:4000"], configFile: file)
        #expect(bindThenPort.options.httpPort == 3000 && bindThenPort.options.httpListenHost == "127.0.0.2")
    }

    @Test func anUnknownKeyOrFlagIsAnErrorNamingIt() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.writeFile(#"{"data-dir": "/d", "htp-port": 8081}"#, in: directory)
        let error = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: file)
        }
        #expect(error?.description.contains("\(file): unknown key \"htp-port\" (did you mean http-port?)") == true, "\(String(describing: error))")
        let nested = try Self.writeFile(#"{"data-dir": "/d", "http": {"port": 8081}}"#, in: directory, name: "nested.json")
        let nestedError = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: nested)
        }
        #expect(nestedError?.description.contains("unknown key \"http\"") == true)
        let flag = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: ["--data-dir", "/d", "--raft-prot", "1"], environment: [:], configFile: nil)
        }
        #expect(flag?.description.contains("unknown option --raft-prot (did you mean --raft-port?)") == true)
    }

    @Test(arguments: [
        (#"{"data-dir": "/d", "http-port": 70000}"#, [String: String](), [String](), "wraft.json: http-port: 70000 is not in 0...65535"),
        (#"{"data-dir": "/d", "http-port": "8081"}"#, [:], [], "wraft.json: http-port: expected an integer"),
        (#"{"data-dir": "/d", "enable-faults": "yes"}"#, [:], [], "wraft.json: enable-faults: expected true or false"),
        (#"{"data-dir": "/d"}"#, ["WRAFT_HEARTBEAT_MS": "0"], [], "environment variable WRAFT_HEARTBEAT_MS: 0 is not in 1...600000"),
        (#"{"data-dir": "/d"}"#, ["WRAFT_THREADS": "many"], [], "environment variable WRAFT_THREADS: \"many\" is not an integer"),
        (#"{"data-dir": "/d"}"#, ["WRAFT_LOG_LEVEL": "loud"], [], "environment variable WRAFT_LOG_LEVEL: \"loud\" is not one of"),
        (#"{"data-dir": "/d"}"#, [:], ["--threads", "999"], "--threads: 999 is not in 1...256"),
        (#"{"data-dir": "/d"}"#, [:], ["--quota-bytes", "1"], "--quota-bytes: 1 is not in"),
        (#"{"data-dir": "/d"}"#, [:], ["--http-bind", "0.0.0.0"], "--http-bind: \"0.0.0.0\" is not HOST:PORT"),
        (#"{"data-dir": "/d"}"#, [:], ["--http-port"], "--http-port needs a value"),
        (#"{"data-dir": "/d"}"#, [:], ["--cert-file", "/a.pem"], "give both cert-file and key-file, or neither"),
        (#"{"http-port": 1}"#, [:], [], "the data dir is required"),
        (#"[1, 2]"#, [:], [], "the file must hold one JSON object"),
        (#"{"data-dir": }"#, [:], [], "not valid JSON"),
    ])
    func aBadValueNamesItsSource(file: String, environment: [String: String], flags: [String], message: String) throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Self.writeFile(file, in: directory)
        let error = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: flags, environment: environment, configFile: path)
        }
        #expect(error?.description.contains(message) == true, "\(String(describing: error)) should say \(message)")
    }

    /// deploy/nodeN.json are valid configurations of three distinct members.
    @Test(arguments: [1, 2, 3])
    func theDeployExamplesAreValid(node: Int) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/node\(node).json").path
        let configuration = try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: path)
        #expect(configuration.options.httpAddress == "10.0.0.\(node):8081")
        #expect(configuration.options.raftAddress == "10.0.0.\(node):10002")
        #expect(configuration.options.httpListenHost == "0.0.0.0")
        #expect(configuration.options.peerTLS?.trustedCAFile == "/etc/wraft/certs/ca.pem")
        #expect(configuration.options.httpTLS != nil && configuration.options.authTokenFile != nil)
        #expect(try StartupPolicy.check(configuration.options).warnings.isEmpty, "TLS on both ports, nothing to warn about")
    }

    static let yamlFile = """
        # The same node as `file`, in YAML.
        data-dir: /var/lib/wraft
        http-port: 18081
        raft-port: 20002
        host: 0.0.0.0
        advertised-host: node1.example.com
        enable-faults: true
        log-level: debug
        election-timeout-ms: 900
        heartbeat-ms: 150
        snapshot-entries: 5000
        threads: 3
        peer-cert-file: /c/n.pem
        peer-key-file: /c/n-key.pem
        peer-trusted-ca-file: /c/ca.pem
        cors-allowed-origins:
          - https://a.example
          - https://b.example
        quota-bytes: 4194304
        raft-bind: 10.0.0.1:20003
        etcd-port: 12379
        """

    /// A YAML file gives the same node as the JSON file, the flags and the environment; its
    /// unknown keys, wrong types and other shapes are errors naming the file.
    @Test func aYAMLFileGivesTheSameNodeAsJSON() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let byJSON = try ServeConfiguration.resolve(
            arguments: [], environment: [:], configFile: try Self.writeFile(Self.file, in: directory))
        let yamlPath = try Self.writeFile(Self.yamlFile, in: directory, name: "wraft.yaml")
        let byYAML = try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: yamlPath)
        #expect(byYAML.options == byJSON.options)
        #expect(byYAML.threads == 3)
        #expect(byYAML.printed == byJSON.printed)
        #expect(byYAML.sources["quota-bytes"] == .file(path: yamlPath, key: "quota-bytes"))
        let flagWins = try ServeConfiguration.resolve(arguments: ["--http-port", "9"], environment: [:], configFile: yamlPath)
        #expect(flagWins.options.httpPort == 9)

        let unknown = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(
                arguments: [], environment: [:],
                configFile: try Self.writeFile("data-dir: /d\nhttp-prot: 1\n", in: directory, name: "typo.yml"))
        }
        #expect(unknown?.description.contains("unknown key \"http-prot\"") == true)
        #expect(unknown?.description.contains("http-port") == true, "did you mean")
        let wrongType = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(
                arguments: [], environment: [:],
                configFile: try Self.writeFile("data-dir: /d\nhttp-port: [1, 2]\n", in: directory, name: "type.yaml"))
        }
        #expect(wrongType?.description.contains("http-port") == true)
        let notAMapping = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(
                arguments: [], environment: [:], configFile: try Self.writeFile("- a\n- b\n", in: directory, name: "list.yaml"))
        }
        #expect(notAMapping?.description.contains("one YAML mapping") == true)
        let broken = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(
                arguments: [], environment: [:], configFile: try Self.writeFile("a: [\n", in: directory, name: "broken.yaml"))
        }
        #expect(broken?.description.contains("not valid YAML") == true)
    }

    @Test func onlyYAMLAndJSONFilesAreRead() throws {
        let error = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: "/etc/wraft.toml")
        }
        #expect(error?.description.contains("YAML (.yaml, .yml") == true)
        let missing = #expect(throws: ServeConfigurationError.self) {
            try ServeConfiguration.resolve(arguments: [], environment: [:], configFile: "/nonexistent/wraft.json")
        }
        #expect(missing?.description.contains("cannot read the configuration file") == true)
    }

    /// A wildcard bind address is fine with an advertised host, and refused without one,
    /// naming the setting that made it and the fix.
    @Test func aWildcardAdvertisedAddressIsRefusedWithTheFix() throws {
        let bound = try ServeConfiguration.resolve(
            arguments: ["--data-dir", "/d", "--http-bind", "0.0.0.0:8081", "--insecure-plaintext"], environment: [:],
            configFile: nil)
        #expect(bound.options.httpListenHost == "0.0.0.0" && bound.options.raftListenHost == "127.0.0.1")
        let refusal = #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(bound.options) }
        #expect(refusal?.description.contains("--http-bind 0.0.0.0") == true, "\(String(describing: refusal))")
        #expect(refusal?.description.contains("--advertised-host") == true)
        var advertised = bound.options
        advertised.advertisedHost = "10.0.0.1"
        let verdict = try StartupPolicy.check(advertised)
        #expect(verdict.warnings.count == 1, "the HTTP port is plaintext on a wildcard")
        #expect(verdict.warnings.first?.contains("raft port") == false, "the raft port listens on loopback")
        #expect(advertised.httpAddress == "10.0.0.1:8081")
    }
}
