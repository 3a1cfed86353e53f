import Foundation
import Testing
import WRaftCertificates
import WRaftClient
import WRaftLauncher

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension RealProcessTests {
    /// `LocalCluster` with peer TLS: certificates made in the cluster's folder, every node started
    /// with the peer TLS flags, the cluster formed and taking writes, certificates reused on restart.
    @Suite struct PeerTLSClusterTests {
        /// The arguments a running process was started with (Linux: /proc/PID/cmdline).
        static func arguments(of processID: Int32) -> [String] {
            guard let data = FileManager.default.contents(atPath: "/proc/\(processID)/cmdline") else { return [] }
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }

        /// The soft and hard "Max open files" of a running process (Linux: /proc/PID/limits).
        static func openFileLimits(of processID: Int32) -> (soft: String, hard: String)? {
            guard let text = try? String(contentsOfFile: "/proc/\(processID)/limits", encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
            else { return nil }
            let fields = line.dropFirst("Max open files".count).split(separator: " ")
            guard fields.count >= 2 else { return nil }
            return (String(fields[0]), String(fields[1]))
        }

        @Test func aTLSClusterFormsTakesWritesAndReusesItsCertificatesOnRestart() async throws {
            // The nodes inherit this process's limits: lower the soft open-file limit while they
            // start, so their raising it to the hard limit is seen even where soft == hard already.
            #if canImport(Glibc)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
            #else
            let resource = RLIMIT_NOFILE
            #endif
            var original = rlimit()
            #expect(getrlimit(resource, &original) == 0)
            var lowered = original
            lowered.rlim_cur = min(original.rlim_max, 1_024)
            #expect(setrlimit(resource, &lowered) == 0)
            var isRestored = false
            defer { if !isRestored { _ = setrlimit(resource, &original) } }
            try await ClusterFixture.withCluster(nodes: 3, name: "peer-tls", seed: 5, configure: { $0.isPeerTLSEnabled = true }) {
                cluster in
                isRestored = setrlimit(resource, &original) == 0
                let certificates = cluster.certificateDirectory
                let authority = try CertificateFiles.readAuthority(from: certificates)
                for node in await cluster.nodes {
                    let issued = try CertificateFiles.readIssued(name: cluster.certificateName(node.index), from: certificates)
                    #expect(await authority.verifies(issued.certificate), "node \(node.index)'s certificate chains to the CA")
                    #expect(issued.hosts.contains(.ipAddress([127, 0, 0, 1])))
                    let processID = try #require(node.processID)
                    let arguments = Self.arguments(of: processID)
                    #expect(arguments.contains("--peer-cert-file"), "node \(node.index): \(arguments)")
                    #expect(arguments.contains(CertificateFiles.certificatePath(name: "node-\(node.index)", in: certificates)))
                    #expect(arguments.contains("--peer-key-file"))
                    #expect(arguments.contains("--peer-trusted-ca-file"))
                    #expect(arguments.contains(CertificateFiles.authorityCertificatePath(in: certificates)))
                    // The node raised its open-file limit to the hard limit and said so.
                    if let limits = Self.openFileLimits(of: processID) {
                        #expect(limits.soft == limits.hard, "node \(node.index) open files \(limits)")
                    }
                    #expect(await cluster.logTail(node.index, bytesMax: 1 << 20).contains("open-file limit"))
                }

                // The HTTP API stays plain HTTP on 127.0.0.1: writes and reads go through.
                let writer = try await cluster.client(1)
                for index in 0..<20 {
                    try await writer.put("tls-\(index)", "value-\(index)", timeoutMs: 10_000)
                }
                let reader = try await cluster.client(2)
                #expect(try await reader.get("tls-19")?.text == "value-19")

                let before = try String(
                    contentsOfFile: CertificateFiles.certificatePath(name: "node-0", in: certificates), encoding: .utf8)
                try await cluster.restart(0)
                _ = try await cluster.waitForLeader()
                let after = try String(
                    contentsOfFile: CertificateFiles.certificatePath(name: "node-0", in: certificates), encoding: .utf8)
                #expect(before == after, "the restarted node kept its certificate")
                try await cluster.client(0).put("after-restart", "1", timeoutMs: 10_000)
                #expect(try await cluster.client(1).get("after-restart")?.text == "1")
                #expect(try await cluster.client(0).get("tls-0")?.text == "value-0")
            }
        }

        @Test func benchComparesPlaintextAndPeerTLSSideBySide() async throws {
            let outcome = try await CommandRunner.run(
                ["bench", "--start", "3", "--compare-peer-tls", "--duration", "1s", "--warmup", "200ms", "--connections", "8",
                 "--value-bytes", "64"],
                timeoutMs: 120_000)
            #expect(outcome.status == 0, "\(outcome.standardOutput)\n\(outcome.standardError)")
            #expect(outcome.standardOutput.contains("== plaintext between members =="))
            #expect(outcome.standardOutput.contains("(mutual TLS between members)"))
            #expect(outcome.standardOutput.contains("peer mTLS: "))
            print(outcome.standardOutput)
        }

        /// The raft port itself: a TLS handshake completes only for a certificate from the
        /// cluster's CA (it failed while the transport accepted the flags and served plaintext).
        @Test
        func theRaftPortCompletesAHandshakeOnlyForTheClustersCertificates() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "peer-tls-probe", configure: { $0.isPeerTLSEnabled = true }) { cluster in
                let certificates = cluster.certificateDirectory
                let stranger = ClusterFixture.makeDirectory("stranger") + "/certs"
                defer { try? FileManager.default.removeItem(atPath: (stranger as NSString).deletingLastPathComponent) }
                let strangerCA = try CertificateAuthority.make()
                try CertificateFiles.writeAuthority(strangerCA, to: stranger)
                try CertificateFiles.writeIssued(
                    try strangerCA.issue(name: "intruder", hosts: [.ipAddress([127, 0, 0, 1])]), name: "intruder", to: stranger)
                let raft = await cluster.nodes[0].raftAddress
                let member = await TLSProbe.handshake(
                    host: raft.host, port: raft.port,
                    certificateFile: CertificateFiles.certificatePath(name: "node-1", in: certificates),
                    keyFile: CertificateFiles.keyPath(name: "node-1", in: certificates),
                    trustedCAFile: CertificateFiles.authorityCertificatePath(in: certificates))
                #expect(throws: Never.self, "a member's certificate is accepted") { try member.get() }
                let intruder = await TLSProbe.handshake(
                    host: raft.host, port: raft.port,
                    certificateFile: CertificateFiles.certificatePath(name: "intruder", in: stranger),
                    keyFile: CertificateFiles.keyPath(name: "intruder", in: stranger),
                    trustedCAFile: CertificateFiles.authorityCertificatePath(in: certificates))
                #expect(throws: (any Error).self, "a certificate from another CA is refused") { try intruder.get() }
                try await cluster.client(0).put("still-up", "1", timeoutMs: 10_000)
            }
        }
    }
}
