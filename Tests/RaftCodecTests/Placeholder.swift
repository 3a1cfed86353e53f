import Testing
// Replaced by the module's real tests.
@Test func placeholderRaftCodecTests() { #expect(Bool(true)) }
