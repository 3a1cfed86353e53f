import Crypto
import Foundation
import NIOCore
import RaftCodec
import RaftCore
import SwiftASN1
import Testing
import WRaftClient
import X509

#if canImport(Glibc)
import Glibc
#endif

extension RealProcessTests {
    /// Issue 8, the raft port as an outsider sees it: real `wraft serve` processes on 127.0.0.1.
    @Suite struct PeerAttackTests {
        /// Finding 2: one frame (a heartbeat claiming term 2^63-1, from any id, cluster id 0) sent
        /// to every member's raft port used to leave every member at that term with no leader,
        /// for good. Now it is refused; so is the same frame with the right cluster id from a
        /// non-member. Terms stay low, a leader stays, writes work.
        @Test func aForgedHeartbeatDoesNotPoisonTheTerm() async throws {
            try await ClusterFixture.withCluster(nodes: 3, name: "forged-heartbeat") { cluster in
                let (_, leader) = try await cluster.leaderClient()
                _ = try await leader.put("before", "1")
                let states = try await cluster.states()
                let clusterID = try #require(states.values.first?.clusterID.flatMap { UInt64($0, radix: 16) })
                for state in states.values {
                    let to = try #require(NodeID(hex: state.id))
                    let port = try #require(Int(state.raftAddress.split(separator: ":").last ?? ""))
                    for forgedClusterID in [0, clusterID] {
                        #expect(sendRawTCP(port: port, bytes: Self.forgedHeartbeat(to: to, clusterID: forgedClusterID)))
                    }
                }
                try await Task.sleep(for: .seconds(1))
                let (_, after) = try await cluster.leaderClient(timeoutMs: 10_000)
                _ = try await after.put("after", "2")
                for state in try await cluster.states().values {
                    #expect(state.term < 1_000, "node \(state.id) is at term \(state.term)")
                }
                #expect(try await after.get("before")?.value == Array("1".utf8))
            }
        }

        /// A TLS cluster (each member its own certificate from one CA) forms, elects, writes, and
        /// survives the kill of its leader with nothing acknowledged lost.
        @Test func aTLSClusterFormsElectsWritesAndSurvivesALeaderKill() async throws {
            let nodes = try TLSNodes(name: "tls-cluster", count: 3)
            defer { nodes.stopAll() }
            try await nodes.launchAndForm()
            let leader = try await nodes.waitForLeader(among: [0, 1, 2])
            for number in 0..<20 { _ = try await nodes.clients[leader].put("k\(number)", "\(number)") }
            nodes.kill(leader)
            let survivors = [0, 1, 2].filter { $0 != leader }
            let newLeader = try await nodes.waitForLeader(among: survivors)
            _ = try await nodes.clients[newLeader].put("after-kill", "1")
            for number in 0..<20 {
                #expect(try await nodes.clients[newLeader].get("k\(number)")?.value == Array("\(number)".utf8))
            }
        }

        /// Finding 3 under TLS: a stranger's node with another CA's certificate, or with none,
        /// cannot `/connect` into a running TLS cluster; a node with a cluster-CA certificate can.
        @Test func onlyANodeWithAClusterCACertificateJoinsATLSCluster() async throws {
            let nodes = try TLSNodes(name: "tls-join", count: 3)
            defer { nodes.stopAll() }
            try await nodes.launchAndForm()
            let leader = try await nodes.waitForLeader(among: [0, 1, 2])
            _ = try await nodes.clients[leader].put("secret", "s3cret")
            let member = nodes.raftAddress(leader)

            let foreign = try nodes.launchExtra(name: "foreign", tls: .otherCA)
            let plain = try nodes.launchExtra(name: "plain", tls: .none)
            for stranger in [foreign, plain] {
                try await nodes.waitReachable(stranger)
                do {
                    _ = try await nodes.clients[stranger].connect(peer: member, timeoutMs: 15_000)
                    Issue.record("node \(stranger) joined without a cluster-CA certificate")
                } catch {
                    // Refused: the handshake fails, the join never reaches the cluster.
                }
                #expect(try await nodes.clients[stranger].get("secret", consistency: .local) == nil)
            }
            #expect(try await nodes.clients[leader].state().members.count == 3)

            let friend = try nodes.launchExtra(name: "friend", tls: .clusterCA)
            try await nodes.waitReachable(friend)
            _ = try await nodes.clients[friend].connect(peer: member, timeoutMs: 15_000)
            let joined = await eventually(timeoutMs: 15_000) {
                (try? await nodes.clients[friend].get("secret", consistency: .local))??.value == Array("s3cret".utf8)
            }
            #expect(joined)
            #expect(try await nodes.clients[leader].state().members.count == 4)
        }

        static func forgedHeartbeat(to: NodeID, clusterID: UInt64) -> [UInt8] {
            var payload = ByteBuffer()
            payload.writeRaftMessage(
                Message(from: NodeID(0xDEAD), to: to, term: Term(1 << 63 - 1), payload: .heartbeat(HeartbeatRequest(commit: 0))))
            var frame = ByteBuffer()
            frame.writeInteger(UInt32(1 + 8 + payload.readableBytes))
            frame.writeInteger(UInt8(1))  // a raft message
            frame.writeInteger(clusterID)
            frame.writeBuffer(&payload)
            return Array(frame.readableBytesView)
        }
    }
}

/// Real `wraft serve` processes with their own certificates (one CA), formed by hand: the
/// launcher gives every node the same flags, and each member needs its own certificate.
final class TLSNodes: @unchecked Sendable {
    enum Credentials { case clusterCA, otherCA, none }

    let directory: String
    let ca: IntegrationCA
    let otherCA: IntegrationCA
    private(set) var processes: [Process?] = []
    private(set) var clients: [NodeClient] = []
    private(set) var ports: [(http: Int, raft: Int)] = []
    let count: Int

    init(name: String, count: Int) throws {
        directory = ClusterFixture.makeDirectory(name)
        ca = try IntegrationCA(name: "cluster CA")
        otherCA = try IntegrationCA(name: "another CA")
        self.count = count
        for index in 0..<count { try launch(index: index, name: "node\(index)", credentials: .clusterCA) }
    }

    func raftAddress(_ index: Int) -> String { "127.0.0.1:\(ports[index].raft)" }

    private func freePort() throws -> Int {
        let (descriptor, port) = try bindLoopbackSocket(listening: false)
        close(descriptor)
        return port
    }

    private func launch(index: Int, name: String, credentials: Credentials) throws {
        let http = try freePort()
        let raft = try freePort()
        let folder = directory + "/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var arguments = [
            "serve", "--host", "127.0.0.1", "--http-port", String(http), "--raft-port", String(raft),
            "--data-dir", folder + "/data", "--log-level", "info", "--exit-with-parent",
        ]
        switch credentials {
        case .clusterCA: arguments += try ca.writeMember(name, to: folder)
        case .otherCA: arguments += try otherCA.writeMember(name, to: folder)
        case .none: break
        }
        let process = try CommandRunner.start(
            arguments, standardOutputPath: folder + "/stdout", standardErrorPath: folder + "/stderr")
        processes.append(process)
        ports.append((http, raft))
        clients.append(try NodeClient("127.0.0.1:\(http)", requestTimeoutMs: 10_000))
    }

    /// Starts one more node; returns its index.
    func launchExtra(name: String, tls credentials: Credentials) throws -> Int {
        try launch(index: processes.count, name: name, credentials: credentials)
        return processes.count - 1
    }

    func waitReachable(_ index: Int) async throws {
        let reachable = await eventually(timeoutMs: 20_000, pollMs: 100) { (try? await self.clients[index].health()) != nil }
        if !reachable { throw FixtureError("node \(index) never answered: \(logTail(index))") }
    }

    func launchAndForm() async throws {
        for index in 0..<count { try await waitReachable(index) }
        for index in 1..<count { _ = try await clients[index].connect(peer: raftAddress(0), timeoutMs: 15_000) }
        try await clients[count - 1].start(timeoutMs: 15_000)
    }

    func waitForLeader(among indexes: [Int]) async throws -> Int {
        var found: Int?
        let elected = await eventually(timeoutMs: 20_000, pollMs: 100) {
            for index in indexes {
                if let state = try? await self.clients[index].state(timeoutMs: 1_000), state.isLeader {
                    found = index
                    return true
                }
            }
            return false
        }
        guard elected, let found else {
            throw FixtureError("no leader among \(indexes): \(indexes.map { logTail($0) }.joined(separator: "\n"))")
        }
        return found
    }

    func kill(_ index: Int) {
        guard let process = processes[index] else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        processes[index] = nil
    }

    func stopAll() {
        for (index, process) in processes.enumerated() {
            guard let process, process.isRunning else { continue }
            Glibc.kill(process.processIdentifier, SIGTERM)
            let deadline = Date() + 5
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            processes[index] = nil
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func logTail(_ index: Int) -> String {
        let names = (0..<count).map { "node\($0)" }
        let name = index < names.count ? names[index] : "extra"
        let text = (try? String(contentsOfFile: directory + "/" + name + "/stderr", encoding: .utf8)) ?? ""
        return "--- \(name) ---\n" + String(text.suffix(1_500))
    }
}

/// A throwaway CA for the integration tests: P-256, one day, member certificates for 127.0.0.1
/// usable on both ends of a TLS connection.
struct IntegrationCA {
    let key: P256.Signing.PrivateKey
    let certificate: Certificate
    let name: DistinguishedName

    init(name commonName: String) throws {
        key = P256.Signing.PrivateKey()
        name = try DistinguishedName { CommonName(commonName) }
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date() - 3_600,
            notValidAfter: Date() + 86_400, issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(key))
    }

    /// Writes `NAME.crt`, `NAME.key` and `ca.crt` into `folder`; returns the serve flags naming them.
    func writeMember(_ memberName: String, to folder: String) throws -> [String] {
        let memberKey = P256.Signing.PrivateKey()
        let member = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(memberKey.publicKey), notValidBefore: Date() - 3_600,
            notValidAfter: Date() + 86_400, issuer: name, subject: try DistinguishedName { CommonName(memberName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(key))
        let certificatePath = folder + "/\(memberName).crt"
        let keyPath = folder + "/\(memberName).key"
        let caPath = folder + "/ca.crt"
        try member.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try memberKey.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try certificate.serializeAsPEM().pemString.write(toFile: caPath, atomically: true, encoding: .utf8)
        chmod(keyPath, 0o600)
        return ["--peer-cert-file", certificatePath, "--peer-key-file", keyPath, "--peer-trusted-ca-file", caPath]
    }
}
