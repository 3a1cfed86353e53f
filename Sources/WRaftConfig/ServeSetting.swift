import WRaftServer
import WRaftSupport

/// One setting of `wraft serve`, declared once: its name is the flag (`--http-port`), the
/// environment variable (`WRAFT_HTTP_PORT`) and the configuration file's key (`http-port`).
/// Every value, whatever its source, goes through the same `assign`, with the same range checks.
public struct ServeSetting {
    /// The name: `--NAME` on the command line, `NAME` in the file.
    public let name: String
    /// What the help shows after the flag (`N`, `PATH`, `HOST:PORT`; empty for a switch).
    public let valueName: String
    /// One line of help.
    public let help: String
    let kind: Kind
    let assign: (inout ServeDraft, SettingInput) throws(SettingProblem) -> Void
    let render: (ServeDraft) -> PrintedValue?

    /// How a value is asked of a typed source (the JSON file).
    enum Kind { case int, string, flag, list }

    /// `--NAME`.
    public var flag: String { "--" + name }
    /// `WRAFT_NAME` with dashes as underscores.
    public var environmentVariable: String {
        ServeSettings.environmentPrefix.uppercased() + "_" + name.uppercased().replacingOccurrences("-", with: "_")
    }
}

/// A value as a source gave it: text from a flag or the environment, a typed value from the file.
enum SettingInput {
    case text(String)
    case int(Int)
    case bool(Bool)
    case strings([String])
}

/// Why a value was refused (its source is added by the caller).
struct SettingProblem: Error {
    let why: String
    init(_ why: String) { self.why = why }
}

/// A value as `--print-config` writes it (JSON).
enum PrintedValue: Equatable {
    case int(Int)
    case string(String)
    case bool(Bool)
    case strings([String])
}

/// The options being built from the sources, lowest precedence first.
struct ServeDraft {
    var options = NodeOptions(dataDirectory: "")
    var threads: Int?
    var logFormat = LogFormat.text
    var peerCertFile: String?
    var peerKeyFile: String?
    var peerTrustedCAFile: String?
    var certFile: String?
    var keyFile: String?
    var trustedCAFile: String?
}

extension ServeSetting {
    static func int(
        _ name: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<ServeDraft, Int>, _ help: String
    ) -> ServeSetting {
        ServeSetting(
            name: name, valueName: "N", help: help, kind: .int,
            assign: { draft, input throws(SettingProblem) in draft[keyPath: path] = try input.integer(in: range) },
            render: { .int($0[keyPath: path]) })
    }

    static func optionalInt(
        _ name: String, _ range: ClosedRange<Int>, _ path: WritableKeyPath<ServeDraft, Int?>, _ help: String
    ) -> ServeSetting {
        ServeSetting(
            name: name, valueName: "N", help: help, kind: .int,
            assign: { draft, input throws(SettingProblem) in draft[keyPath: path] = try input.integer(in: range) },
            render: { $0[keyPath: path].map { .int($0) } })
    }

    static func string(
        _ name: String, _ valueName: String, _ path: WritableKeyPath<ServeDraft, String>, _ help: String
    ) -> ServeSetting {
        ServeSetting(
            name: name, valueName: valueName, help: help, kind: .string,
            assign: { draft, input throws(SettingProblem) in draft[keyPath: path] = try input.text() },
            render: { $0[keyPath: path].isEmpty ? nil : .string($0[keyPath: path]) })
    }

    static func optionalString(
        _ name: String, _ valueName: String, _ path: WritableKeyPath<ServeDraft, String?>, _ help: String
    ) -> ServeSetting {
        ServeSetting(
            name: name, valueName: valueName, help: help, kind: .string,
            assign: { draft, input throws(SettingProblem) in draft[keyPath: path] = try input.text() },
            render: { $0[keyPath: path].map { .string($0) } })
    }

    static func flag(_ name: String, _ path: WritableKeyPath<ServeDraft, Bool>, _ help: String) -> ServeSetting {
        ServeSetting(
            name: name, valueName: "", help: help, kind: .flag,
            assign: { draft, input throws(SettingProblem) in draft[keyPath: path] = try input.boolean() },
            render: { .bool($0[keyPath: path]) })
    }

    static func list(_ name: String, _ path: WritableKeyPath<ServeDraft, [String]>, _ help: String) -> ServeSetting {
        ServeSetting(
            name: name, valueName: "A,B,...", help: help, kind: .list,
            assign: { draft, input throws(SettingProblem) in
                let list = try input.strings()
                guard list.count <= NodeOptions.allowListCountMax else {
                    throw SettingProblem("at most \(NodeOptions.allowListCountMax) entries, not \(list.count)")
                }
                draft[keyPath: path] = list
            },
            render: { .strings($0[keyPath: path]) })
    }

    /// One of an enumeration's raw values (`log-level`; a `--log-format text|json` is one line
    /// with an enum of its own).
    static func choice<Choice: RawRepresentable & CaseIterable>(
        _ name: String, _ valueName: String, _ path: WritableKeyPath<ServeDraft, Choice>, _ help: String
    ) -> ServeSetting where Choice.RawValue == String {
        let names = Choice.allCases.map(\.rawValue)
        return ServeSetting(
            name: name, valueName: valueName, help: help + " (\(names.joined(separator: ", ")))", kind: .string,
            assign: { draft, input throws(SettingProblem) in
                let text = try input.text()
                guard let value = Choice(rawValue: text) else {
                    throw SettingProblem("\"\(text)\" is not one of \(names.joined(separator: ", "))")
                }
                draft[keyPath: path] = value
            },
            render: { .string($0[keyPath: path].rawValue) })
    }

    /// A listener's `HOST:PORT`: sets its bind host and its port.
    static func address(
        _ name: String, host: WritableKeyPath<ServeDraft, String?>, port: WritableKeyPath<ServeDraft, Int>, _ help: String
    ) -> ServeSetting {
        ServeSetting(
            name: name, valueName: "HOST:PORT", help: help, kind: .string,
            assign: { draft, input throws(SettingProblem) in
                let text = try input.text()
                let parsed: HostPort
                do {
                    parsed = try HostPort(parsing: text)
                } catch {
                    throw SettingProblem("\"\(text)\" is not HOST:PORT (\(error))")
                }
                draft[keyPath: host] = parsed.host
                draft[keyPath: port] = parsed.port
            },
            render: { draft in
                draft[keyPath: host].map { .string(HostPort(host: $0, port: draft[keyPath: port]).description) }
            })
    }
}

extension SettingInput {
    /// The longest text one value may be (a path, a host, a list of origins).
    static let textBytesMax = 4_096

    func text() throws(SettingProblem) -> String {
        guard case .text(let text) = self else { throw SettingProblem("expected a string") }
        guard !text.isEmpty else { throw SettingProblem("must not be empty") }
        guard text.utf8.count <= Self.textBytesMax else {
            throw SettingProblem("longer than \(Self.textBytesMax) bytes")
        }
        return text
    }

    func integer(in range: ClosedRange<Int>) throws(SettingProblem) -> Int {
        let value: Int
        switch self {
        case .int(let number): value = number
        case .text(let text):
            guard let number = Int(text.trimmingSpaces) else { throw SettingProblem("\"\(text)\" is not an integer") }
            value = number
        default: throw SettingProblem("expected an integer")
        }
        guard range.contains(value) else {
            throw SettingProblem("\(value) is not in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func boolean() throws(SettingProblem) -> Bool {
        switch self {
        case .bool(let value): return value
        case .text(let text):
            switch text.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default: throw SettingProblem("\"\(text)\" is not true or false")
            }
        default: throw SettingProblem("expected true or false")
        }
    }

    func strings() throws(SettingProblem) -> [String] {
        let items: [String]
        switch self {
        case .strings(let list): items = list
        case .text(let text): items = text.split(separator: ",").map(String.init)
        default: throw SettingProblem("expected a list of strings")
        }
        let trimmed = items.map(\.trimmingSpaces).filter { !$0.isEmpty }
        guard trimmed.allSatisfy({ $0.utf8.count <= Self.textBytesMax }) else {
            throw SettingProblem("an entry is longer than \(Self.textBytesMax) bytes")
        }
        return trimmed
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }

    func replacingOccurrences(_ character: Character, with replacement: Character) -> String {
        String(map { $0 == character ? replacement : $0 })
    }
}
