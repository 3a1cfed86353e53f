import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `wraft certs init/issue`: files, permissions, refusals and their exit codes. No node needed.
@Suite struct CertsCommandTests {
    static func mode(_ path: String) -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { return 0 }
        return status.st_mode & 0o777
    }

    @Test func initAndIssueWritePrivateKeysThatOpenSSLVerifies() async throws {
        let root = ClusterFixture.makeDirectory("certs-cli")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/certs"
        let initialized = try await CommandRunner.run(["certs", "init", "--dir", directory])
        #expect(initialized.status == 0, "\(initialized.standardError)")
        #expect(initialized.standardOutput.contains("ca.pem"))
        #expect(Self.mode(directory) == 0o700)
        #expect(Self.mode(directory + "/ca-key.pem") == 0o600)
        #expect(Self.mode(directory + "/ca.pem") == 0o644)

        let issued = try await CommandRunner.run(
            ["certs", "issue", "--dir", directory, "--name", "node1", "--host", "127.0.0.1,node1.example.com"])
        #expect(issued.status == 0, "\(issued.standardError)")
        #expect(issued.standardOutput.contains("--peer-cert-file \(directory)/node1.pem"))
        #expect(Self.mode(directory + "/node1-key.pem") == 0o600)
        #expect(Self.mode(directory + "/node1.pem") == 0o644)
        let certificate = try String(contentsOfFile: directory + "/node1.pem", encoding: .utf8)
        #expect(certificate.hasPrefix("-----BEGIN CERTIFICATE-----"))
        let key = try String(contentsOfFile: directory + "/node1-key.pem", encoding: .utf8)
        #expect(key.contains("PRIVATE KEY-----"))

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            print("skipped the openssl check: /usr/bin/openssl is not installed")
            return
        }
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        verify.arguments = [
            "verify", "-CAfile", directory + "/ca.pem", "-purpose", "sslserver", "-verify_ip", "127.0.0.1",
            directory + "/node1.pem",
        ]
        verify.standardOutput = FileHandle.nullDevice
        verify.standardError = FileHandle.nullDevice
        try verify.run()
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0)
    }

    @Test func refusalsHaveDistinctExitCodesAndSayWhy() async throws {
        let root = ClusterFixture.makeDirectory("certs-cli-errors")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = root + "/certs"

        let noCA = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "n", "--host", "127.0.0.1"])
        #expect(noCA.status == 66, "\(noCA.standardError)")
        #expect(noCA.standardError.contains("ca.pem does not exist"))

        #expect(try await CommandRunner.run(["certs", "init", "--dir", directory]).status == 0)
        let caKey = try String(contentsOfFile: directory + "/ca-key.pem", encoding: .utf8)
        let again = try await CommandRunner.run(["certs", "init", "--dir", directory])
        #expect(again.status == 73, "\(again.standardError)")
        #expect(again.standardError.contains("not overwriting"))
        #expect(try String(contentsOfFile: directory + "/ca-key.pem", encoding: .utf8) == caKey, "the CA key is untouched")

        #expect(try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "n", "--host", "::1"]).status == 0)
        let twice = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "n", "--host", "::1"])
        #expect(twice.status == 73)

        let badHost = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "m", "--host", "a_b!"])
        #expect(badHost.status == 64, "\(badHost.standardError)")
        #expect(badHost.standardError.contains("invalid host"))
        let noHost = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "m", "--host", ","])
        #expect(noHost.status == 64)
        let badName = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "../x", "--host", "::1"])
        #expect(badName.status == 64)
        #expect(badName.standardError.contains("invalid certificate name"))
        let reserved = try await CommandRunner.run(["certs", "issue", "--dir", directory, "--name", "ca", "--host", "::1"])
        #expect(reserved.status == 64)
        let badDays = try await CommandRunner.run(["certs", "init", "--dir", root + "/other", "--validity-days", "0"])
        #expect(badDays.status == 64)
        #expect(!FileManager.default.fileExists(atPath: root + "/other/ca.pem"))

        // A broken CA file is a data error, not a missing one.
        let broken = root + "/broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: broken + "/ca.pem", contents: Data("garbage".utf8))
        _ = FileManager.default.createFile(atPath: broken + "/ca-key.pem", contents: Data("garbage".utf8))
        let malformed = try await CommandRunner.run(["certs", "issue", "--dir", broken, "--name", "n", "--host", "::1"])
        #expect(malformed.status == 65, "\(malformed.standardError)")
        #expect(malformed.standardError.contains("not a valid PEM file"))
    }
}

/// `wraft serve`'s start-up policy, as an operator meets it. No node is left running: a refused
/// node exits before binding anything.
@Suite struct ServeStartupPolicyTests {
    @Test func plaintextOnANetworkAddressIsRefusedWithHowToFixIt() async throws {
        let directory = ClusterFixture.makeDirectory("policy-refused")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 192.0.2.0/24 is TEST-NET-1: never this machine's, so nothing could bind it anyway.
        let refused = try await CommandRunner.run(["serve", "--host", "192.0.2.10", "--data-dir", directory + "/node"])
        #expect(refused.status != 0)
        #expect(refused.standardError.contains("refusing to serve plaintext"), "\(refused.standardError)")
        #expect(refused.standardError.contains("--peer-cert-file"))
        #expect(refused.standardError.contains("wraft certs init"))
        #expect(refused.standardError.contains("--insecure-plaintext"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/node"), "nothing was created")
    }

    @Test func insecurePlaintextWarnsAtStart() async throws {
        let directory = ClusterFixture.makeDirectory("policy-warned")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let warned = try await CommandRunner.run(
            ["serve", "--host", "192.0.2.10", "--insecure-plaintext", "--data-dir", directory + "/node"])
        // It gets past the policy, warns, then cannot bind an address that is not this machine's.
        #expect(warned.standardError.contains("--insecure-plaintext: the raft port"), "\(warned.standardError)")
        #expect(warned.status != 0)
    }

    @Test func aWildcardAdvertisedAddressIsRefused() async throws {
        let directory = ClusterFixture.makeDirectory("policy-wildcard")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wildcard = try await CommandRunner.run(
            ["serve", "--host", "0.0.0.0", "--insecure-plaintext", "--data-dir", directory + "/node"])
        #expect(wildcard.status != 0)
        #expect(wildcard.standardError.contains("set --advertised-host"), "\(wildcard.standardError)")
    }

    @Test func peerTLSFilesAreCheckedBeforeAnythingStarts() async throws {
        let root = ClusterFixture.makeDirectory("policy-files")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (directory, name) in [("a", "n1"), ("b", "n1")] {
            #expect(try await CommandRunner.run(["certs", "init", "--dir", root + "/" + directory]).status == 0)
            #expect(try await CommandRunner.run(
                ["certs", "issue", "--dir", root + "/" + directory, "--name", name, "--host", "127.0.0.1"]).status == 0)
        }
        func serve(certificate: String, key: String, authority: String, dataDir: String) async throws -> CommandRunner.Outcome {
            try await CommandRunner.run([
                "serve", "--data-dir", dataDir, "--http-port", "1", "--raft-port", "2", "--peer-cert-file", certificate,
                "--peer-key-file", key, "--peer-trusted-ca-file", authority,
            ])
        }
        let missing = try await serve(
            certificate: root + "/a/absent.pem", key: root + "/a/n1-key.pem", authority: root + "/a/ca.pem", dataDir: root + "/d1")
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("/a/absent.pem does not exist"), "\(missing.standardError)")
        let foreign = try await serve(
            certificate: root + "/b/n1.pem", key: root + "/b/n1-key.pem", authority: root + "/a/ca.pem", dataDir: root + "/d2")
        #expect(foreign.status != 0)
        #expect(foreign.standardError.contains("not a valid certificate issued by \(root)/a/ca.pem"), "\(foreign.standardError)")
        #expect(!FileManager.default.fileExists(atPath: root + "/d1") && !FileManager.default.fileExists(atPath: root + "/d2"))

        // The right files pass the check: the node starts (and is stopped by its pid).
        let first = try bindLoopbackSocket(listening: false)
        let second = try bindLoopbackSocket(listening: false)
        let ports = [first.port, second.port]
        close(first.descriptor)
        close(second.descriptor)
        let process = try CommandRunner.start([
            "serve", "--data-dir", root + "/d3", "--http-port", String(ports[0]), "--raft-port", String(ports[1]),
            "--peer-cert-file", root + "/a/n1.pem", "--peer-key-file", root + "/a/n1-key.pem", "--peer-trusted-ca-file",
            root + "/a/ca.pem",
        ], standardOutputPath: root + "/d3.out", standardErrorPath: root + "/d3.err")
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let serving = await eventually(timeoutMs: 20_000, pollMs: 50) {
            ((try? String(contentsOfFile: root + "/d3.err", encoding: .utf8)) ?? "").contains("serving") || !process.isRunning
        }
        #expect(serving && process.isRunning, "\((try? String(contentsOfFile: root + "/d3.err", encoding: .utf8)) ?? "")")
        kill(process.processIdentifier, SIGTERM)
        #expect(await CommandRunner.waitForExit(process, timeoutMs: 10_000))
    }
}
