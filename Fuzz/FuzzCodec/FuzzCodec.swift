import FuzzHarnesses

// The libFuzzer target for `CodecHarness` (see Fuzz/README.md). Built with `-sanitize=fuzzer -DFUZZING`,
// libFuzzer's driver calls this function with each input; built plainly, `main`
// below replays corpus files through the same function's harness.

/// libFuzzer's entry point: checks one input, trapping when a property is violated.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCodecTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzEntry.run(CodecHarness.self, data, size)
}

#if FUZZING
    /// The entry point SwiftPM links this executable with: libFuzzer's driver.
    @_cdecl("FuzzCodec_main")
    public func fuzzCodecMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        FuzzEntry.runDriver(CodecHarness.self, argc, argv, fuzzCodecTestOneInput)
    }
#else
    /// Replays the files and directories given on the command line (or writes the seeds).
    @main
    enum FuzzCodecReplayer {
        static func main() {
            FuzzEntry.replayCommandLine(CodecHarness.self)
        }
    }
#endif
