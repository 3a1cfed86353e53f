import Foundation
import Linearizability
import Testing

import WRaftCheck

@Suite struct ReportTests {
    @Test func latencyPercentilesAreExact() throws {
        let summary = try #require(LatencySummary(samplesNs: (1...100).map { UInt64($0) * 1_000_000 }))
        #expect(summary.count == 100)
        #expect(summary.p50Ms == 50 && summary.p90Ms == 90 && summary.p99Ms == 99 && summary.maxMs == 100)
        #expect(LatencySummary(samplesNs: []) == nil)
        let one = try #require(LatencySummary(samplesNs: [3_000_000]))
        #expect(one.p50Ms == 3 && one.p99Ms == 3)
    }

    private func history(stale: Bool) -> [HistoryOperation] {
        [
            .write(id: 1, process: 0, key: "k0", value: "a", invokeNs: 0, completeNs: 2_000_000),
            .read(id: 2, process: 1, key: "k0", invokeNs: 3_000_000, completeNs: 4_000_000, readValue: stale ? nil : "a"),
            .cas(id: 3, process: 2, key: "k1", expected: nil, value: "b", invokeNs: 0, completeNs: 1_000_000),
            .cas(id: 4, process: 2, key: "k1", expected: nil, value: "c", invokeNs: 2_000_000, completeNs: 3_000_000, outcome: .compareFailed),
            .write(id: 5, process: 3, key: "k1", value: "d", invokeNs: 5_000_000, completeNs: nil, outcome: .unknown),
            .write(id: 6, process: 3, key: "k1", value: "e", invokeNs: 6_000_000, completeNs: 6_500_000, outcome: .failed),
        ]
    }

    @Test func summaryOfAPassingRun() {
        let operations = history(stale: false)
        let report = CheckReport(
            seed: 5, operations: operations, faults: [FaultRecord(startNs: 1_000_000_000, endNs: 3_500_000_000, description: "kill -9 the leader (nodes 1)")],
            verdicts: LinearizabilityChecker().check(operations),
            recovery: RecoveryResult(isRecovered: true, afterMs: 420, detail: "writes through every node 420 ms after healing"),
            durability: DurabilityResult(isConsistent: true, finalValues: ["k0": "a"], detail: "agree"))
        #expect(report.isPassed)
        let counts = report.counts
        #expect(counts[.write]?[.ok] == 1 && counts[.write]?[.unknown] == 1 && counts[.write]?[.failed] == 1)
        #expect(counts[.cas]?[.compareFailed] == 1)
        let text = report.summary
        #expect(text.contains("wraft check, seed 5"))
        #expect(text.contains("write: 3 (ok 1, failed 1, unknown 1)"))
        #expect(text.contains("cas: 2 (ok 1, compare_failed 1)"))
        #expect(text.contains("1.00 s - 3.50 s: kill -9 the leader"))
        #expect(text.contains("k0: linearizable") && text.contains("k1: linearizable"))
        #expect(text.hasSuffix("PASS"))
    }

    @Test func failingChecksFailTheRun() {
        let broken = history(stale: true)
        let report = CheckReport(seed: 5, operations: broken, faults: [], verdicts: LinearizabilityChecker().check(broken))
        #expect(!report.isPassed)
        #expect(report.summary.contains("k0: NOT LINEARIZABLE"))
        #expect(report.summary.contains("read(k0) -> absent"))
        #expect(report.summary.hasSuffix("FAIL"))

        let good = history(stale: false)
        var unrecovered = CheckReport(seed: 1, operations: good, faults: [], verdicts: LinearizabilityChecker().check(good))
        unrecovered.recovery = RecoveryResult(isRecovered: false, afterMs: nil, detail: "no write")
        #expect(!unrecovered.isPassed)
        var inconsistent = CheckReport(seed: 1, operations: good, faults: [], verdicts: LinearizabilityChecker().check(good))
        inconsistent.durability = DurabilityResult(isConsistent: false, finalValues: [:], detail: "disagree")
        #expect(!inconsistent.isPassed)
    }

    @Test func replayChecksAHistoryFile() throws {
        let directory = NSTemporaryDirectory() + "wraft-replay-test-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let goodPath = directory + "/good.jsonl"
        let badPath = directory + "/bad.jsonl"
        try HistoryFile.write(history(stale: false), to: goodPath)
        try HistoryFile.write(history(stale: true), to: badPath)
        let good = try replay(file: goodPath)
        #expect(good.isPassed && good.operations.count == 6 && good.historyPath == goodPath)
        let bad = try replay(file: badPath)
        #expect(!bad.isPassed)
        #expect(bad.verdicts.hasViolation)
        #expect(throws: CheckError.self) { try replay(file: directory + "/missing.jsonl") }
    }
}

@Suite struct CheckOptionsTests {
    @Test func boundsAreValidated() {
        var options = CheckOptions(executablePath: "/bin/true")
        #expect((try? options.validate()) != nil)
        options.nodeCount = 9
        #expect(throws: CheckError.self) { try options.validate() }
        options.nodeCount = 2
        #expect(throws: CheckError.self) { try options.validate() }  // partitions need 3 nodes
        options.nemeses = [.kill, .pause]
        #expect((try? options.validate()) != nil)
        options.clientCount = 0
        #expect(throws: CheckError.self) { try options.validate() }
        options.clientCount = 4
        options.durationMs = 10
        #expect(throws: CheckError.self) { try options.validate() }
        options.durationMs = 5_000
        options.keyCount = 0
        #expect(throws: CheckError.self) { try options.validate() }
        options.keyCount = 3
        #expect(options.keys == ["k0", "k1", "k2"])
    }

    @Test func aMissingExecutableIsReportedNotCrashed() async {
        var options = CheckOptions(executablePath: "/nonexistent/wraft")
        options.durationMs = 1_000
        options.directory = NSTemporaryDirectory() + "wraft-check-missing-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: options.directory ?? "") }
        do {
            _ = try await runCheck(options) { _ in }
            Issue.record("a check without an executable ran")
        } catch {
            guard case .cluster(.executableMissing) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
    }
}
