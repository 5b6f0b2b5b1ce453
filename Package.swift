// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "mtshield",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mtproxy", targets: ["mtproxy"]),
        .executable(name: "mtauditor", targets: ["mtauditor"]),
        .executable(name: "mtforensics", targets: ["mtforensics"]),
        // For the benchmark package in Benchmarks/, whose load client and fake DC use the same ciphers.
        .library(name: "MTCrypto", targets: ["MTCrypto"]),
        // For the benchmark package's nftables ban-rate program.
        .library(name: "Auditor", targets: ["Auditor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
    ],
    targets: [
        // C libraries, each behind one small module.
        .systemLibrary(name: "CMTOpenSSL", path: "Sources/CMTOpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMTZlib", path: "Sources/CMTZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMTLZ4", path: "Sources/CMTLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),
        // Our own C: the line decoder's SIMD string scan (header-only: SSE2, NEON or a byte
        // loop), and read-only file windows that a shrinking file cannot crash (SIGBUS).
        .systemLibrary(name: "CMTLineScan", path: "Sources/CMTLineScan"),
        .target(name: "CMTMappedFile"),

        // Swift wrappers over libcrypto: AES-256-CTR, SHA-256, HMAC-SHA256, CSPRNG.
        .target(name: "MTCrypto", dependencies: ["CMTOpenSSL"]),

        // Strict YAML configuration decoding with file:line:key errors, durations, sizes.
        .target(name: "ConfigFile", dependencies: [
            .product(name: "Yams", package: "Yams"),
        ]),

        // The event schema shared by all three programs, its writer and reader.
        .target(name: "EventLog", dependencies: [
            "MTCrypto", "CMTLineScan",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),

        // A small HTTP/1 listener for read-only pages: mtproxy's stats, mtauditor's metrics.
        .target(name: "LoopbackHTTP", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        .target(name: "Proxy", dependencies: [
            "MTCrypto", "EventLog", "ConfigFile", "LoopbackHTTP",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Collections", package: "swift-collections"),
        ]),
        .target(name: "Auditor", dependencies: [
            "EventLog", "ConfigFile", "LoopbackHTTP", "CMTMappedFile",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Collections", package: "swift-collections"),
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Forensics", dependencies: [
            "EventLog", "ConfigFile", "MTCrypto", "CMTZlib", "CMTLZ4",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
            // Its SQLite (the C module VaporCSQLite): consistent copies of the auditor's state.
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
        ]),

        // Thin executables: argument parsing and service wiring only.
        .executableTarget(name: "mtproxy", dependencies: [
            "Proxy", "EventLog", "ConfigFile",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "mtauditor", dependencies: [
            "Auditor", "ConfigFile", "EventLog",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "mtforensics", dependencies: [
            "Forensics", "ConfigFile", "Auditor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "MTCryptoTests", dependencies: ["MTCrypto"]),
        .testTarget(name: "ConfigFileTests", dependencies: ["ConfigFile"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog"]),
        .testTarget(name: "LoopbackHTTPTests", dependencies: [
            "LoopbackHTTP",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ]),
        .testTarget(name: "ProxyTests", dependencies: [
            "Proxy", "MTCrypto", "EventLog", "ConfigFile",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "AuditorTests", dependencies: [
            "Auditor", "EventLog", "ConfigFile", "Proxy", "LoopbackHTTP",
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
        ], resources: [.copy("Scenarios"), .copy("Fixtures")]),
        .testTarget(name: "ForensicsTests", dependencies: [
            "Forensics", "MTCrypto", "Auditor",
            .product(name: "Yams", package: "Yams"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
