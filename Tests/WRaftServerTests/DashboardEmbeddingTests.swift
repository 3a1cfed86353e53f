import Foundation
import Testing

@testable import WRaftServer

/// The page compiled into the binary is index.html, byte for byte: the package manager embeds
/// the file itself at build time, and this test checks the build did so.
@Suite struct DashboardEmbeddingTests {
    @Test func theEmbeddedPageIsIndexHTML() throws {
        let indexHTML = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/WRaftServer/Dashboard/index.html")
        let source = try Data(contentsOf: indexHTML)
        #expect(source.count > 1_000)
        #expect(DashboardPage.bytes == Array(source))
        let page = DashboardPage.load()
        #expect(page.readableBytes == source.count)
        #expect(page.getString(at: 0, length: 15) == "<!doctype html>")
    }
}
