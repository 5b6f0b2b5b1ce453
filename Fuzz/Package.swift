// swift-tools-version: 6.2
// libFuzzer targets for the fake-TLS parsers and the event line decoder, outside the main
// package and outside CI.
// Sources are symlinks into ../Sources, so the fuzzed code is the shipped code. See README.md.
import PackageDescription

let package = Package(
    name: "mtshield-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CMTOpenSSL", path: "Sources/CMTOpenSSL", pkgConfig: "libcrypto"),
        .target(name: "MTCrypto", dependencies: ["CMTOpenSSL"]),
        .systemLibrary(name: "CMTLineScan", path: "Sources/CMTLineScan"),
        // Testable, for the line decoder's two paths; instrumented, as `Proxy` is (below).
        .target(name: "EventLog", dependencies: ["CMTLineScan"], swiftSettings: [
            .unsafeFlags(["-enable-testing", "-sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table"]),
        ]),
        .target(name: "Proxy", dependencies: [
            "MTCrypto", "EventLog",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
        ], swiftSettings: [.unsafeFlags(["-sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table"])]),
        .target(name: "CFuzzerDriver"),
        .executableTarget(
            name: "FakeTLSFuzz",
            dependencies: ["Proxy", "MTCrypto", "CFuzzerDriver", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .executableTarget(
            name: "EventLineFuzz",
            dependencies: ["EventLog", "CFuzzerDriver"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ],
    swiftLanguageModes: [.v6]
)
