import FuzzHarnesses

// The libFuzzer target for `WALHarness` (see Fuzz/README.md). Built with `-sanitize=fuzzer -DFUZZING`,
// libFuzzer's driver calls this function with each input; built plainly, `main`
// below replays corpus files through the same function's harness.

/// libFuzzer's entry point: checks one input, trapping when a property is violated.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWALTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzEntry.run(WALHarness.self, data, size)
}

#if FUZZING
    /// The entry point SwiftPM links this executable with: libFuzzer's driver.
    @_cdecl("FuzzWAL_main")
    public func fuzzWALMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        FuzzEntry.runDriver(WALHarness.self, argc, argv, fuzzWALTestOneInput)
    }
#else
    /// Replays the files and directories given on the command line (or writes the seeds).
    @main
    enum FuzzWALReplayer {
        static func main() {
            FuzzEntry.replayCommandLine(WALHarness.self)
        }
    }
#endif
