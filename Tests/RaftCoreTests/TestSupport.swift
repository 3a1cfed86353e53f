#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import RaftCore
import RaftSimulation
import Testing

func getEnvironmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Fails the current test with the simulation's seed and trace when a checker found a violation.
func expectSafe(_ sim: Simulation, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(sim.isSafe, "\(sim.report())", sourceLocation: sourceLocation)
}

/// Node ids from small numbers.
func ids(_ raw: UInt64...) -> Set<NodeID> { Set(raw.map { NodeID($0) }) }
func id(_ raw: UInt64) -> NodeID { NodeID(raw) }

/// Prints the seed of the randomized run in progress if the process dies in a precondition
/// (a core bug that traps), so the run can be replayed with `WRAFT_SIM_SEED`. The signal handler
/// only calls `write` on a buffer prepared beforehand (async-signal-safe).
enum CrashReporter {
    static let bufferBytes = 128

    static var currentSeed: UInt64? {
        get { nil }
        set {
            let buffer = installedBuffer()
            let text = newValue.map { "\nseed=\($0) (replay: WRAFT_SIM_SEED=\($0))\n" } ?? ""
            let bytes = Array(text.utf8.prefix(bufferBytes - 1))
            for (position, byte) in bytes.enumerated() { buffer[position] = CChar(bitPattern: byte) }
            buffer[bytes.count] = 0
        }
    }

    private static func installedBuffer() -> UnsafeMutablePointer<CChar> {
        if let buffer = reporterBuffer { return buffer }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bufferBytes)
        buffer.initialize(repeating: 0, count: bufferBytes)
        reporterBuffer = buffer
        for signalNumber in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV] {
            signal(signalNumber) { number in
                if let buffer = reporterBuffer { _ = write(2, buffer, strlen(buffer)) }
                signal(number, SIG_DFL)
                raise(number)
            }
        }
        return buffer
    }
}

nonisolated(unsafe) private var reporterBuffer: UnsafeMutablePointer<CChar>?
