import Hummingbird

/// The dashboard page (`Sources/WRaftServer/Dashboard/index.html`), compiled into the binary by
/// the package manager (`resources: [.embedInCode(...)]` in Package.swift), so a binary copied
/// anywhere serves it: no resource bundle to install beside it, and no second copy of the page
/// in the sources to keep in step.
enum DashboardPage {
    /// The page's bytes, byte for byte index.html as it was when the binary was built.
    static var bytes: [UInt8] { PackageResources.index_html }

    /// The page as a buffer, made once when the application is built.
    static func load() -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }
}
