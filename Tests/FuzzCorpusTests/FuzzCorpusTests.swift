import Foundation
import FuzzHarnesses
import Testing

/// The names of the harnesses (and of their corpus folders).
private let harnessNames = [FrameHarness.name, CodecHarness.name, ControlHarness.name, WALHarness.name, HTTPHarness.name]

/// The harness named `name`.
private func harness(named name: String) -> (any FuzzHarness.Type)? {
    switch name {
    case FrameHarness.name: return FrameHarness.self
    case CodecHarness.name: return CodecHarness.self
    case ControlHarness.name: return ControlHarness.self
    case WALHarness.name: return WALHarness.self
    case HTTPHarness.name: return HTTPHarness.self
    default: return nil
    }
}

/// `Fuzz/Corpus`, found from this file's place in the repository.
private let corpusRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fuzz/Corpus").path

/// Replays the kept corpora (`Fuzz/Corpus/<Name>/`, minimized by libFuzzer) and the seeds through
/// their harnesses in the normal test run: a decoder change that breaks a property on any
/// input the fuzzers found interesting fails here, without a fuzzing build.
@Suite struct FuzzCorpusTests {
    @Test(arguments: harnessNames)
    func corpusKeepsEveryProperty(name: String) throws {
        guard let harness = harness(named: name) else {
            Issue.record("no harness \(name)")
            return
        }
        let files = try CorpusFiles.read(corpusRoot + "/" + name)
        #expect(files.count >= 3, "the \(name) corpus is kept in the repository")
        var known: [String: [String]] = [:]
        for file in files {
            do {
                try harness.check(file.bytes)
            } catch {
                if let issue = KnownIssues.issue(of: error) {
                    known[issue, default: []].append("\(file.path): \(error)")
                } else {
                    Issue.record("\(file.path): \(error)")
                }
            }
        }
        expectKnownIssues(of: name, known)
    }

    @Test(arguments: harnessNames)
    func seedsKeepEveryProperty(name: String) {
        guard let harness = harness(named: name) else {
            Issue.record("no harness \(name)")
            return
        }
        let seeds = harness.seeds()
        #expect(seeds.count >= 3)
        var known: [String: [String]] = [:]
        for (number, seed) in seeds.enumerated() {
            do {
                try harness.check(seed)
            } catch {
                if let issue = KnownIssues.issue(of: error) {
                    known[issue, default: []].append("seed \(number): \(error)")
                } else {
                    Issue.record("seed \(number): \(error)")
                }
            }
        }
        expectKnownIssues(of: name, known, isIntermittent: true)
    }

    /// Each known issue of `name`'s harness must still occur in the corpus (else its fix landed:
    /// remove it from `KnownIssues`); its occurrences are recorded as known, not as failures.
    /// (Seeds are valid encodings and need not show every issue: `isIntermittent`.)
    private func expectKnownIssues(of name: String, _ known: [String: [String]], isIntermittent: Bool = false) {
        for (property, issue) in KnownIssues.properties where KnownIssues.harnesses[property] == name {
            withKnownIssue(Comment(rawValue: issue), isIntermittent: isIntermittent) {
                for occurrence in known[issue] ?? [] { Issue.record(Comment(rawValue: occurrence)) }
            }
        }
    }

    /// The replay must be able to fail: a harness that rejects an input makes the test record it.
    @Test func violationsAreReported() {
        #expect(throws: PropertyViolation.self) { try AlwaysViolated.check([1]) }
        #expect(FuzzEntry.main(AlwaysViolated.self, arguments: [corpusRoot + "/Codec"]) == 1)
    }
}

/// A harness whose property never holds, to show that violations surface.
private enum AlwaysViolated: FuzzHarness {
    static let name = "AlwaysViolated"
    static func check(_ input: [UInt8]) throws(PropertyViolation) {
        throw PropertyViolation(harness: name, property: "never holds", detail: "\(input.count) bytes")
    }
    static func seeds() -> [[UInt8]] { [] }
}
