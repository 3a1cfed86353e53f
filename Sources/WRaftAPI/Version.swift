/// The version of this build of WRaft: what `wraft --version` prints, and what a node may
/// report as build information. One constant, changed at a release.
public enum WRaftVersion {
    /// The semantic version of this source tree.
    public static let string = "0.1.0"
}
