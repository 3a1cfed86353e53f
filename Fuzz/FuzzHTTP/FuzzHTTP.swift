import FuzzHarnesses

// The libFuzzer target for `HTTPHarness` (see Fuzz/README.md). Built with `-sanitize=fuzzer -DFUZZING`,
// libFuzzer's driver calls this function with each input; built plainly, `main`
// below replays corpus files through the same function's harness.

/// libFuzzer's entry point: checks one input, trapping when a property is violated.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzEntry.run(HTTPHarness.self, data, size)
}

#if FUZZING
    /// The entry point SwiftPM links this executable with: libFuzzer's driver.
    @_cdecl("FuzzHTTP_main")
    public func fuzzHTTPMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
        FuzzEntry.runDriver(HTTPHarness.self, argc, argv, fuzzHTTPTestOneInput)
    }
#else
    /// Replays the files and directories given on the command line (or writes the seeds).
    @main
    enum FuzzHTTPReplayer {
        static func main() {
            FuzzEntry.replayCommandLine(HTTPHarness.self)
        }
    }
#endif
