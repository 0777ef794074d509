// swift-tools-version:6.0
import PackageDescription

import Foundation

/// CPU level the numeric targets are compiled for: by default on x86-64 `haswell`, i.e. the x86-64-v3 level
/// (AVX2 + FMA: Intel since 2013, every AMD EPYC). Set DPO_DIST_TARGET_CPU to another LLVM CPU name (`native`,
/// `skylake-avx512` for AVX-512, `nehalem` for SSE4.2-only nodes, …) or to `generic` for the plain baseline, e.g.
/// `DPO_DIST_TARGET_CPU=generic swift build -c release`. Other architectures (arm64) use the compiler's default
/// unless the variable names a CPU.
let targetCPU: String? = {
    if let requested = Context.environment["DPO_DIST_TARGET_CPU"], !requested.isEmpty {
        return requested == "generic" ? nil : requested
    }
    #if arch(x86_64)
    return "haswell"
    #else
    return nil
    #endif
}()

/// Kernels and the model are compiled optimized even in debug builds: SIMD code at -Onone is 50-100x slower,
/// which would make the model tests crawl. Root-package only (unsafeFlags), which we are.
let optimizedNumerics: [SwiftSetting] = [.unsafeFlags(["-O"] + (targetCPU.map { ["-target-cpu", $0] } ?? []))]

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
        .target(name: "SeededRandom"),
        .target(name: "Kernels", swiftSettings: optimizedNumerics),
        .target(name: "Model", dependencies: ["Kernels", "SeededRandom"], swiftSettings: optimizedNumerics),
        .target(name: "DPO", dependencies: ["Model"]),
        // data and checkpoint formats
        .target(name: "PreferenceData", dependencies: ["SeededRandom"]),
        .target(name: "Checkpoint"),
        // the one place that joins them
        .target(name: "Training", dependencies: [
            "MPI", "Kernels", "Model", "DPO", "PreferenceData", "Checkpoint",
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

        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "SeededRandom"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Checkpoint", "SeededRandom"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DPOTests", dependencies: ["DPO", "Model"]),
        .testTarget(name: "PreferenceDataTests", dependencies: ["PreferenceData", "SeededRandom"], resources: [.copy("Fixtures")]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MPITests", dependencies: ["MPI", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Checkpoint", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
