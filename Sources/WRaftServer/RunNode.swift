import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import RaftCore
import RaftStorage
import RaftTransport
import WRaftCertificates

/// Runs one WRaft node until SIGTERM or SIGINT (then shuts down cleanly): opens the data dir
/// (recovering a node that already belongs to a cluster), starts the raft port, the runtime and
/// the HTTP server. Throws, with a message fit for the operator, when the node cannot start
/// (bad options, an unreadable or foreign data dir, a port in use) or when its storage fails.
/// The `wraft serve` command calls this; it bootstraps logging and metrics before.
public func runNode(options: NodeOptions, logger: Logger, metricsText: @escaping @Sendable () -> String) async throws {
    let options = options.applyingSlowMotion()
    do {
        try options.validate()
    } catch {
        throw NodeStartupError(error.description)
    }
    var logger = logger
    logger.logLevel = options.logLevel
    // Storage blocks on fsync: it gets a thread of its own, never the cooperative pool's.
    let storageThread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
        try await runNode(options: options, logger: logger, metricsText: metricsText, storageLoop: storageThread.next())
    } catch {
        try? await storageThread.shutdownGracefully()
        throw error
    }
    try? await storageThread.shutdownGracefully()
}

private func runNode(
    options: NodeOptions, logger: Logger, metricsText: @escaping @Sendable () -> String, storageLoop: any EventLoop
) async throws {
    // A bad token file stops the node before it touches its data dir.
    let security: HTTPSecurity
    do {
        security = try HTTPSecurity(options: options)
    } catch {
        throw NodeStartupError(error.description)
    }
    let storage: DurableStorageAdapter
    do {
        // `--data-dir a/b/c` works like `mkdir -p` (the store makes the last level itself,
        // readable by this user alone).
        let parent = (options.dataDirectory as NSString).deletingLastPathComponent
        if !parent.isEmpty { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
    } catch {
        throw NodeStartupError("cannot create the data dir \(options.dataDirectory): \(error.localizedDescription)")
    }
    do {
        storage = DurableStorageAdapter(
            storage: try DurableStorage(directory: options.dataDirectory, eventLoop: storageLoop, logger: logger))
    } catch {
        throw NodeStartupError("cannot open the data dir \(options.dataDirectory): \(error)")
    }
    let identity = try await NodeRuntime.loadOrCreateIdentity(storage: storage, logger: logger)
    var transportOptions = TransportOptions()
    var fingerprint: PublicKeyFingerprint?
    if let peerTLS = options.peerTLS {
        // `NodeOptions.validate` made sure a trusted CA is named.
        do {
            let tls = try TransportTLS(
                certificateFile: peerTLS.certificateFile, privateKeyFile: peerTLS.privateKeyFile,
                trustedCAFile: peerTLS.trustedCAFile ?? "")
            transportOptions.tls = tls
            fingerprint = try tls.localFingerprint()
        } catch {
            throw NodeStartupError("peer TLS: \(error)")
        }
    }
    let peers: PeerTransport
    let raftPort: Int
    do {
        peers = try PeerTransport(
            localID: identity.nodeID, options: transportOptions, group: MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        raftPort = try await peers.start(host: options.raftListenHost, port: options.raftPort)
    } catch {
        throw NodeStartupError("cannot listen on the raft port \(options.raftListenHost):\(options.raftPort): \(error)")
    }
    let transport = PeerTransportAdapter(transport: peers, logger: logger)
    // An IPv6 host goes in brackets, or the port would be ambiguous (and peers refuse it).
    var announced = options
    announced.raftPort = raftPort
    let selfAddress = MemberAddress(
        raftAddress: announced.raftAddress, httpAddress: announced.httpAddress,
        fingerprint: fingerprint, etcdAddress: options.etcdPort == 0 ? nil : options.etcdAddress)
    let (failures, failure) = AsyncStream.makeStream(of: String.self)
    let runtime: NodeRuntime
    do {
        runtime = try await NodeRuntime.open(
            identity: identity, options: options, storage: storage, transport: transport, selfAddress: selfAddress,
            logger: logger, onFatalError: { reason in failure.yield(reason) })
    } catch {
        await transport.shutdown()
        throw error
    }
    var httpOptions = HTTPOptions()
    httpOptions.defaultTimeoutMs = options.requestTimeoutMs
    // A measuring switch, not a setting: `WRAFT_HTTP_FAST_PATH=off` answers every request through
    // Hummingbird's task, so one binary compares both request paths (Docs/ARCHITECTURE.md).
    httpOptions.isFastPathEnabled = ProcessInfo.processInfo.environment["WRAFT_HTTP_FAST_PATH"] != "off"
    let application: any ApplicationProtocol
    do {
        application = try makeHTTPApplication(
            service: runtime, host: options.httpListenHost, port: options.httpPort, options: httpOptions,
            security: security, metricsText: metricsText, logger: logger)
    } catch {
        await runtime.stop()
        await transport.shutdown()
        throw NodeStartupError("\(error)")
    }
    // etcd's v3 gRPC API (`--etcd-port`), beside the HTTP port.
    let etcdServer = options.etcdPort == 0
        ? nil
        : EtcdServer.make(node: runtime, options: options, security: security, keyBytesMax: httpOptions.keyBytesMax)
    logger.notice(
        "node serving",
        metadata: [
            "raft.node_id": "\(identity.nodeID)", "http.address": "\(selfAddress.httpAddress)",
            "raft.address": "\(selfAddress.raftAddress)", "data_dir": "\(options.dataDirectory)",
            "etcd.address": "\(options.etcdPort == 0 ? "off" : options.etcdAddress)",
        ])
    do {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.runService() }
            if let etcdServer {
                group.addTask {
                    do {
                        try await etcdServer.serve()
                    } catch {
                        throw NodeStartupError("etcd port \(options.etcdAddress): \(error)")
                    }
                }
            }
            group.addTask {
                for await reason in failures { throw NodeStartupError("storage failure: \(reason)") }
            }
            // The first to finish (a signal's clean shutdown, or a storage failure) ends the node.
            _ = try await group.next()
            etcdServer?.beginGracefulShutdown()
            group.cancelAll()
        }
    } catch {
        etcdServer?.beginGracefulShutdown()
        await runtime.stop()
        await transport.shutdown()
        throw error
    }
    failure.finish()
    await runtime.stop()
    await transport.shutdown()
    logger.notice("node stopped cleanly", metadata: ["raft.node_id": "\(identity.nodeID)"])
}
