import Testing

@testable import WRaftServer

/// Inputs found by the control fuzz target's harness (Fuzz/FuzzControl), fixed here for good.
@Suite struct FuzzRegressionTests {
    /// FuzzControl, property "member records accepted from the wire can be stored as a membership
    /// context" (issue 8: member records from the wire are not validated). A join request whose
    /// member has a 2,005-byte raft address was accepted into an `AddressBook`, whose encoded form
    /// (the context of the membership entry that adds the member) then no longer decoded, since
    /// decoding bounds an address to `AddressBook.addressBytesMax`: every node reading that entry
    /// would fail. A book from the wire now refuses such a record.
    @Test func memberRecordWithOverlongAddressIsRefused() throws {
        let address = String(repeating: "a", count: 2_000) + ":7004"
        let json = #"{"join":{"member":{"id":"4","raftAddress":"\#(address)","httpAddress":"h:8004"},"#
            + #""timeoutMs":5000,"isForwarded":false}}"#
        let request = try ControlCoding.decode(ControlRequest.self, from: Array(json.utf8))
        guard case .join(let member, _, _) = request else {
            Issue.record("decoded \(request), not a join")
            return
        }
        #expect(throws: ControlDecodingError.self) { try AddressBook(records: [member]) }
        // The longest host name (253 bytes, the DNS limit) is still accepted, and the book stores
        // and reads back.
        var bounded = member
        bounded.raftAddress = String(repeating: "a", count: 253) + ":7004"
        #expect(bounded.raftAddress.utf8.count <= AddressBook.addressBytesMax)
        let book = try AddressBook(records: [bounded])
        #expect(try AddressBook(decoding: book.encoded()) == book)
    }
}
