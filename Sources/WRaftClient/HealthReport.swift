import WRaftAPI

/// A node's answer to `GET /health`, whether it serves or not.
public struct HealthReport: Sendable, Equatable {
    /// 200 when the node serves; an error status (503) when it does not.
    public var httpStatus: Int
    public var health: HealthView
    /// Why the node does not serve, in its own words; nil when it serves.
    public var reason: String?

    public init(httpStatus: Int, health: HealthView, reason: String?) {
        self.httpStatus = httpStatus
        self.health = health
        self.reason = reason
    }

    /// True when the node answered 2xx and says it serves.
    public var isHealthy: Bool { (200..<300).contains(httpStatus) && health.serving }
}
