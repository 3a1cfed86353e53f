import Crypto
import Foundation
import NIOSSL
import Testing
import WRaftCertificates
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct CertificateFilesTests {
    static func makeDirectory() -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("wraft-certs-\(UUID().uuidString.prefix(8))").path
        return path
    }

    static func mode(_ path: String) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { return 0 }
        return status.st_mode & 0o777
    }

    @Test func filesRoundTripWithPrivateKeysAndAPrivateDirectory() async throws {
        let directory = Self.makeDirectory() + "/nested/certs"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CertificateAuthority.make()
        try CertificateFiles.writeAuthority(authority, to: directory)
        let issued = try authority.issue(name: "node1", hosts: [.ipAddress([127, 0, 0, 1])])
        try CertificateFiles.writeIssued(issued, name: "node1", to: directory)

        #expect(Self.mode(directory) == 0o700)
        #expect(Self.mode(CertificateFiles.authorityKeyPath(in: directory)) == 0o600)
        #expect(Self.mode(CertificateFiles.keyPath(name: "node1", in: directory)) == 0o600)
        #expect(Self.mode(CertificateFiles.authorityCertificatePath(in: directory)) == 0o644)
        #expect(Self.mode(CertificateFiles.certificatePath(name: "node1", in: directory)) == 0o644)

        let readAuthority = try CertificateFiles.readAuthority(from: directory)
        #expect(readAuthority.certificate == authority.certificate)
        #expect(readAuthority.privateKey.rawRepresentation == authority.privateKey.rawRepresentation)
        let readIssued = try CertificateFiles.readIssued(name: "node1", from: directory)
        #expect(readIssued.certificate == issued.certificate)
        #expect(await readAuthority.verifies(readIssued.certificate))

        // What the transport and the HTTP server load: NIOSSL takes the same files.
        let chain = try NIOSSLCertificate.fromPEMFile(CertificateFiles.certificatePath(name: "node1", in: directory))
        #expect(chain.count == 1)
        _ = try NIOSSLPrivateKey(file: CertificateFiles.keyPath(name: "node1", in: directory), format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: CertificateFiles.keyPath(name: "node1", in: directory), format: .pem)))
        configuration.trustRoots = .file(CertificateFiles.authorityCertificatePath(in: directory))
        configuration.certificateVerification = .noHostnameVerification
        _ = try NIOSSLContext(configuration: configuration)
    }

    @Test func existingFilesAreNeverOverwritten() throws {
        let directory = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CertificateAuthority.make()
        try CertificateFiles.writeAuthority(authority, to: directory)
        let before = try String(contentsOfFile: CertificateFiles.authorityKeyPath(in: directory), encoding: .utf8)
        #expect(throws: WRaftCertificateError.fileExists(path: CertificateFiles.authorityCertificatePath(in: directory))) {
            try CertificateFiles.writeAuthority(try CertificateAuthority.make(), to: directory)
        }
        #expect(try String(contentsOfFile: CertificateFiles.authorityKeyPath(in: directory), encoding: .utf8) == before)

        let issued = try authority.issue(name: "n", hosts: [.dnsName("n")])
        try CertificateFiles.writeIssued(issued, name: "n", to: directory)
        #expect(throws: WRaftCertificateError.fileExists(path: CertificateFiles.certificatePath(name: "n", in: directory))) {
            try CertificateFiles.writeIssued(issued, name: "n", to: directory)
        }
        // A lone key left behind (say by a crash) also blocks the write rather than being replaced.
        _ = FileManager.default.createFile(atPath: CertificateFiles.keyPath(name: "m", in: directory), contents: Data("x".utf8))
        #expect(throws: WRaftCertificateError.fileExists(path: CertificateFiles.keyPath(name: "m", in: directory))) {
            try CertificateFiles.writeIssued(issued, name: "m", to: directory)
        }
        #expect(!FileManager.default.fileExists(atPath: CertificateFiles.certificatePath(name: "m", in: directory)))
    }

    @Test func badFilesAreTypedErrorsNamingThePath() throws {
        let directory = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: WRaftCertificateError.fileMissing(path: CertificateFiles.authorityCertificatePath(in: directory))) {
            try CertificateFiles.readAuthority(from: directory)
        }
        let authority = try CertificateAuthority.make()
        try CertificateFiles.writeAuthority(authority, to: directory)
        let issued = try authority.issue(name: "n", hosts: [.dnsName("n")])
        try CertificateFiles.writeIssued(issued, name: "n", to: directory)

        // A member certificate used as a CA.
        let memberAsCA = directory + "/member-as-ca"
        try FileManager.default.createDirectory(atPath: memberAsCA, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: CertificateFiles.certificatePath(name: "n", in: directory),
            toPath: CertificateFiles.authorityCertificatePath(in: memberAsCA))
        try FileManager.default.copyItem(
            atPath: CertificateFiles.keyPath(name: "n", in: directory), toPath: CertificateFiles.authorityKeyPath(in: memberAsCA))
        #expect(throws: WRaftCertificateError.notACertificateAuthority(path: CertificateFiles.authorityCertificatePath(in: memberAsCA))) {
            try CertificateFiles.readAuthority(from: memberAsCA)
        }

        // The CA's key next to a member's certificate.
        let keyPath = CertificateFiles.keyPath(name: "n", in: directory)
        try FileManager.default.removeItem(atPath: keyPath)
        try FileManager.default.copyItem(atPath: CertificateFiles.authorityKeyPath(in: directory), toPath: keyPath)
        #expect(
            throws: WRaftCertificateError.keyMismatch(
                certificatePath: CertificateFiles.certificatePath(name: "n", in: directory), keyPath: keyPath)
        ) { try CertificateFiles.readIssued(name: "n", from: directory) }

        // Garbage, and a file too large to be a certificate.
        let garbage = directory + "/garbage.pem"
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("-----BEGIN CERTIFICATE-----\nnope\n".utf8))
        let garbageError = #expect(throws: WRaftCertificateError.self) { try CertificateFiles.readCertificate(at: garbage) }
        #expect(garbageError?.description.hasPrefix("\(garbage) is not a valid PEM file") == true)
        let huge = directory + "/huge.pem"
        _ = FileManager.default.createFile(atPath: huge, contents: Data(count: CertificateFiles.fileBytesMax + 1))
        let hugeError = #expect(throws: WRaftCertificateError.self) { try CertificateFiles.readPrivateKey(at: huge) }
        #expect(hugeError == .unreadable(path: huge, reason: "larger than \(CertificateFiles.fileBytesMax) bytes"))
        #expect(throws: WRaftCertificateError.self) { try CertificateFiles.readCertificate(at: directory) }
    }

    @Test func readOrIssueReusesAGoodCertificateAndRefusesAForeignOne() async throws {
        let directory = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CertificateFiles.readOrMakeAuthority(in: directory)
        let again = try CertificateFiles.readOrMakeAuthority(in: directory)
        #expect(again.certificate == authority.certificate, "the CA is reused")
        let hosts: [CertificateHost] = [.ipAddress([127, 0, 0, 1])]
        let first = try await CertificateFiles.readOrIssue(name: "node-0", hosts: hosts, by: authority, in: directory)
        let second = try await CertificateFiles.readOrIssue(name: "node-0", hosts: hosts, by: authority, in: directory)
        #expect(first.certificate == second.certificate, "the certificate is reused")
        await #expect(throws: WRaftCertificateError.self) {
            try await CertificateFiles.readOrIssue(
                name: "node-0", hosts: hosts + [.dnsName("elsewhere")], by: authority, in: directory)
        }
        let stranger = try CertificateAuthority.make()
        await #expect(throws: WRaftCertificateError.self) {
            try await CertificateFiles.readOrIssue(name: "node-0", hosts: hosts, by: stranger, in: directory)
        }
    }

    @Test func opensslVerifiesTheChain() throws {
        guard let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: FileManager.default.isExecutableFile)
        else {
            print("skipped: openssl is not installed")
            return
        }
        let directory = Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authority = try CertificateAuthority.make()
        try CertificateFiles.writeAuthority(authority, to: directory)
        try CertificateFiles.writeIssued(
            try authority.issue(name: "node1", hosts: [.ipAddress([127, 0, 0, 1]), .dnsName("node1.example.com")]),
            name: "node1", to: directory)
        let stranger = try CertificateAuthority.make()
        try CertificateFiles.writeIssued(
            try stranger.issue(name: "other", hosts: [.dnsName("other")]), name: "other", to: directory)

        func verify(_ extra: [String], _ name: String) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = ["verify", "-CAfile", CertificateFiles.authorityCertificatePath(in: directory)] + extra
                + [CertificateFiles.certificatePath(name: name, in: directory)]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let server = try verify(["-purpose", "sslserver", "-verify_ip", "127.0.0.1"], "node1")
        #expect(server.0 == 0, "\(server.1)")
        let client = try verify(["-purpose", "sslclient", "-verify_hostname", "node1.example.com"], "node1")
        #expect(client.0 == 0, "\(client.1)")
        let wrongIP = try verify(["-verify_ip", "10.9.9.9"], "node1")
        #expect(wrongIP.0 != 0, "a host the certificate does not name fails")
        let foreign = try verify([], "other")
        #expect(foreign.0 != 0, "a certificate from another CA fails: \(foreign.1)")
    }
}
