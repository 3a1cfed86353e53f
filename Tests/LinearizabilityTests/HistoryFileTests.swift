import Foundation
import Testing

import Linearizability

@Suite struct HistoryFileTests {
    @Test func roundTripsThroughJSONLines() throws {
        let history: [HistoryOperation] = [
            .write(id: 1, process: 0, key: "k", value: "a", invokeNs: 1, completeNs: 2),
            .read(id: 2, process: 1, key: "k", invokeNs: 3, completeNs: 4, readValue: nil),
            .read(id: 3, process: 1, key: "k \"quoted\"\n", invokeNs: 5, completeNs: nil, outcome: .unknown, readValue: nil),
            .cas(id: 4, process: 2, key: "k", expected: nil, value: "b", invokeNs: 6, completeNs: 9, outcome: .compareFailed),
            .write(id: 5, process: 3, key: "k", value: nil, invokeNs: 7, completeNs: nil, outcome: .failed),
        ]
        let text = HistoryFile.encode(history)
        #expect(text.split(separator: "\n").count == history.count)
        #expect(try HistoryFile.decode(text) == history)
        #expect(try HistoryFile.decode("\n" + text + "\n\n") == history)
    }

    @Test func badLinesNameTheirLine() {
        let good = HistoryFile.encode([.write(id: 1, process: 0, key: "k", value: "a", invokeNs: 1, completeNs: 2)])
        do {
            _ = try HistoryFile.decode(good + "{not json}\n")
            Issue.record("decoded garbage")
        } catch {
            #expect(error.line == 2)
        }
        #expect(throws: HistoryFile.DecodingError.self) { try HistoryFile.decode(#"{"id": 1}"#) }
        #expect(throws: HistoryFile.DecodingError.self) { try HistoryFile.decode(String(repeating: "x", count: 70_000)) }
    }

    @Test func writesAndReadsFiles() throws {
        let path = "/tmp/wraft-history-test-\(UInt64.random(in: 0...UInt64.max)).jsonl"
        let history: [HistoryOperation] = [.write(id: 1, process: 0, key: "k", value: "a", invokeNs: 1, completeNs: 2)]
        defer { try? FileManager.default.removeItem(atPath: path) }
        try HistoryFile.write(history, to: path)
        #expect(try HistoryFile.read(from: path) == history)
    }
}
