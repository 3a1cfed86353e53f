import RaftCore
import WRaftServer

/// The control payloads that arrive on the raft port and in membership entries: the JSON
/// `ControlRequest` and `ControlResponse` (`ControlCoding`), the address book's binary form (the
/// context of every membership entry), and RaftCore's `MembershipChange(decoding:)`. The first
/// input byte picks the decoder; the rest is its input.
///
/// Properties, for every input:
/// - each decoder returns a value or throws its typed error;
/// - a decoded value survives a round trip through its encoder unchanged;
/// - the member records a request carries, once accepted into an `AddressBook`, can be stored
///   as a membership context and read back (what a node accepts from the wire must never make
///   the log it writes unreadable);
/// - a decoded address book or membership stays within its declared bounds.
package enum ControlHarness: FuzzHarness {
    package static let name = "Control"

    enum Decoder: UInt8, CaseIterable {
        case request, response, addressBook, membershipChange
    }

    package static func check(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        switch Decoder.allCases[Int(selector) % Decoder.allCases.count] {
        case .request:
            guard let request = try? ControlCoding.decode(ControlRequest.self, from: bytes) else { return }
            let again = try? ControlCoding.decode(ControlRequest.self, from: ControlCoding.encode(request))
            try require(self, again == request, "a decoded control request survives a round trip")
            try checkStorable(records(in: request))
        case .response:
            guard let response = try? ControlCoding.decode(ControlResponse.self, from: bytes) else { return }
            let again = try? ControlCoding.decode(ControlResponse.self, from: ControlCoding.encode(response))
            try require(self, again == response, "a decoded control response survives a round trip")
            try checkStorable(records(in: response))
        case .addressBook:
            guard let book = try? AddressBook(decoding: bytes) else { return }
            try require(self, book.count <= AddressBook.membersMax, "a decoded address book has at most membersMax members")
            let again = try? AddressBook(decoding: book.encoded())
            try require(self, again == book, "a decoded address book survives a round trip")
            let fromRecords = try? AddressBook(records: book.records)
            try require(self, fromRecords == book, "an address book survives a round trip through control records")
        case .membershipChange:
            guard let change = try? MembershipChange(decoding: bytes) else { return }
            try require(
                self, change.membership.members.count <= 2 * MembershipChange.membersMax
                    && change.context.count <= MembershipChange.contextBytesMax,
                "a decoded membership change is within its bounds")
            let again = try? MembershipChange(decoding: change.encoded())
            try require(self, again == change, "a decoded membership change survives a round trip")
        }
    }

    /// Member lists that a receiver turns into an address book (and so into membership entries).
    static func records(in request: ControlRequest) -> [MemberRecord]? {
        switch request {
        case .merge(let members), .start(_, let members): return members
        case .join(let member, _, _): return [member]
        case .invite, .removeMember, .promoteMember, .transferLeadership, .lease: return nil
        }
    }

    static func records(in response: ControlResponse) -> [MemberRecord]? {
        switch response {
        case .members(let members), .running(_, let members), .joined(_, let members): return members
        case .done, .failure, .lease: return nil
        }
    }

    /// Records accepted into a book must encode into a context that decodes to the same book.
    static func checkStorable(_ records: [MemberRecord]?) throws(PropertyViolation) {
        guard let records, let book = try? AddressBook(records: records) else { return }
        let stored: AddressBook?
        do {
            stored = try AddressBook(decoding: book.encoded())
        } catch {
            throw PropertyViolation(
                harness: name, property: "member records accepted from the wire can be stored as a membership context",
                detail: "the stored context does not decode: \(error)")
        }
        try require(self, stored == book, "member records accepted from the wire are stored unchanged")
    }

    package static func seeds() -> [[UInt8]] {
        let members = #"[{"id":"0000000000000001","raftAddress":"127.0.0.1:7001","httpAddress":"127.0.0.1:8001"},"#
            + #"{"id":"0000000000000002","raftAddress":"127.0.0.1:7002","httpAddress":"127.0.0.1:8002"}]"#
        let member = #"{"id":"0000000000000003","raftAddress":"[::1]:7003","httpAddress":"localhost:8003"}"#
        let requests = [
            #"{"merge":{"members":\#(members)}}"#,
            #"{"start":{"clusterID":"00000000000000ab","members":\#(members)}}"#,
            #"{"join":{"member":\#(member),"timeoutMs":5000,"isForwarded":false}}"#,
            #"{"invite":{"raftAddress":"127.0.0.1:7001","timeoutMs":5000}}"#,
            // Near the address bound (AddressBook.addressBytesMax), so mutations cross it.
            #"{"join":{"member":{"id":"4","raftAddress":"\#(String(repeating: "a", count: 1_000)):7004","httpAddress":"h:8004"},"#
                + #""timeoutMs":5000,"isForwarded":false}}"#,
            #"{"removeMember":{"id":"2","timeoutMs":5000,"isForwarded":true}}"#,
            #"{"promoteMember":{"id":"0000000000000003","timeoutMs":5000,"isForwarded":true}}"#,
            #"{"transferLeadership":{"to":"0000000000000002","isForwarded":false}}"#,
        ]
        let responses = [
            #"{"members":{"_0":\#(members)}}"#,
            #"{"running":{"clusterID":"00000000000000ab","members":\#(members)}}"#,
            #"{"done":{}}"#,
            #"{"joined":{"clusterID":"00000000000000ab","members":\#(members)}}"#,
            #"{"failure":{"_0":{"code":"no_leader","message":"no leader","retryAfterMs":500}}}"#,
        ]
        var seeds: [[UInt8]] = []
        seeds += requests.map { [Decoder.request.rawValue] + Array($0.utf8) }
        seeds += responses.map { [Decoder.response.rawValue] + Array($0.utf8) }
        // The book and the membership change in their binary forms, made by their encoders.
        if let book = try? AddressBook(
            records: (try? ControlCoding.decode([MemberRecord].self, from: Array(members.utf8))) ?? [])
        {
            seeds.append([Decoder.addressBook.rawValue] + book.encoded())
            let change = MembershipChange(
                membership: Membership(voters: [NodeID(1), NodeID(2)], learners: [NodeID(3)]),
                change: ConfigChange(.addLearner, NodeID(3)), context: book.encoded())
            seeds.append([Decoder.membershipChange.rawValue] + change.encoded())
        }
        seeds.append([Decoder.addressBook.rawValue] + ((try? AddressBook(decoding: []))?.encoded() ?? []))
        seeds.append(
            [Decoder.membershipChange.rawValue]
                + MembershipChange(membership: Membership(voters: [NodeID(1)]), change: nil).encoded())
        return seeds
    }
}
