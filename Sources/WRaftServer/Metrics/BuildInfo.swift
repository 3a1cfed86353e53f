import Metrics
import WRaftAPI
import WRaftSupport

/// What this binary is: reported as `wraft_build_info{version=...,swift=...} 1`, so a
/// dashboard can tell the members' builds apart during a rolling upgrade.
public enum BuildInfo {
    /// WRaft's version: the one `wraft --version` prints.
    public static let version = WRaftVersion.string

    /// The Swift compiler that built this binary, to the minor version.
    public static let swiftVersion: String = {
        #if compiler(>=7.0)
        return "7+"
        #elseif compiler(>=6.5)
        return "6.5"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #else
        return "older than 6.2"
        #endif
    }()

    static let family = MetricDescription(
        "wraft_build_info", .gauge, help: "Always 1; its labels name the WRaft version and the Swift compiler of this binary.")

    /// Sets `wraft_build_info` (once per process is enough; again is harmless).
    static func report() {
        Gauge(label: family.name, dimensions: [("version", version), ("swift", swiftVersion)]).record(1)
    }
}
