import Testing
// Replaced by the module's real tests.
@Test func placeholderWRaftServerTests() { #expect(Bool(true)) }
