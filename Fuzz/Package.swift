// swift-tools-version:6.2
import PackageDescription

// The libFuzzer driver for Parley's parsers of network bytes (`ParleyFuzzing` in the main
// package). A package of its own because it is built with `-sanitize=fuzzer`, which instruments
// everything it builds; `scripts/fuzz` builds and runs it.
let package = Package(
    name: "ParleyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Parley", path: "..", traits: ["MongoDB"])
    ],
    targets: [
        .executableTarget(
            name: "parley-fuzz",
            dependencies: ["CFuzzDriver", .product(name: "ParleyFuzzing", package: "Parley")]
        ),
        // The entry point SwiftPM's link expects (see FuzzDriver.c).
        .target(name: "CFuzzDriver"),
    ]
)
