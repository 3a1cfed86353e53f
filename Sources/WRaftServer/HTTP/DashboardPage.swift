import Hummingbird

/// The dashboard page (`Sources/WRaftServer/Dashboard/index.html`), compiled into the binary
/// as `embeddedHTML` (`DashboardPage+Embedded.swift`, written by `scripts/embed-dashboard.py`),
/// so a binary copied anywhere serves it: no resource bundle to install beside it.
enum DashboardPage {
    /// The page's bytes, made once when the application is built.
    static func load() -> ByteBuffer {
        ByteBuffer(string: embeddedHTML)
    }
}
