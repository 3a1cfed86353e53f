import Foundation

/// Reads and writes a history as JSON lines: one `HistoryOperation` object per line, in any order.
public enum HistoryFile {
    /// Why a history file could not be read.
    public struct DecodingError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "history line \(line): \(reason)" }
    }

    /// The most bytes one history line may hold (a bound on what a damaged file can make us parse).
    public static let lineBytesMax = 64 << 10

    /// The history as JSON lines, each ending in a newline.
    public static func encode(_ operations: [HistoryOperation]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = ""
        for operation in operations {
            // Encoding a struct of strings and integers cannot fail.
            guard let data = try? encoder.encode(operation) else { continue }
            text += String(decoding: data, as: UTF8.self) + "\n"
        }
        return text
    }

    /// Parses JSON lines; blank lines are skipped.
    public static func decode(_ text: String) throws(DecodingError) -> [HistoryOperation] {
        let decoder = JSONDecoder()
        var operations: [HistoryOperation] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard trimmed.utf8.count <= lineBytesMax else {
                throw DecodingError(line: lineNumber, reason: "longer than \(lineBytesMax) bytes")
            }
            do {
                operations.append(try decoder.decode(HistoryOperation.self, from: Data(trimmed.utf8)))
            } catch {
                throw DecodingError(line: lineNumber, reason: "\(error)")
            }
        }
        return operations
    }

    /// Writes the history to `path` (replacing it).
    public static func write(_ operations: [HistoryOperation], to path: String) throws {
        try Data(encode(operations).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads a history written by `write(_:to:)`.
    public static func read(from path: String) throws -> [HistoryOperation] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try decode(String(decoding: data, as: UTF8.self))
    }
}
