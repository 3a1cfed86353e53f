import Configuration
import Foundation
import Yams
import WRaftServer

/// How `wraft serve` writes its log lines to standard error.
public enum LogFormat: String, CaseIterable, Sendable {
    /// swift-log's stream format: time, level, label, `key=value` metadata, message.
    case text
    /// One JSON object a line, for a log pipeline to index.
    case json
}

/// Where a setting's effective value came from.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// A command-line flag (`--http-port`).
    case flag(String)
    /// An environment variable (`WRAFT_HTTP_PORT`).
    case environment(String)
    /// A key of the configuration file.
    case file(path: String, key: String)

    public var description: String {
        switch self {
        case .flag(let flag): return flag
        case .environment(let name): return "environment variable \(name)"
        case .file(let path, let key): return "\(path): \(key)"
        }
    }
}

/// A configuration `wraft serve` refuses: the message names the setting and its source.
public struct ServeConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The effective settings of `wraft serve`: flags over `WRAFT_*` environment variables over the
/// JSON configuration file over the defaults, each value range-checked by the one table
/// (`ServeSettings.all`), the whole validated as `NodeOptions`.
public struct ServeConfiguration: Sendable, Equatable {
    /// What the node runs with.
    public var options: NodeOptions
    /// `threads`; nil: one per core.
    public var threads: Int?
    /// `log-format`: how log lines are written to standard error.
    public var logFormat: LogFormat
    /// Where each setting that is not at its default came from, by setting name.
    public var sources: [String: SettingSource]
    /// The effective value of every setting that has one, in table order, as JSON.
    public var printed: String

    /// The largest configuration file read.
    public static let fileBytesMax = 1 << 20

    /// Resolves the settings. `arguments` are the serve flags (`--http-port 8081`,
    /// `--http-port=8081`, `--enable-faults`); `environment` is the process's;
    /// `configFile` is the JSON file's path, if any.
    public static func resolve(
        arguments: [String], environment: [String: String], configFile: String?
    ) throws(ServeConfigurationError) -> ServeConfiguration {
        var layers: [[(ServeSetting, SettingInput, SettingSource)]] = []
        if let configFile { layers.append(try fileLayer(path: configFile)) }
        layers.append(try environmentLayer(environment))
        layers.append(try flagLayer(arguments))
        var draft = ServeDraft()
        var sources: [String: SettingSource] = [:]
        for layer in layers {
            for (setting, input, source) in layer {
                do {
                    try setting.assign(&draft, input)
                } catch {
                    throw ServeConfigurationError("\(source): \(error.why)")
                }
                sources[setting.name] = source
            }
        }
        return try finish(draft, sources: sources)
    }

    // MARK: The three sources

    static func flagLayer(_ arguments: [String]) throws(ServeConfigurationError) -> [(ServeSetting, SettingInput, SettingSource)] {
        let table = ServeSettings.all
        var layer: [(ServeSetting, SettingInput, SettingSource)] = []
        var position = 0
        while position < arguments.count {
            let argument = arguments[position]
            position += 1
            guard argument.hasPrefix("--") else {
                throw ServeConfigurationError("unexpected argument \"\(argument)\" (settings are --NAME VALUE)")
            }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            let inlineValue = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
            guard let setting = table.first(where: { $0.name == name }) else {
                throw ServeConfigurationError("unknown option --\(name)\(suggestion(for: name, prefix: "--"))")
            }
            let input: SettingInput
            if let inlineValue {
                input = .text(inlineValue)
            } else if setting.kind == .flag {
                input = .bool(true)
            } else {
                guard position < arguments.count else { throw ServeConfigurationError("--\(name) needs a value") }
                input = .text(arguments[position])
                position += 1
            }
            layer.append((setting, input, .flag(setting.flag)))
        }
        return layer
    }

    static func environmentLayer(_ environment: [String: String]) throws(ServeConfigurationError) -> [(ServeSetting, SettingInput, SettingSource)] {
        let provider = EnvironmentVariablesProvider(environmentVariables: environment)
        var layer: [(ServeSetting, SettingInput, SettingSource)] = []
        for setting in ServeSettings.all {
            let key = AbsoluteConfigKey([ServeSettings.environmentPrefix, setting.name])
            let result: LookupResult
            do {
                result = try provider.value(forKey: key, type: .string)
            } catch {
                throw ServeConfigurationError("environment variable \(setting.environmentVariable): \(error)")
            }
            guard let value = result.value else { continue }
            guard case .string(let text) = value.content else {
                throw ServeConfigurationError("environment variable \(result.encodedKey): not text")
            }
            layer.append((setting, .text(text), .environment(result.encodedKey)))
        }
        return layer
    }

    static func fileLayer(path: String) throws(ServeConfigurationError) -> [(ServeSetting, SettingInput, SettingSource)] {
        let lowercased = path.lowercased()
        let isYAML = lowercased.hasSuffix(".yaml") || lowercased.hasSuffix(".yml")
        guard isYAML || lowercased.hasSuffix(".json") else {
            throw ServeConfigurationError(
                "\(path): configuration files are YAML (.yaml, .yml: `http-port: 8081`) or JSON (.json: {\"http-port\": 8081})")
        }
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: fileBytesMax + 1) ?? Data()
        } catch {
            throw ServeConfigurationError("\(path): cannot read the configuration file: \(error.localizedDescription)")
        }
        guard data.count <= fileBytesMax else {
            throw ServeConfigurationError("\(path): larger than \(fileBytesMax) bytes")
        }
        let keys = isYAML ? try yamlKeys(data, path: path) : try jsonKeys(data, path: path)
        let table = ServeSettings.all
        for key in keys.sorted() where !table.contains(where: { $0.name == key }) {
            throw ServeConfigurationError("\(path): unknown key \"\(key)\"\(suggestion(for: key, prefix: ""))")
        }
        let snapshot: any ConfigSnapshot
        do {
            let bytes = [UInt8](data)
            if isYAML {
                snapshot = try YAMLSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: .default)
            } else {
                snapshot = try JSONSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: .default)
            }
        } catch {
            throw ServeConfigurationError("\(path): \(error)")
        }
        var layer: [(ServeSetting, SettingInput, SettingSource)] = []
        for setting in table where keys.contains(setting.name) {
            let source = SettingSource.file(path: path, key: setting.name)
            guard let input = fileValue(snapshot, setting) else {
                throw ServeConfigurationError("\(source): expected \(expected(setting.kind))")
            }
            layer.append((setting, input, source))
        }
        return layer
    }

    /// The top-level keys of a YAML file of settings (one mapping of names to values).
    private static func yamlKeys(_ data: Data, path: String) throws(ServeConfigurationError) -> [String] {
        let object: Any?
        do {
            object = try Yams.load(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ServeConfigurationError("\(path): not valid YAML: \(error)")
        }
        guard let mapping = object as? [AnyHashable: Any] else {
            throw ServeConfigurationError("\(path): the file must hold one YAML mapping of settings (`http-port: 8081`)")
        }
        var keys: [String] = []
        for key in mapping.keys {
            guard let name = key.base as? String else {
                throw ServeConfigurationError("\(path): the key \(key) is not a setting name")
            }
            keys.append(name)
        }
        return keys
    }

    /// The top-level keys of a JSON file of settings (one object).
    private static func jsonKeys(_ data: Data, path: String) throws(ServeConfigurationError) -> [String] {
        let keys: [String]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ServeConfigurationError("\(path): the file must hold one JSON object of settings")
            }
            keys = Array(object.keys)
        } catch let error as ServeConfigurationError {
            throw error
        } catch {
            throw ServeConfigurationError("\(path): not valid JSON: \(error.localizedDescription)")
        }
        return keys
    }

    /// The file's value of `setting` in the type its kind takes; nil when it has another type.
    private static func fileValue(_ snapshot: any ConfigSnapshot, _ setting: ServeSetting) -> SettingInput? {
        let key = AbsoluteConfigKey([setting.name])
        func content(_ type: ConfigType) -> ConfigContent? {
            (try? snapshot.value(forKey: key, type: type))?.value?.content
        }
        switch setting.kind {
        case .int:
            if case .int(let value)? = content(.int) { return .int(value) }
        case .flag:
            if case .bool(let value)? = content(.bool) { return .bool(value) }
        case .string:
            if case .string(let value)? = content(.string) { return .text(value) }
        case .list:
            if case .stringArray(let value)? = content(.stringArray) { return .strings(value) }
            if case .string(let value)? = content(.string) { return .text(value) }
        }
        return nil
    }

    private static func expected(_ kind: ServeSetting.Kind) -> String {
        switch kind {
        case .int: return "an integer"
        case .flag: return "true or false"
        case .string: return "a string"
        case .list: return "an array of strings"
        }
    }

    /// ` (did you mean --http-port?)` when a setting's name is one or two edits away.
    static func suggestion(for name: String, prefix: String) -> String {
        let close = ServeSettings.all.map(\.name).min { editDistance($0, name) < editDistance($1, name) }
        guard let close, editDistance(close, name) <= 2 else { return "" }
        return " (did you mean \(prefix)\(close)?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8.prefix(64)), b = Array(b.utf8.prefix(64))
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: The whole

    private static func finish(
        _ draft: ServeDraft, sources: [String: SettingSource]
    ) throws(ServeConfigurationError) -> ServeConfiguration {
        var options = draft.options
        guard !options.dataDirectory.isEmpty else {
            throw ServeConfigurationError(
                "the data dir is required: --data-dir PATH, WRAFT_DATA_DIR, or \"data-dir\" in the configuration file")
        }
        options.peerTLS = try tlsFiles(
            certificate: draft.peerCertFile, key: draft.peerKeyFile, trustedCA: draft.peerTrustedCAFile, prefix: "peer-")
        options.httpTLS = try tlsFiles(certificate: draft.certFile, key: draft.keyFile, trustedCA: draft.trustedCAFile, prefix: "")
        do {
            try options.validate()
        } catch {
            throw ServeConfigurationError("\(error)")
        }
        var finished = draft
        finished.options = options
        return ServeConfiguration(options: options, threads: draft.threads, logFormat: draft.logFormat, sources: sources, printed: printJSON(finished))
    }

    /// The TLS files of one port: all of certificate and key, or none.
    private static func tlsFiles(
        certificate: String?, key: String?, trustedCA: String?, prefix: String
    ) throws(ServeConfigurationError) -> TLSFiles? {
        switch (certificate, key) {
        case (nil, nil):
            guard trustedCA == nil else {
                throw ServeConfigurationError("\(prefix)trusted-ca-file needs \(prefix)cert-file and \(prefix)key-file")
            }
            return nil
        case (let certificate?, let key?):
            return TLSFiles(certificateFile: certificate, privateKeyFile: key, trustedCAFile: trustedCA)
        default:
            throw ServeConfigurationError("give both \(prefix)cert-file and \(prefix)key-file, or neither")
        }
    }

    /// One JSON object, a setting a line, in table order: itself a valid configuration file.
    private static func printJSON(_ draft: ServeDraft) -> String {
        var lines: [String] = []
        for setting in ServeSettings.all {
            guard let value = setting.render(draft) else { continue }
            lines.append("  \(quoted(setting.name)): \(json(value))")
        }
        return "{\n" + lines.joined(separator: ",\n") + "\n}"
    }

    private static func json(_ value: PrintedValue) -> String {
        switch value {
        case .int(let number): return String(number)
        case .bool(let flag): return flag ? "true" : "false"
        case .string(let text): return quoted(text)
        case .strings(let list): return "[" + list.map(quoted).joined(separator: ", ") + "]"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
