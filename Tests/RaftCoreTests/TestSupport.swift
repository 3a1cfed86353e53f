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
/// (a core bug that traps), so the run can be replayed. The handler only writes a buffer prepared
/// beforehand, then hands the signal to the handler installed before it (Swift's backtracer), so
/// the crash report keeps its backtrace.
enum CrashReporter {
    static let bufferBytes = 128
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS]

    static var currentSeed: UInt64? {
        get { nil }
        set {
            let buffer = installedBuffer()
            let text = newValue.map { "\nseed=\($0) (the run in progress when the process died)\n" } ?? ""
            let bytes = Array(text.utf8.prefix(bufferBytes - 1))
            for (position, byte) in bytes.enumerated() { buffer[position] = CChar(bitPattern: byte) }
            buffer[bytes.count] = 0
        }
    }

    private static func installedBuffer() -> UnsafeMutablePointer<CChar> {
        if let buffer = reporterBuffer { return buffer }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: bufferBytes)
        buffer.initialize(repeating: 0, count: bufferBytes)
        let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 64)
        previous.initialize(repeating: sigaction(), count: 64)
        reporterBuffer = buffer
        previousActions = previous
        for signalNumber in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if let buffer = reporterBuffer { _ = write(2, buffer, strlen(buffer)) }
                if let previous = previousActions { sigaction(number, previous + Int(number), nil) }
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signalNumber, &action, previous + Int(signalNumber))
        }
        return buffer
    }
}

nonisolated(unsafe) private var reporterBuffer: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) private var previousActions: UnsafeMutablePointer<sigaction>?
