import Testing
import WRaftServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct StartupPolicyTests {
    static func options(host: String, advertisedHost: String? = nil) -> NodeOptions {
        var options = NodeOptions(host: host, dataDirectory: "/tmp/unused")
        options.advertisedHost = advertisedHost
        return options
    }

    static let tls = TLSFiles(certificateFile: "n.pem", privateKeyFile: "n-key.pem", trustedCAFile: "ca.pem")

    @Test(arguments: ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "::ffff:127.0.0.1"])
    func plaintextOnLoopbackStartsWithoutWarnings(host: String) throws {
        #expect(StartupPolicy.isLoopback(host))
        #expect(try StartupPolicy.check(Self.options(host: host)).warnings.isEmpty)
    }

    @Test(arguments: ["10.0.0.1", "192.168.1.5", "node1.example.com", "fe80::1", "128.0.0.1", "::2"])
    func plaintextOnANetworkAddressIsRefusedWithHowToFixIt(host: String) throws {
        #expect(!StartupPolicy.isLoopback(host))
        let error = #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(Self.options(host: host)) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("--peer-cert-file") && text.contains("--cert-file") && text.contains("wraft certs init"))
        #expect(text.contains("--insecure-plaintext") && text.contains("127.0.0.1"))
    }

    @Test func everyNonLoopbackPortNeedsItsOwnTLS() throws {
        var peerOnly = Self.options(host: "10.0.0.1")
        peerOnly.peerTLS = Self.tls
        let peerOnlyRefusal = #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(peerOnly) }
        #expect(peerOnlyRefusal?.description.contains("the HTTP port 10.0.0.1:8081") == true)
        #expect(peerOnlyRefusal?.description.contains("the raft port") == false)
        var httpOnly = Self.options(host: "10.0.0.1")
        httpOnly.httpTLS = TLSFiles(certificateFile: "n.pem", privateKeyFile: "n-key.pem")
        let httpOnlyRefusal = #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(httpOnly) }
        #expect(httpOnlyRefusal?.description.contains("the raft port 10.0.0.1:10002") == true)
        #expect(httpOnlyRefusal?.description.contains("the HTTP port") == false)
        var both = peerOnly
        both.httpTLS = httpOnly.httpTLS
        #expect(try StartupPolicy.check(both).warnings.isEmpty)
    }

    @Test func insecurePlaintextStartsButWarnsAboutEachPlaintextPort() throws {
        var options = Self.options(host: "0.0.0.0", advertisedHost: "10.0.0.1")
        options.isInsecurePlaintextAllowed = true
        let verdict = try StartupPolicy.check(options)
        #expect(verdict.warnings.count == 1)
        #expect(verdict.warnings.first?.contains("--insecure-plaintext") == true)
        #expect(verdict.warnings.first?.contains("raft port") == true)
        #expect(verdict.warnings.first?.contains("HTTP port") == true)
        options.peerTLS = Self.tls
        let onlyHTTP = try StartupPolicy.check(options)
        #expect(onlyHTTP.warnings.first?.contains("raft port") == false)
    }

    @Test(arguments: ["0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0", "*", " "])
    func aWildcardAdvertisedAddressIsRefusedEvenWithTLS(host: String) throws {
        #expect(StartupPolicy.isWildcard(host))
        var options = Self.options(host: host)
        options.peerTLS = Self.tls
        options.httpTLS = Self.tls
        options.isInsecurePlaintextAllowed = true
        let refusal = #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(options) }
        #expect(refusal?.description.contains("--advertised-host") == true)
        var advertised = Self.options(host: "127.0.0.1", advertisedHost: host)
        advertised.isInsecurePlaintextAllowed = true
        #expect(throws: StartupPolicy.Refusal.self) { try StartupPolicy.check(advertised) }
    }

    @Test func aWildcardBindWithARealAdvertisedHostAndTLSStarts() throws {
        var options = Self.options(host: "0.0.0.0", advertisedHost: "node1.example.com")
        options.peerTLS = Self.tls
        options.httpTLS = Self.tls
        #expect(try StartupPolicy.check(options).warnings.isEmpty)
        #expect(!StartupPolicy.isWildcard("10.0.0.1"))
        #expect(!StartupPolicy.isLoopback("0.0.0.0"))
    }

    @Test func theOpenFileLimitIsRaisedToTheHardLimit() throws {
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        var original = rlimit()
        #expect(getrlimit(resource, &original) == 0)
        // Lower the soft limit first, so the raise is seen whatever the test runner started with.
        var lowered = original
        lowered.rlim_cur = min(original.rlim_max, 256)
        #expect(setrlimit(resource, &lowered) == 0)
        let limit = try #require(StartupPolicy.raiseOpenFileLimit())
        var now = rlimit()
        #expect(getrlimit(resource, &now) == 0)
        #expect(limit.before == UInt64(lowered.rlim_cur))
        #expect(limit.hard == UInt64(original.rlim_max))
        #if canImport(Glibc)
        #expect(UInt64(now.rlim_cur) == UInt64(original.rlim_max))
        #endif
        #expect(limit.after == UInt64(now.rlim_cur))
        #expect(setrlimit(resource, &original) == 0)
    }
}
