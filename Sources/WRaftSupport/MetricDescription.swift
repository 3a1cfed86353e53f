/// What an operator reads about one metric family: its name, its kind and its HELP text.
///
/// swift-metrics handles carry only a label, so each module that makes metrics also lists their
/// descriptions beside them (made from the same values, so a name cannot drift from its help);
/// the executable's metrics backend writes the help into the exposition (`# HELP` lines).
public struct MetricDescription: Sendable, Hashable {
    /// How the family is exposed.
    public enum Kind: String, Sendable, Hashable {
        case counter
        case gauge
        /// A swift-metrics `Timer` (seconds) or an aggregating `Recorder` (a plain number).
        case histogram
    }

    /// The family's name: lowercase letters, digits and `_`, starting with a letter.
    public let name: String
    public let kind: Kind
    /// One line of text, no line breaks.
    public let help: String

    /// Precondition: `name` is a valid metric name and `help` a non-empty single line (both are
    /// constants in the code, so a bad one is a bug).
    public init(_ name: String, _ kind: Kind, help: String) {
        precondition(Self.isValidName(name), "MetricDescription: \(name) is not a valid metric name")
        precondition(!help.isEmpty && !help.contains("\n"), "MetricDescription: the help of \(name) is one non-empty line")
        self.name = name
        self.kind = kind
        self.help = help
    }

    /// Whether `name` is a metric name we accept: `[a-z][a-z0-9_]*`.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_")
        }
    }
}
