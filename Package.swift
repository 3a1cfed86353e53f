// swift-tools-version: 6.2
import PackageDescription

/// Our own targets build in Swift 6 language mode with every warning an error.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "WRaft",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wraft", targets: ["wraft"]),
        .executable(name: "wraft-kvcodec-bench", targets: ["WRaftKVCodecBench"]),
        .library(name: "RaftCore", targets: ["RaftCore"]),
        .library(name: "WRaftServer", targets: ["WRaftServer"]),
        .library(name: "WRaftClient", targets: ["WRaftClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // Configuration files and environment variables of `wraft serve` (its default trait: JSON).
        // YAML files for `wraft serve --config` (the trait brings Yams).
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // etcd's v3 gRPC API (WRaftEtcd): the runtime libraries only; the generated code is
        // committed (scripts/generate-etcd-protos.sh), so a build runs no protoc plugin.
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // What several modules need, written once: SplitMix64 and its bounded draw, the
        // little-endian byte reader and writer, host:port parsing, Duration helpers, CRC32C. Standard
        // library only.
        .target(name: "WRaftSupport", swiftSettings: strict),
        // The KVStore work of one write (encode, decode, apply) in a synchronous loop, for
        // instruction counts under valgrind (bench/callgrind-per-write.sh).
        .executableTarget(name: "WRaftKVCodecBench", dependencies: ["KVStore", "RaftCore"], swiftSettings: strict),
        // The pure Raft state machine: standard library (and WRaftSupport) only.
        .target(name: "RaftCore", dependencies: ["WRaftSupport"], swiftSettings: strict),
        // The Ready pipeline's rules as a pure state machine, driven by the node and the simulator.
        .target(name: "RaftPipeline", dependencies: ["RaftCore"], swiftSettings: strict),
        // Versioned binary encoding shared by the WAL and the wire.
        .target(
            name: "RaftCodec",
            dependencies: ["RaftCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // Write-ahead log, hard state, snapshots, recovery, the node's identity (and `MemberAddress`,
        // which names a member's key, hence WRaftCertificates); all file access behind `Disk`.
        .target(
            name: "RaftStorage",
            dependencies: [
                "RaftCore", "RaftCodec", "WRaftCertificates", "WRaftSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // Certificates: a cluster CA, member and client certificates, public-key fingerprints.
        .target(
            name: "WRaftCertificates",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict),
        // Peer-to-peer TCP (mutual TLS) between raft ports.
        .target(
            name: "RaftTransport",
            dependencies: [
                "RaftCore", "RaftCodec", "WRaftCertificates", "WRaftSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // The deterministic replicated key-value state machine.
        .target(name: "KVStore", dependencies: ["RaftCore", "WRaftSupport"], swiftSettings: strict),
        // Linearizability checking of recorded register histories (Wing-Gong/Lowe search).
        .target(name: "Linearizability", dependencies: ["WRaftSupport"], swiftSettings: strict),
        // The wire types of the HTTP API (shared/API.md): the bodies the node writes and the
        // client reads, the request bodies, and the one table of error codes.
        .target(name: "WRaftAPI", dependencies: [.product(name: "NIOCore", package: "swift-nio")], swiftSettings: strict),
        // A small HTTP/1.1 client of the node API.
        .target(
            name: "WRaftClient",
            dependencies: [
                "WRaftAPI", "WRaftSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // The local-cluster process launcher: `wraft serve` processes on 127.0.0.1, formed,
        // killed, restarted (`wraft cluster`, `wraft check`, `wraft bench --start`, the tests).
        .target(
            name: "WRaftLauncher", dependencies: ["WRaftClient", "WRaftCertificates", "WRaftSupport"], swiftSettings: strict),
        // The load generator of `wraft bench`: closed loops on connections of their own.
        .target(
            name: "WRaftLoad",
            dependencies: ["WRaftAPI", "WRaftClient", "WRaftSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // `wraft check`: a Jepsen-style run against a local cluster, recorded and checked.
        .target(
            name: "WRaftCheck",
            dependencies: ["WRaftAPI", "WRaftClient", "WRaftLauncher", "Linearizability", "WRaftSupport"],
            swiftSettings: strict),
        // etcd's v3 API as WRaft's own .proto files (Protos/etcd) and the Swift generated from
        // them once (messages and service stubs, committed): the wire contract of etcdctl.
        .target(
            name: "WRaftEtcd",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict),
        // The node: driver loop, cluster lifecycle, faults, HTTP API, etcd's gRPC API, metrics, dashboard.
        .target(
            name: "WRaftServer",
            dependencies: [
                "WRaftEtcd",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                "RaftCore", "RaftPipeline", "RaftStorage", "RaftTransport", "KVStore", "WRaftAPI", "WRaftCertificates", "WRaftSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // The page is compiled in by the package manager (`PackageResources.index_html`),
            // so a copied binary serves it: no resource bundle to install beside it.
            resources: [.embedInCode("Dashboard/index.html")],
            swiftSettings: strict),
        // `wraft serve`'s settings: one table of keys read from flags, `WRAFT_*` environment
        // variables and a JSON configuration file, range-checked into `NodeOptions`.
        .target(
            name: "WRaftConfig",
            dependencies: [
                "WRaftServer", "WRaftSupport",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Test support: a `Disk` in memory that tears and loses writes (RaftStorage's tests, the
        // WAL fuzzer). Never linked by the node.
        .target(
            name: "RaftStorageTesting",
            dependencies: ["RaftStorage", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // Benchmarks of the codec and the storage engine alone (their tests run them small).
        // Never linked by the node.
        .target(
            name: "WRaftBenchmarks",
            dependencies: [
                "RaftCore", "RaftCodec", "RaftStorage", "WRaftSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Test support: structured cleanup for tests that start nodes and transports.
        .target(name: "WRaftTestSupport", path: "Tests/WRaftTestSupport", swiftSettings: strict),
        // Test support: a seeded, simulated cluster of cores with safety checkers.
        .target(name: "RaftSimulation", dependencies: ["RaftCore", "RaftPipeline", "KVStore", "WRaftSupport"], swiftSettings: strict),
        // The CLI: serve, cluster, client commands, bench, check.
        .executableTarget(
            name: "wraft",
            dependencies: [
                "WRaftServer", "WRaftAPI", "WRaftClient", "WRaftLauncher", "WRaftLoad", "WRaftCheck", "Linearizability",
                "RaftSimulation", "WRaftCertificates", "WRaftConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),

        // Fuzzing (Fuzz/README.md): the harnesses (properties checked on arbitrary bytes), one
        // libFuzzer target per decoder family (plain corpus replayers unless built with
        // -DFUZZING), and a test that replays every corpus file through its harness.
        .target(
            name: "FuzzHarnesses",
            dependencies: [
                "RaftCore", "RaftCodec", "RaftStorage", "RaftStorageTesting", "RaftTransport", "WRaftAPI", "WRaftServer",
                "WRaftSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Harnesses", swiftSettings: strict),
        .executableTarget(name: "FuzzFrames", dependencies: ["FuzzHarnesses"], path: "Fuzz/FuzzFrames", swiftSettings: strict),
        .executableTarget(name: "FuzzCodec", dependencies: ["FuzzHarnesses"], path: "Fuzz/FuzzCodec", swiftSettings: strict),
        .executableTarget(
            name: "FuzzControl", dependencies: ["FuzzHarnesses"], path: "Fuzz/FuzzControl", swiftSettings: strict),
        .executableTarget(name: "FuzzWAL", dependencies: ["FuzzHarnesses"], path: "Fuzz/FuzzWAL", swiftSettings: strict),
        .executableTarget(name: "FuzzHTTP", dependencies: ["FuzzHarnesses"], path: "Fuzz/FuzzHTTP", swiftSettings: strict),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarnesses"], swiftSettings: strict),

        .testTarget(name: "WRaftSupportTests", dependencies: ["WRaftSupport"], swiftSettings: strict),
        .testTarget(
            name: "WRaftConfigTests", dependencies: ["WRaftConfig", "WRaftServer", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict),
        // testdata/: the data-driven scenario files DataDriven.swift reads from the source tree.
        .testTarget(
            name: "RaftCoreTests", dependencies: ["RaftCore", "RaftSimulation", "KVStore", "WRaftSupport"], exclude: ["testdata"],
            swiftSettings: strict),
        .testTarget(name: "RaftPipelineTests", dependencies: ["RaftPipeline", "RaftCore"], swiftSettings: strict),
        .testTarget(
            name: "RaftCodecTests",
            dependencies: [
                "RaftCodec", "RaftCore", "WRaftBenchmarks", "WRaftSupport", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RaftStorageTests",
            dependencies: [
                "RaftStorage", "RaftStorageTesting", "RaftCodec", "RaftCore", "WRaftBenchmarks", "WRaftSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RaftTransportTests",
            dependencies: [
                "RaftTransport", "RaftCodec", "RaftCore", "WRaftCertificates", "WRaftSupport", "WRaftTestSupport",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "KVStoreTests", dependencies: ["KVStore", "RaftCore", "WRaftSupport"], swiftSettings: strict),
        .testTarget(
            name: "WRaftAPITests",
            dependencies: ["WRaftAPI", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        .testTarget(
            name: "WRaftCertificatesTests",
            dependencies: [
                "WRaftCertificates",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict),
        .testTarget(name: "LinearizabilityTests", dependencies: ["Linearizability", "WRaftSupport"], swiftSettings: strict),
        .testTarget(
            name: "WRaftCheckTests", dependencies: ["WRaftCheck", "Linearizability", "WRaftAPI", "WRaftClient", "WRaftSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "WRaftServerTests",
            dependencies: [
                "WRaftServer", "WRaftEtcd",
                .product(name: "GRPCCore", package: "grpc-swift-2"), "WRaftAPI", "WRaftClient", "KVStore", "RaftCore", "RaftStorage", "RaftTransport",
                "WRaftCertificates", "WRaftSupport", "WRaftTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict),
        // Real node processes on 127.0.0.1; depends on the executable so `swift test` builds it.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "wraft", "WRaftAPI", "WRaftClient", "WRaftLauncher", "WRaftLoad", "WRaftCertificates", "RaftCore", "RaftCodec",
                "WRaftSupport",
                // etcd's Watch driven request by request with the generated client stubs.
                "WRaftEtcd",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // Peer-attack tests forge raft frames and make their own CA and member certificates.
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict),
    ]
)
