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

/// Prints the seeds of the randomized runs in progress if the process dies in a precondition
/// (a core bug that traps), so they can be replayed. Each concurrently running test writes its
/// own slot. The handler only writes buffers prepared beforehand, then hands the signal to the
/// handler installed before it (Swift's backtracer), so the crash report keeps its backtrace.
enum CrashReporter {
    static let slotCount = 4
    static let slotBytes = 160
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS]

    /// Records (or clears, with nil) the seed a test is running in `slot`.
    static func setSeed(_ seed: UInt64?, slot: Int, label: String) {
        precondition((0..<slotCount).contains(slot), "CrashReporter: slot in range")
        let buffer = buffers + slot * slotBytes
        let text = seed.map { "\n\(label): seed=\($0) was running when the process died\n" } ?? ""
        let bytes = Array(text.utf8.prefix(slotBytes - 1))
        // The first byte is written last, so a handler never sees a half-written line.
        buffer[0] = 0
        buffer[bytes.count] = 0
        for (position, byte) in bytes.enumerated().reversed() { buffer[position] = CChar(bitPattern: byte) }
    }

    /// Allocated and the handlers installed once, on first use (a static's initializer runs once).
    nonisolated(unsafe) private static let buffers: UnsafeMutablePointer<CChar> = {
        let buffers = UnsafeMutablePointer<CChar>.allocate(capacity: slotCount * slotBytes)
        buffers.initialize(repeating: 0, count: slotCount * slotBytes)
        let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 64)
        previous.initialize(repeating: sigaction(), count: 64)
        reporterBuffers = buffers
        previousActions = previous
        for signalNumber in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                if let buffers = reporterBuffers {
                    for slot in 0..<CrashReporter.slotCount {
                        let buffer = buffers + slot * CrashReporter.slotBytes
                        if buffer[0] != 0 { _ = write(2, buffer, strlen(buffer)) }
                    }
                }
                if let previous = previousActions { sigaction(number, previous + Int(number), nil) }
                raise(number)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signalNumber, &action, previous + Int(signalNumber))
        }
        return buffers
    }()
}

nonisolated(unsafe) private var reporterBuffers: UnsafeMutablePointer<CChar>?
nonisolated(unsafe) private var previousActions: UnsafeMutablePointer<sigaction>?
