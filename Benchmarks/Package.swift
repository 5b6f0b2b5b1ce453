// swift-tools-version: 6.2
import PackageDescription

// The benchmark harness: a load client and a fake Telegram DC that drive `mtproxy`,
// alexbers' mtprotoproxy and a plain nginx stream relay through the same phases.
// Run it with Benchmarks/run.sh; it is not part of `swift test` in the repository root.
let package = Package(
    name: "mtshield-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The two peers around a proxy (load client, fake DC), their wire format and the
        // /proc sampling: everything `mtbench` does, testable without sockets.
        .target(name: "BenchmarkPeers", dependencies: [
            .product(name: "MTCrypto", package: rootPackageIdentity),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "mtbench", dependencies: [
            "BenchmarkPeers",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Bans per second through the auditor's nftables blocker, inside a network namespace
        // (Benchmarks/auditor/nft-bans.sh).
        .executableTarget(name: "auditor-bans", dependencies: [
            .product(name: "Auditor", package: rootPackageIdentity),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // `mtauditor replay` as a plain program, for callgrind (Benchmarks/auditor/README.md).
        .executableTarget(name: "auditor-replay", dependencies: [
            .product(name: "Auditor", package: rootPackageIdentity),
        ]),
        // Nanoseconds per line from file bytes to `Event`: EventFileReader, EventLineDecoder.
        .executableTarget(name: "event-decode", dependencies: [
            .product(name: "Auditor", package: rootPackageIdentity),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "BenchmarkPeersTests", dependencies: [
            "BenchmarkPeers",
            .product(name: "MTCrypto", package: rootPackageIdentity),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

// A path dependency is identified by its folder's name, which differs between worktrees
// and clones of the repository (bench, main, a CI checkout).
var rootPackageIdentity: String {
    let benchmarks = Context.packageDirectory
    let root = benchmarks.split(separator: "/").dropLast().last.map(String.init) ?? "mtshield"
    return root.lowercased()
}
