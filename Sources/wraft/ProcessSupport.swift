import Dispatch
import Foundation

/// Where this `wraft` executable is, so `cluster`, `bench --start` and `check` can launch nodes.
enum SelfExecutable {
    static var path: String {
        #if os(Linux)
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return resolved
        }
        #endif
        let argument = CommandLine.arguments[0]
        if argument.contains("/") {
            return URL(fileURLWithPath: argument).standardizedFileURL.path
        }
        return Bundle.main.executablePath ?? argument
    }
}

/// SIGINT and SIGTERM as an async sequence (the default action is turned off).
enum TerminationSignals {
    static func stream() -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            // The handler holds its source, so the source lives as long as the process: the
            // commands that use it run until a signal.
            source.setEventHandler {
                withExtendedLifetime(source) { _ = continuation.yield(signalNumber) }
            }
            source.resume()
        }
        return stream
    }
}

/// Prints a line and flushes it at once, so a reader of a redirected output (a log file, a
/// test) sees progress as it happens rather than when the buffer fills.
func printNow(_ text: String) {
    print(text)
    fflush(nil)
}
