import Foundation
import Hummingbird
import Logging

/// The dashboard page (`Sources/WRaftServer/Dashboard/index.html`), read once when the
/// application is built.
///
/// It is looked up by hand instead of through `Bundle.module`, whose accessor stops the
/// process when the resource bundle is missing (a binary copied without its
/// `WRaft_WRaftServer.resources` directory): here a missing page only degrades `GET /` to a
/// short notice, and the API keeps serving.
enum DashboardPage {
    static let resourceBundleName = "WRaft_WRaftServer.resources"

    static func load(logger: Logger) -> ByteBuffer {
        for candidate in candidateURLs() {
            if let data = try? Data(contentsOf: candidate) {
                return ByteBuffer(bytes: data)
            }
        }
        logger.info("dashboard page not found; GET / serves a notice", metadata: ["searched": "\(candidateURLs().map(\.path))"])
        return ByteBuffer(string: missingPageNotice)
    }

    /// Beside the executable (how SwiftPM lays out a build or an install), then the source tree
    /// this file was compiled from (development runs).
    static func candidateURLs() -> [URL] {
        let besideExecutable = Bundle.main.bundleURL
            .appendingPathComponent(resourceBundleName)
            .appendingPathComponent("Dashboard")
            .appendingPathComponent("index.html")
        let inSources = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Dashboard")
            .appendingPathComponent("index.html")
        return [besideExecutable, inSources]
    }

    static let missingPageNotice = """
        <!doctype html><meta charset="utf-8"><title>WRaft</title>
        <p>The dashboard assets (<code>\(resourceBundleName)</code>) are not installed beside this binary.
        The API works: try <a href="/state">/state</a>.</p>
        """
}
