import WRaftClient

/// A failure the CLI reports as `Error: <message>` with a non-zero exit code.
struct CLIError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

extension WRaftClientError {
    /// The client error as a CLI error naming the node asked.
    func forCLI(node: String) -> CLIError {
        CLIError("\(node): \(self)")
    }
}
