import Foundation
import NIOCore
import WRaftAPI

/// Rows under a header, printed as aligned columns (`-o table`).
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: [String]) {
        self.header = header
    }

    mutating func append(_ row: [String]) {
        precondition(row.count == header.count, "TextTable: a row has one cell per column")
        rows.append(row)
    }

    /// The table: columns as wide as their widest cell, two spaces apart, no trailing spaces.
    var rendered: String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                text += column == cells.count - 1 ? cell : cell.padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }
            return text
        }
        // An empty last cell leaves padding behind: no line ends in spaces.
        func trimmed(_ text: String) -> String {
            String(text.reversed().drop { $0 == " " }.reversed())
        }
        return ([line(header)] + rows.map(line)).map(trimmed).joined(separator: "\n")
    }
}

/// Writes a JSON document (as the node's encoder wrote it) and a newline to standard output.
func printJSON(_ buffer: ByteBuffer) {
    var bytes = Array(buffer.readableBytesView)
    bytes.append(UInt8(ascii: "\n"))
    FileHandle.standardOutput.write(Data(bytes))
}

/// Writes a line to standard error.
func printToStandardError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// The `CodingKey`s of JSON documents the CLI writes itself (`get`, `endpoint health|status`).
enum CLIField: String, CodingKey {
    case key, value, encoding, index, term
    case endpoint, health, status, role, tookMs, error
    case state
}

extension JSONWriter {
    /// A value's bytes as a JSON string field when they are UTF-8, else as base64 with
    /// `"encoding": "base64"` beside it (the convention of `GET /data` lists).
    mutating func valueField(_ value: [UInt8]) {
        key(CLIField.value)
        if String(validating: value, as: UTF8.self) != nil {
            string(utf8: value)
        } else {
            string(Data(value).base64EncodedString())
            field(CLIField.encoding, "base64")
        }
    }

    /// A number with a fractional part (`took` milliseconds), written with three decimals.
    mutating func field(_ name: some CodingKey, milliseconds: Double) {
        key(name)
        element(raw: ByteBuffer(string: String(format: "%.3f", milliseconds)))
    }
}
