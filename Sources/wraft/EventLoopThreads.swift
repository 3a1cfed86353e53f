import ArgumentParser

/// `--threads`: how many event-loop threads a process runs. They carry its HTTP connections, its
/// peer connections and its Swift tasks (the node's actor included); storage has a thread of its
/// own besides.
///
/// The count is fixed before anything runs, so `WRaftMain` reads it from the raw arguments before
/// they are parsed; `serve` and `cluster` declare and validate the same option.
enum EventLoopThreads {
    static let optionName = "--threads"
    static let range = 1...256

    /// Refuses a `--threads` value outside `range` (`serve` and `cluster` both take it).
    static func validate(_ threads: Int?) throws {
        if let threads, !range.contains(threads) {
            throw ValidationError("--threads must be in \(range)")
        }
    }

    /// The value given with `--threads N` or `--threads=N`, when it is a valid count.
    static func requested(in arguments: [String]) -> Int? {
        for (position, argument) in arguments.enumerated() {
            if argument == optionName, position + 1 < arguments.count {
                return valid(arguments[position + 1])
            }
            if argument.hasPrefix(optionName + "=") {
                return valid(String(argument.dropFirst(optionName.count + 1)))
            }
        }
        return nil
    }

    private static func valid(_ text: String) -> Int? {
        guard let count = Int(text), range.contains(count) else { return nil }
        return count
    }
}
