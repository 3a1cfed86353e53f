import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import Testing
import WRaftCertificates
import X509

@Suite struct CertificateAuthorityTests {
    static let hosts: [CertificateHost] = [
        .ipAddress([127, 0, 0, 1]), .ipAddress([10, 0, 0, 7]), .dnsName("localhost"), .dnsName("node1.example.com"),
    ]

    @Test func theCAIsASelfSignedCertificateAuthorityValidForTenYears() async throws {
        let now = Date()
        let authority = try CertificateAuthority.make(now: now)
        let certificate = authority.certificate
        #expect(certificate.issuer == certificate.subject)
        #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let usage = try #require(try certificate.extensions.keyUsage)
        #expect(usage.keyCertSign)
        #expect(CertificateAuthority.isCertificateAuthority(certificate))
        let years = certificate.notValidAfter.timeIntervalSince(now) / (365 * 86_400)
        #expect(years > 9.9 && years < 10.1)
        #expect(await authority.verifies(certificate), "the CA verifies as its own root")
    }

    @Test func anIssuedCertificateChainsToItsCAAndNamesEveryHost() async throws {
        let now = Date()
        let authority = try CertificateAuthority.make(now: now)
        let issued = try authority.issue(name: "node-1", hosts: Self.hosts, now: now)
        let certificate = issued.certificate

        #expect(await authority.verifies(certificate), "the Verifier accepts the chain")
        #expect(certificate.issuer == authority.certificate.subject)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(!CertificateAuthority.isCertificateAuthority(certificate))
        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth) && usages.contains(.clientAuth))
        #expect(issued.hosts == Self.hosts)
        let alternativeNames = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(alternativeNames.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))))
        #expect(alternativeNames.contains(.dnsName("node1.example.com")))
        #expect(certificate.subject.description.contains("CN=node-1"))
        let days = certificate.notValidAfter.timeIntervalSince(now) / 86_400
        #expect(days > 364.9 && days < 365.1)
        #expect(certificate.notValidBefore < now, "a peer whose clock is a little behind accepts it")
        #expect(certificate.publicKey == Certificate.PublicKey(issued.privateKey.publicKey))
    }

    @Test func aCertificateFromAnotherCAOrOutOfItsValidityDoesNotVerify() async throws {
        let now = Date()
        let authority = try CertificateAuthority.make(now: now)
        let stranger = try CertificateAuthority.make(now: now)
        let issued = try stranger.issue(name: "intruder", hosts: [.ipAddress([127, 0, 0, 1])], now: now)
        #expect(!(await authority.verifies(issued.certificate)))
        #expect(await stranger.verifies(issued.certificate))
        #expect(!(await stranger.verifies(issued.certificate, until: now + 400 * 86_400)), "expired after a year")
        let future = try stranger.issue(name: "later", hosts: [.ipAddress([127, 0, 0, 1])], now: now + 2 * 86_400)
        #expect(!(await stranger.verifies(future.certificate)), "not yet valid")
    }

    @Test func serialsAreRandomAndAnIssuedCertificateNeverOutlivesItsCA() throws {
        let now = Date()
        let authority = try CertificateAuthority.make(validityDays: 30, now: now)
        let first = try authority.issue(name: "a", hosts: [.dnsName("a")], now: now)
        let second = try authority.issue(name: "a", hosts: [.dnsName("a")], now: now)
        #expect(first.certificate.serialNumber != second.certificate.serialNumber)
        #expect(first.certificate.notValidAfter == authority.certificate.notValidAfter)
    }

    @Test func badNamesHostsAndValiditiesAreTypedErrors() throws {
        let authority = try CertificateAuthority.make()
        #expect(throws: WRaftCertificateError.invalidHostCount(0)) { try authority.issue(name: "n", hosts: []) }
        #expect(throws: WRaftCertificateError.invalidValidity(days: 0, range: CertificateAuthority.validityDaysRange)) {
            try authority.issue(name: "n", hosts: [.dnsName("n")], validityDays: 0)
        }
        #expect(throws: WRaftCertificateError.invalidValidity(days: 40_000, range: CertificateAuthority.validityDaysRange)) {
            try CertificateAuthority.make(validityDays: 40_000)
        }
        for name in ["", "ca", "x-key", "../etc", "a/b", ".hidden", "-flag", String(repeating: "n", count: 65), "sp ace"] {
            #expect(throws: WRaftCertificateError.self, "\(name)") { try authority.issue(name: name, hosts: [.dnsName("n")]) }
        }
        for name in ["node1", "client.admin", "n_2", String(repeating: "n", count: 64)] {
            #expect(throws: Never.self) { try CertificateFiles.checkName(name) }
        }
    }

    @Test func hostsParseAsIPAddressesOrDNSNames() throws {
        #expect(try CertificateHost(parsing: "127.0.0.1") == .ipAddress([127, 0, 0, 1]))
        #expect(try CertificateHost(parsing: "::1") == .ipAddress(Array(repeating: 0, count: 15) + [1]))
        #expect(try CertificateHost(parsing: "[::1]") == .ipAddress(Array(repeating: 0, count: 15) + [1]))
        #expect(try CertificateHost(parsing: "Node1.Example.com") == .dnsName("node1.example.com"))
        #expect(try CertificateHost(parsing: "::1").description == "::1")
        #expect(try CertificateHost(parsing: "10.1.2.3").description == "10.1.2.3")
        for bad in ["", "256.1.1.1", "10.0.0", "a..b", "-a.b", "a-.b", "a_b", "a b", "fe80::zz", String(repeating: "a", count: 64)] {
            #expect(throws: WRaftCertificateError.self, "\(bad)") { try CertificateHost(parsing: bad) }
        }
        #expect(try CertificateHost.parseList("127.0.0.1, localhost,,127.0.0.1") == [.ipAddress([127, 0, 0, 1]), .dnsName("localhost")])
        let tooMany = (0..<65).map { "h\($0)" }.joined(separator: ",")
        #expect(throws: WRaftCertificateError.invalidHostCount(65)) { try CertificateHost.parseList(tooMany) }
    }
}
