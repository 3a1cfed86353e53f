import Foundation
import NIOCore
import Testing
import WRaftAPI

@Suite struct JSONWriterTests {
    private enum Key: String, CodingKey {
        case s, n, i, b, o, a
    }

    @Test func escapesEverythingJSONRequires() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.field(Key.s, "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} é 🎉")
        writer.field(Key.n, UInt64.max)
        writer.field(Key.i, -3)
        writer.field(Key.b, false)
        writer.field(Key.o, nil as String?)
        writer.key(Key.a)
        writer.beginArray()
        writer.number(1)
        writer.beginObject()
        writer.endObject()
        writer.string(utf8: [0x61, 0x22])
        writer.endArray()
        writer.endObject()
        let text = String(decoding: writer.buffer.readableBytesView, as: UTF8.self)
        #expect(
            text
                == #"{"s":"quote\" backslash\\ newline\n tab\t nul\u0000 bell\u0007 é 🎉","n":18446744073709551615,"i":-3,"b":false,"o":null,"a":[1,{},"a\""]}"#
        )
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["s"] as? String == "quote\" backslash\\ newline\n tab\t nul\u{0} bell\u{7} é 🎉")
    }
}

@Suite struct ErrorCodeTests {
    @Test func everyCodeHasItsOwnWireStringAndAnErrorStatus() {
        let strings = ErrorCode.allCases.map(\.wireString)
        #expect(Set(strings).count == strings.count)
        for code in ErrorCode.allCases {
            #expect((400...599).contains(code.httpStatus), "\(code)")
            #expect(ErrorCode(rawValue: code.wireString) == code)
            #expect(code.wireString.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x61...0x7a).contains($0) }, "\(code)")
        }
    }

    @Test func theStatusesOfAPIMd() {
        // The statuses API.md promises; a change here is a change of the API.
        let promised: [(ErrorCode, Int)] = [
            (.badKey, 400), (.unauthenticated, 401), (.faultsDisabled, 403), (.notFound, 404), (.methodNotAllowed, 405),
            (.clusterConflict, 409), (.notRunning, 409), (.compareFailed, 412), (.valueTooLarge, 413),
            (.unsupportedMediaType, 415), (.misdirectedRequest, 421), (.internal, 500), (.peerUnreachable, 502),
            (.noLeader, 503), (.overloaded, 503), (.unknownOutcome, 504), (.quotaExceeded, 507),
        ]
        for (code, status) in promised {
            #expect(code.httpStatus == status, "\(code)")
        }
    }

    @Test func theCodesOfRevisionsLeasesAndTransactionsDecodeWithTheirStatuses() throws {
        let promised: [(ErrorCode, Int)] = [
            (.badLease, 400), (.badRevision, 400), (.futureRevision, 400), (.duplicateKey, 400), (.leaseNotFound, 404),
            (.leaseExists, 409), (.tooManyLeases, 409), (.compacted, 410), (.tooManyWatchers, 503),
        ]
        for (code, status) in promised {
            #expect(code.httpStatus == status, "\(code)")
            let decoded = try JSONDecoder().decode(
                ErrorBody.self, from: Data(ErrorBody(code: code, message: "m").encodedJSON().readableBytesView))
            #expect(decoded.code == code)
        }
        #expect(ErrorCode(rawValue: "lease_not_found") == .leaseNotFound && ErrorCode(rawValue: "compacted") == .compacted)
    }

    @Test func writeAnswersAndListsCarryRevisionsWhenTheNodeSendsThem() throws {
        let outcome = WriteOutcome(key: "k", index: 7, term: 2, deleted: nil, revision: 5)
        let decoded = try JSONDecoder().decode(WriteOutcome.self, from: Data(outcome.encodedJSON().readableBytesView))
        #expect(decoded == outcome)
        let old = try JSONDecoder().decode(WriteOutcome.self, from: Data(#"{"key":"k","index":7,"term":2}"#.utf8))
        #expect(old.revision == nil)
        let item = ListView.Item.encodedJSON(key: "k", value: [1], index: 3, revisions: (2, 3, 2, 9))
        let decodedItem = try JSONDecoder().decode(ListView.Item.self, from: Data(item.readableBytesView))
        #expect(decodedItem.createRevision == 2 && decodedItem.modRevision == 3 && decodedItem.version == 2)
        #expect(decodedItem.lease == 9)
    }

    @Test func anErrorBodyWithAnUnknownCodeStillDecodes() throws {
        let body = try JSONDecoder().decode(ErrorBody.self, from: Data(#"{"error":"from_the_future","message":"m"}"#.utf8))
        #expect(body.code == nil)
        #expect(body.message == "m")
        let known = try JSONDecoder().decode(
            ErrorBody.self, from: Data(ErrorBody(code: .noLeader, message: "x").encodedJSON().readableBytesView))
        #expect(known.code == .noLeader)
    }

    @Test func listItemsCarryNonUTF8ValuesAsBase64() throws {
        let text = ListView.Item.encodedJSON(key: "k", value: Array("v".utf8), index: 3)
        let binary = ListView.Item.encodedJSON(key: "k", value: [0xff, 0x00], index: 4)
        let decodedText = try JSONDecoder().decode(ListView.Item.self, from: Data(text.readableBytesView))
        let decodedBinary = try JSONDecoder().decode(ListView.Item.self, from: Data(binary.readableBytesView))
        #expect(decodedText == ListView.Item(key: "k", value: "v", index: 3))
        #expect(decodedBinary.encoding == ListView.Item.base64)
        #expect(decodedBinary.valueBytes == [0xff, 0x00])
    }
}
