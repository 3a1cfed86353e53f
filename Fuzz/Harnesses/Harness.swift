import Foundation

/// A property a decoder broke on some input: what it promised, and what happened instead.
///
/// A harness throws this instead of trapping, so the corpus test can name the file and the
/// property; the libFuzzer entry point (`FuzzEntry.run`) turns it into a trap, which is what
/// makes libFuzzer save the input as a crash.
package struct PropertyViolation: Error, CustomStringConvertible, Equatable {
    /// The harness that found it (`Frames`, `Codec`, ...).
    package var harness: String
    /// The property, as a short sentence ("a decoded message re-encodes to its bytes").
    package var property: String
    /// What was seen.
    package var detail: String

    package var description: String { "\(harness): \(property): \(detail)" }

    package init(harness: String, property: String, detail: String) {
        self.harness = harness
        self.property = property
        self.detail = detail
    }
}

/// One fuzz target's logic: checks properties of the decoders on arbitrary bytes.
///
/// `check` must return normally for every input on which the decoders keep their promises
/// (including inputs they rightly refuse with a typed error), throw `PropertyViolation` when
/// one is broken, and never trap on its own account: a trap is a finding in the decoder.
package protocol FuzzHarness {
    /// The name of the target and of its corpus folder (`Fuzz/Corpus/<name>/`).
    static var name: String { get }
    /// Runs the decoders on `input` and checks their properties.
    static func check(_ input: [UInt8]) throws(PropertyViolation)
    /// Valid encodings to start fuzzing from (each is a complete input for `check`).
    static func seeds() -> [[UInt8]]
}

/// Builds a `PropertyViolation` for `Harness` when `condition` is false.
@inline(__always)
func require<Harness: FuzzHarness>(
    _ harness: Harness.Type, _ condition: Bool, _ property: @autoclosure () -> String,
    _ detail: @autoclosure () -> String = ""
) throws(PropertyViolation) {
    guard condition else {
        throw PropertyViolation(harness: Harness.name, property: property(), detail: detail())
    }
}

/// Properties that fail today because of a defect already filed and being fixed elsewhere, with
/// where it is tracked. libFuzzer keeps going past them (they would stop every run at once),
/// the replayer reports them apart, and `FuzzCorpusTests` expects them as known issues, so the
/// test fails as soon as the fix lands and the entry here must be removed.
package enum KnownIssues {
    /// Empty: both issue 8 findings (the torn-append scan and the partial-frame reservation) are
    /// fixed, and their properties now hold on every corpus file.
    package static let properties: [String: String] = [:]

    /// The harness each known issue belongs to.
    package static let harnesses: [String: String] = [:]

    /// The known issue `violation` is, if any.
    package static func issue(of violation: PropertyViolation) -> String? { properties[violation.property] }
}

/// The glue between a harness and libFuzzer or the command line.
package enum FuzzEntry {
    /// The body of `LLVMFuzzerTestOneInput`: runs the harness on the bytes and traps on a
    /// violated property (libFuzzer then saves the input as `crash-<sha1>`).
    package static func run<Harness: FuzzHarness>(
        _ harness: Harness.Type, _ data: UnsafePointer<UInt8>?, _ size: Int
    ) -> Int32 {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        do {
            try Harness.check(input)
        } catch where KnownIssues.issue(of: error) == nil {
            fatalError("property violated: \(error)")
        } catch {
            // A known issue (KnownIssues): keep fuzzing.
        }
        return 0
    }

    #if FUZZING
        /// The process's entry point in a fuzzing build: runs libFuzzer's driver on `testOneInput`.
        /// (SwiftPM links an executable's entry point as `<Module>_main`, so a target defines that
        /// symbol and calls this, rather than relying on libFuzzer's own `main`.)
        /// `--write-seeds DIR` works here too, so a fuzzing build can seed an empty corpus.
        package static func runDriver<Harness: FuzzHarness>(
            _ harness: Harness.Type, _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
            _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
        ) -> Int32 {
            let arguments = (1..<Int(max(argc, 1))).map { argv[$0].map { String(cString: $0) } ?? "" }
            if arguments.first == "--write-seeds" { return main(harness, arguments: arguments) }
            var argc = argc
            var argv = argv
            return llvmFuzzerRunDriver(&argc, &argv, testOneInput)
        }
    #endif

    /// Runs `main` on the process's arguments and exits with its status.
    package static func replayCommandLine<Harness: FuzzHarness>(_ harness: Harness.Type) -> Never {
        exit(main(harness, arguments: Array(CommandLine.arguments.dropFirst())))
    }

    /// The command line of a target built without `-DFUZZING`: replays the files and
    /// directories named (`FuzzFrames Fuzz/Corpus/Frames crash-1234`), or with
    /// `--write-seeds DIR` writes the harness's seeds there. Exits 1 if any property fails.
    package static func main<Harness: FuzzHarness>(_ harness: Harness.Type, arguments: [String]) -> Int32 {
        if arguments.first == "--write-seeds" {
            guard arguments.count == 2 else {
                print("usage: \(Harness.name) --write-seeds DIR")
                return 2
            }
            do {
                let count = try CorpusFiles.writeSeeds(of: harness, to: arguments[1])
                print("\(Harness.name): wrote \(count) seeds to \(arguments[1])")
                return 0
            } catch {
                print("\(Harness.name): cannot write seeds: \(error)")
                return 1
            }
        }
        guard !arguments.isEmpty else {
            print("usage: Fuzz\(Harness.name) FILE|DIR... | --write-seeds DIR")
            return 2
        }
        var replayed = 0
        var failures = 0
        for path in arguments {
            let files: [(path: String, bytes: [UInt8])]
            do {
                files = try CorpusFiles.read(path)
            } catch {
                print("\(path): cannot read: \(error)")
                failures += 1
                continue
            }
            for file in files {
                replayed += 1
                do {
                    try Harness.check(file.bytes)
                } catch {
                    if let issue = KnownIssues.issue(of: error) {
                        print("\(file.path): known issue (\(issue)): \(error)")
                    } else {
                        failures += 1
                        print("\(file.path): \(error)")
                    }
                }
            }
        }
        print("\(Harness.name): replayed \(replayed) inputs, \(failures) failed")
        return failures == 0 ? 0 : 1
    }
}

/// Reading and writing corpus files.
package enum CorpusFiles {
    /// The files of `path` (a file, or a directory's regular files, sorted by name; hidden files
    /// and `README*` are skipped).
    package static func read(_ path: String) throws -> [(path: String, bytes: [UInt8])] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CocoaError(.fileNoSuchFile)
        }
        guard isDirectory.boolValue else {
            return [(path, Array(try Data(contentsOf: URL(fileURLWithPath: path))))]
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { !$0.hasPrefix(".") && !$0.hasPrefix("README") }.sorted()
        return try names.map { name in
            let file = path + "/" + name
            return (file, Array(try Data(contentsOf: URL(fileURLWithPath: file))))
        }
    }

    /// Writes `harness`'s seeds to `directory` as `seed-NNN` (creating it); returns how many.
    package static func writeSeeds<Harness: FuzzHarness>(of harness: Harness.Type, to directory: String) throws -> Int {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seeds = Harness.seeds()
        for (number, seed) in seeds.enumerated() {
            let name = "seed-" + String(repeating: "0", count: max(0, 3 - String(number).count)) + String(number)
            try Data(seed).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        return seeds.count
    }
}

#if FUZZING
    /// libFuzzer's driver (compiler-rt's `FuzzerDriver.cpp`): parses libFuzzer's flags from
    /// the command line and runs the fuzzing loop; returns the exit status.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func llvmFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32
#endif
