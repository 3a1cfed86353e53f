import Testing
import WRaftSupport

@Suite struct HostPortTests {
    @Test(arguments: [
        ("127.0.0.1:1", "127.0.0.1", 1),
        ("node-1.example.com:65535", "node-1.example.com", 65_535),
        ("h_x:80", "h_x", 80),
        ("[::1]:80", "::1", 80),
        ("[fe80::1:2]:10002", "fe80::1:2", 10_002),
        ("[::ffff:127.0.0.1]:9", "::ffff:127.0.0.1", 9),
        ("localhost:00080", "localhost", 80),
    ])
    func wellFormedAddressesParse(_ text: String, _ host: String, _ port: Int) throws {
        let parsed = try HostPort(parsing: text)
        #expect(parsed == HostPort(host: host, port: port))
    }

    @Test func descriptionBracketsAnIPv6HostAndParsesBack() throws {
        #expect(HostPort(host: "::1", port: 80).description == "[::1]:80")
        #expect(HostPort(host: "h", port: 1).description == "h:1")
        for text in ["[::1]:80", "h:1", "10.0.0.1:65535"] {
            #expect(try HostPort(parsing: text).description == text)
        }
    }

    @Test(arguments: [
        ("", HostPortError.missingPort),
        ("localhost", .missingPort),
        ("h:", .missingPort),
        (":80", .emptyHost),
        ("h:0", .portOutOfRange),
        ("h:65536", .portOutOfRange),
        ("h:123456", .portOutOfRange),
        ("h:+80", .portOutOfRange),
        ("h: 80", .portOutOfRange),
        ("h:８0", .portOutOfRange),
        ("h:http", .portOutOfRange),
        ("::1:80", .unbracketedIPv6),
        ("ftp://h:1", .unbracketedIPv6),
        ("[]:80", .malformedIPv6),
        ("[:80", .malformedIPv6),
        ("[::1:80", .malformedIPv6),
        ("[zz]:80", .malformedIPv6),
        ("[1.2.3.4]:80", .malformedIPv6),
        ("h h:80", .malformedHost),
        ("-h:80", .malformedHost),
        (".h:80", .malformedHost),
        ("h/x:80", .malformedHost),
        ("user@h:80", .malformedHost),
        ("h\u{0}:80", .malformedHost),
        ("é:80", .malformedHost),
    ])
    func malformedAddressesAreRefused(_ text: String, _ error: HostPortError) {
        #expect(throws: error) { try HostPort(parsing: text) }
    }

    @Test func lengthsAreBoundedByTheDNSLimit() throws {
        let longest = String(repeating: "a", count: HostPort.hostBytesMax)
        #expect(try HostPort(parsing: longest + ":65535").host == longest)
        #expect((longest + ":65535").utf8.count <= HostPort.textBytesMax)
        // One byte more in the host: refused even though the text fits the overall bound.
        #expect(throws: HostPortError.tooLong(bytes: 254)) { try HostPort(parsing: longest + "a:1") }
        #expect(throws: HostPortError.tooLong(bytes: 2_005)) {
            try HostPort(parsing: String(repeating: "a", count: 2_000) + ":7004")
        }
    }
}
