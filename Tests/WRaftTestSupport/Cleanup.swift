/// Runs `body`, then `cleanup`, whether `body` threw or not, and returns only after both.
///
/// Unlike `defer { Task { cleanup } }`, the test does not return while what it started still
/// runs: a node writing into a directory the test removed, a transport holding its port into the
/// next test. That is what lets the suites run in parallel.
@discardableResult
public func withCleanup<T>(_ body: () async throws -> T, finally cleanup: () async -> Void) async throws -> T {
    let result: Result<T, any Error>
    do {
        result = .success(try await body())
    } catch {
        result = .failure(error)
    }
    await cleanup()
    return try result.get()
}
