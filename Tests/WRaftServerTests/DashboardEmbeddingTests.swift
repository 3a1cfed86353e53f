import Foundation
import Testing

@testable import WRaftServer

/// The page compiled into the binary is index.html, byte for byte: they cannot drift apart
/// (after changing index.html, run `python3 scripts/embed-dashboard.py`).
@Suite struct DashboardEmbeddingTests {
    @Test func theEmbeddedPageIsIndexHTML() throws {
        let indexHTML = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/WRaftServer/Dashboard/index.html")
        let source = try Data(contentsOf: indexHTML)
        #expect(source.count > 1_000)
        #expect(Array(DashboardPage.embeddedHTML.utf8) == Array(source))
        let page = DashboardPage.load()
        #expect(page.readableBytes == source.count)
    }
}
