import WRaftClient

/// Why a local cluster could not be started, formed or driven.
public enum LocalClusterError: Error, Sendable, CustomStringConvertible {
    /// The `wraft` executable is not at the path given.
    case executableMissing(path: String)
    /// The options are outside their bounds.
    case invalidOptions(String)
    /// The process could not be spawned.
    case launchFailed(node: Int, reason: String)
    /// The node's process exited while it was expected to run; `logTail` is the end of its log.
    case nodeExited(node: Int, status: Int32, logTail: String)
    /// The node's HTTP port did not answer within the bound.
    case notReachable(node: Int, afterMs: Int, lastError: String)
    /// A `/connect` or `/start` failed.
    case formationFailed(String)
    /// No leader every running node agrees on within the bound.
    case noLeader(afterMs: Int, views: String)
    /// Free ports could not be found or were taken by someone else, after retries.
    case portsUnavailable(String)
    /// No node with that index.
    case unknownNode(Int)
    /// The cluster's CA or a node's certificate could not be made or reused.
    case certificates(node: Int, reason: String)

    public var description: String {
        switch self {
        case .executableMissing(let path):
            return "wraft executable not found at \(path) (build it first: swift build --product wraft)"
        case .invalidOptions(let reason):
            return "invalid cluster options: \(reason)"
        case .launchFailed(let node, let reason):
            return "node \(node): could not start the process: \(reason)"
        case .nodeExited(let node, let status, let logTail):
            return "node \(node): process exited with status \(status); log tail:\n\(logTail)"
        case .notReachable(let node, let afterMs, let lastError):
            return "node \(node): HTTP port not answering after \(afterMs) ms (\(lastError))"
        case .formationFailed(let reason):
            return "cluster formation failed: \(reason)"
        case .noLeader(let afterMs, let views):
            return "no agreed leader after \(afterMs) ms; views:\n\(views)"
        case .portsUnavailable(let reason):
            return "no free ports: \(reason)"
        case .unknownNode(let index):
            return "no node \(index) in this cluster"
        case .certificates(let node, let reason):
            return "node \(node): certificates: \(reason)"
        }
    }
}
