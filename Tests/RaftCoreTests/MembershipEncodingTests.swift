import Testing

@testable import RaftCore

/// The membership entry's bytes are stored in logs and snapshots: they must never change. The
/// expected bytes are written out by hand from the documented layout.
@Suite struct MembershipEncodingTests {
    @Test func bytesFollowTheDocumentedLayout() throws {
        let change = MembershipChange(
            membership: Membership(voters: [NodeID(2), NodeID(1)], learners: [NodeID(0x0304)]),
            change: ConfigChange(.addLearner, NodeID(0x0304)), context: [0xAA, 0xBB])
        let expected: [UInt8] =
            [1]  // version
            + [2, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0]  // voters, sorted
            + [1, 0, 0, 0] + [4, 3, 0, 0, 0, 0, 0, 0]  // learners
            + [1, 0] + [4, 3, 0, 0, 0, 0, 0, 0]  // a change: add learner 0x0304
            + [2, 0, 0, 0, 0xAA, 0xBB]  // context
        #expect(change.encoded() == expected)
        #expect(try MembershipChange(decoding: expected) == change)

        let plain = MembershipChange(membership: Membership(voters: [NodeID(7)]), change: nil, context: [])
        let plainBytes: [UInt8] = [1, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(plain.encoded() == plainBytes)
        #expect(try MembershipChange(decoding: plainBytes) == plain)
    }

    @Test func malformedBytesThrowTheFormatsOwnErrors() {
        let valid = MembershipChange(membership: Membership(voters: [NodeID(1)]), change: nil, context: [1]).encoded()
        for length in 0..<valid.count {
            #expect(throws: MembershipDecodingError.self) { try MembershipChange(decoding: Array(valid.prefix(length))) }
        }
        #expect(throws: MembershipDecodingError.truncated) { try MembershipChange(decoding: []) }
        #expect(throws: MembershipDecodingError.unknownVersion(2)) { try MembershipChange(decoding: [2]) }
        #expect(throws: MembershipDecodingError.invalid("trailing bytes")) { try MembershipChange(decoding: valid + [0]) }
        // A voter count above the one members bound.
        let tooMany = [1] + withUnsafeBytes(of: UInt32(MembershipChange.membersMax + 1).littleEndian, Array.init)
            + [UInt8](repeating: 0, count: 8 * (MembershipChange.membersMax + 1))
        #expect(throws: MembershipDecodingError.self) { try MembershipChange(decoding: tooMany) }
        // The same id twice.
        let duplicate: [UInt8] = [1, 2, 0, 0, 0] + [5, 0, 0, 0, 0, 0, 0, 0] + [5, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(throws: MembershipDecodingError.invalid("duplicate member id")) { try MembershipChange(decoding: duplicate) }
    }
}
