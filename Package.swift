// swift-tools-version:6.0
import PackageDescription

/// Kernels are compiled optimized even in debug builds: SIMD code at -Onone is 50-100x slower,
/// which would make the model tests crawl. Root-package only (unsafeFlags), which we are.
let optimizedNumerics: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "dpo-dist",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dpo-dist", targets: ["dpo-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C shim → MPI wrapper
        .systemLibrary(name: "COpenMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "MPIShim", dependencies: ["COpenMPI"]),
        .target(name: "MPI", dependencies: ["MPIShim"]),
        // kernels → model → DPO loss
        .target(name: "Kernels", swiftSettings: optimizedNumerics),
        .target(name: "Model", dependencies: ["Kernels"], swiftSettings: optimizedNumerics),
        .target(name: "DPO", dependencies: ["Model"]),
        // data and checkpoint formats
        .target(name: "Data"),
        .target(name: "Checkpoint"),
        // the one place that joins them
        .target(name: "Training", dependencies: [
            "MPI", "Kernels", "Model", "DPO", "Data", "Checkpoint",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "dpo-dist", dependencies: [
            "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Small executable that exercises the MPI wrapper under mpirun (used by MPITests).
        .executableTarget(name: "mpi-check", dependencies: ["MPI"]),
        // Helpers shared by test targets: locating built executables, running processes, mpirun command lines.
        .target(name: "TestSupport", path: "Tests/TestSupport"),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DPOTests", dependencies: ["DPO", "Model"]),
        .testTarget(name: "DataTests", dependencies: ["Data"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MPITests", dependencies: ["MPI", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
