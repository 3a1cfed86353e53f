import FuzzHarnesses

// The libFuzzer target for `FrameHarness` (see Fuzz/README.md). Built with `-sanitize=fuzzer -DFUZZING`,
// libFuzzer's driver calls this function with each input; built plainly, `main`
// below replays corpus files through the same function's harness.

/// libFuzzer's entry point: checks one input, trapping when a property is violated.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFramesTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzEntry.run(FrameHarness.self, data, size)
}

#if FUZZING
    /// The entry point SwiftPM links this executable with: libFuzzer's driver.
    @_cdecl("FuzzFrames_main")
    public func fuzzFramesMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        FuzzEntry.runDriver(FrameHarness.self, argc, argv, fuzzFramesTestOneInput)
    }
#else
    /// Replays the files and directories given on the command line (or writes the seeds).
    @main
    enum FuzzFramesReplayer {
        static func main() {
            FuzzEntry.replayCommandLine(FrameHarness.self)
        }
    }
#endif
