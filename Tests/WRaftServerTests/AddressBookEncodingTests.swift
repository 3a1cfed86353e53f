import RaftCore
import RaftStorage
import Testing
import WRaftCertificates

@testable import WRaftServer

/// An address book is stored as the context of membership entries: its bytes must never change.
/// The expected bytes are written out by hand from the format (version 2).
@Suite struct AddressBookEncodingTests {
    @Test func bytesFollowTheFormat() throws {
        let key = try #require(PublicKeyFingerprint(bytes: [UInt8](repeating: 0x5A, count: 32)))
        let book = AddressBook([
            NodeID(0x0102): MemberAddress(raftAddress: "h:1", httpAddress: "[::1]:2", fingerprint: key),
            NodeID(1): MemberAddress(raftAddress: "a:9", httpAddress: "a:10"),
        ])
        let expected: [UInt8] =
            [2] + [2, 0, 0, 0]  // version, member count
            + [1, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("a:9".utf8) + [4, 0, 0, 0] + Array("a:10".utf8) + [0]
            + [2, 1, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("h:1".utf8) + [7, 0, 0, 0] + Array("[::1]:2".utf8)
            + [1] + [UInt8](repeating: 0x5A, count: 32)
        #expect(book.encoded() == expected)
        #expect(try AddressBook(decoding: expected) == book)
    }

    /// Version 3 (issue 12): an etcd address per member, written only when some member has one;
    /// a book without any is still version 2, byte for byte (above).
    @Test func etcdAddressesAreVersionThree() throws {
        let book = AddressBook([
            NodeID(1): MemberAddress(raftAddress: "a:9", httpAddress: "a:10", etcdAddress: "a:11"),
            NodeID(2): MemberAddress(raftAddress: "b:9", httpAddress: "b:10"),
        ])
        let expected: [UInt8] =
            [3] + [2, 0, 0, 0]
            + [1, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("a:9".utf8) + [4, 0, 0, 0] + Array("a:10".utf8) + [0]
            + [1] + [4, 0, 0, 0] + Array("a:11".utf8)
            + [2, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("b:9".utf8) + [4, 0, 0, 0] + Array("b:10".utf8) + [0] + [0]
        #expect(book.encoded() == expected)
        #expect(try AddressBook(decoding: expected) == book)
        // A bad flag, and an etcd address that is not host:port, are refused.
        var badFlag = expected
        badFlag[expected.count - 1] = 2
        #expect(throws: AddressBookDecodingError.invalid("etcd address flag 2")) { try AddressBook(decoding: badFlag) }
        let badAddress: [UInt8] =
            [3, 1, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("a:9".utf8) + [4, 0, 0, 0] + Array("a:10".utf8) + [0]
            + [1] + [3, 0, 0, 0] + Array("a:x".utf8)
        #expect(throws: AddressBookDecodingError.self) { try AddressBook(decoding: badAddress) }
    }

    @Test func versionOneBooksWithoutKeysStillDecode() throws {
        let bytes: [UInt8] = [1, 1, 0, 0, 0] + [4, 0, 0, 0, 0, 0, 0, 0] + [3, 0, 0, 0] + Array("b:1".utf8) + [3, 0, 0, 0] + Array("b:2".utf8)
        #expect(try AddressBook(decoding: bytes) == AddressBook([NodeID(4): MemberAddress(raftAddress: "b:1", httpAddress: "b:2")]))
    }

    @Test func theMemberBoundIsTheCoresOne() {
        #expect(AddressBook.membersMax == MembershipChange.membersMax)
        let tooMany: [UInt8] = [2] + withUnsafeBytes(of: UInt32(MembershipChange.membersMax + 1).littleEndian, Array.init)
        #expect(throws: AddressBookDecodingError.invalid("1001 members exceed 1000")) { try AddressBook(decoding: tooMany) }
        #expect(throws: AddressBookDecodingError.invalid("trailing bytes")) { try AddressBook(decoding: [2, 0, 0, 0, 0, 0]) }
    }
}
