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

/// Whether that CPU has fused multiply-add: the GEMM micro-kernel then uses it (`DPO_DIST_FMA`); without it,
/// `addingProduct` would be a libm call per lane. Every arm64 CPU has FMA; of the x86-64 CPUs LLVM knows, these lack it.
let fusedMultiplyAdd: Bool = {
    let withoutFMA: Set<String> = ["x86-64", "x86-64-v2", "core2", "penryn", "nehalem", "westmere", "sandybridge",
                                   "ivybridge", "silvermont", "goldmont", "btver2"]
    #if arch(x86_64)
    return targetCPU.map { !withoutFMA.contains($0) } ?? false
    #else
    return targetCPU.map { !withoutFMA.contains($0) } ?? true
    #endif
}()

/// Whether that CPU has AVX-512: Kernels' own GEMM micro-kernel then works on 16-float vectors (`DPO_DIST_AVX512`, a
/// 12 × 32 tile) and is the only GEMM path. Name the CPU explicitly (`native` is not resolved here), e.g.
/// DPO_DIST_TARGET_CPU=sapphirerapids; see docs/performance.md.
let avx512: Bool = targetCPU.map {
    ["skylake-avx512", "cascadelake", "cooperlake", "icelake-server", "icelake-client", "tigerlake", "sapphirerapids",
     "emeraldrapids", "graniterapids", "znver4", "znver5"].contains($0)
} ?? false

/// Whether Kernels also gets an AVX-512 build of the GEMM to switch to at run time (`DPO_DIST_GEMM_DISPATCH`): on
/// x86-64 unless Kernels already targets an AVX-512 CPU. The GEMMAVX512 target compiles the GEMM sources (symbolic
/// links to Sources/Kernels) for skylake-avx512 with 16-float vectors (a 12 × 32 tile), which roughly doubles the
/// GEMM's FLOP rate where the CPU has two 512-bit FMA ports; Kernels calls it when CPUID and XGETBV say the CPU and OS
/// support AVX-512 (CPUFeatures), or as DPO_DIST_GEMM=avx2|avx512 says at run time. Elsewhere GEMMAVX512 is empty.
let runtimeAVX512: Bool = {
    #if arch(x86_64)
    return !avx512
    #else
    return false
    #endif
}()
/// The files of Sources/Kernels that Sources/GEMMAVX512 links to and compiles a second time.
let avx512GEMMSources = ["GEMM.swift", "GEMMMicroKernel.swift", "GEMMPacking.swift", "PeakThroughput.swift"]

/// Kernels and the model are compiled optimized even in debug builds: SIMD code at -Onone is 50-100x slower,
/// which would make the model tests crawl. Root-package only (unsafeFlags), which we are.
let optimizedNumerics: [SwiftSetting] = [.unsafeFlags(["-O"] + (targetCPU.map { ["-target-cpu", $0] } ?? []))]
    + (fusedMultiplyAdd ? [.define("DPO_DIST_FMA")] : []) + (avx512 ? [.define("DPO_DIST_AVX512")] : [])
/// Kernels: the above, and the run-time GEMM dispatch where there is something to dispatch to.
let kernelsSettings: [SwiftSetting] = optimizedNumerics + (runtimeAVX512 ? [.define("DPO_DIST_GEMM_DISPATCH")] : [])
/// GEMMAVX512: Skylake-SP, the first AVX-512 server CPU, whose AVX-512 subset (F, CD, BW, DQ, VL) every later one has and
/// CPUFeatures checks for (swiftc does not accept the equivalent level name x86-64-v4).
let avx512GEMMSettings: [SwiftSetting] = runtimeAVX512
    ? [.unsafeFlags(["-O", "-target-cpu", "skylake-avx512"]), .define("DPO_DIST_AVX512"), .define("DPO_DIST_FMA")] : []

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
        // The marker protocol for input errors that every rank raises identically (below every layer that reads input).
        .target(name: "Diagnostics"),
        // One JSON value type, parser and writer for every file read or written (config.json, tokenizer and
        // chat-template files, safetensors headers, checkpoint state, metrics, datasets).
        .target(name: "JSON", dependencies: ["Diagnostics"]),
        // C shim → MPI wrapper
        .systemLibrary(name: "COpenMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "MPIShim", dependencies: ["COpenMPI"]),
        .target(name: "MPI", dependencies: ["MPIShim"]),
        // what ranks do together above the wrapper: gradient sums overlapping backward or in two levels (node, then
        // network), node-shared buffers, dealing work, rank-0-only work; optimized like the kernels for its summing loop
        .target(name: "Distributed", dependencies: ["MPI", "Diagnostics"], swiftSettings: optimizedNumerics),
        // kernels → model → DPO loss
        .target(name: "SeededRandom"),
        .target(name: "CPUFeatures"),
        .target(name: "GEMMAVX512", exclude: runtimeAVX512 ? [] : avx512GEMMSources, swiftSettings: avx512GEMMSettings),
        // the bf16 GEMM (AVX512-BF16 micro-kernel, packing and blocking) in C: Swift cannot emit VDPBF16PS; its functions
        // carry their own target attributes, so the binary still runs on CPUs without it. Always -O3: at -O0 the
        // intrinsics spill every accumulator.
        .target(name: "GEMMBF16", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Kernels", dependencies: ["CPUFeatures", "GEMMAVX512", "GEMMBF16", "SeededRandom"],
                swiftSettings: kernelsSettings),
        .target(name: "Model", dependencies: ["Kernels", "SeededRandom", "JSON", "Diagnostics"], swiftSettings: optimizedNumerics),
        .target(name: "DPO", dependencies: ["Model"]),
        // AdamW over the flat parameter buffer and the learning-rate schedule
        .target(name: "Optimization", dependencies: ["Kernels", "Model"]),
        // sampling from a model: logits processors, stopping, the KV-cached generation loop
        .target(name: "Generation", dependencies: ["Model", "SeededRandom", "JSON"]),
        // data and checkpoint formats
        .target(name: "Tokenizers", dependencies: ["JSON", "Diagnostics"]),
        .target(name: "ChatTemplate", dependencies: ["JSON", "Diagnostics"]),
        .target(name: "PreferenceData", dependencies: ["JSON", "Tokenizers", "ChatTemplate", "SeededRandom", "Diagnostics"]),
        .target(name: "Checkpoint", dependencies: ["JSON", "Diagnostics"]),
        // a run folder's summary.json and the report page (`dpo-dist report`): read back what runs wrote
        .target(name: "RunReport", dependencies: ["JSON", .product(name: "Yams", package: "Yams")]),
        // TensorBoard's event files (`report_to: tensorboard`): TFRecord frames around hand-encoded Event protobufs
        .target(name: "TensorBoardEvents"),
        // the one place that joins them
        .target(name: "Training", dependencies: [
            "MPI", "Distributed", "Diagnostics", "Kernels", "Model", "DPO", "Optimization", "Generation", "PreferenceData",
            "Checkpoint", "RunReport", "TensorBoardEvents",
            "Tokenizers", "ChatTemplate", "JSON",
            .product(name: "Yams", package: "Yams"),
        ]),
        // kernel, training-step and communication timings behind `dpo-dist bench` (and its all-reduce sweep)
        .target(name: "Benchmarks", dependencies: ["Kernels", "Model", "DPO", "Optimization", "Training", "MPI", "Distributed",
                                                   "SeededRandom", "RunReport"]),
        .executableTarget(name: "dpo-dist", dependencies: [
            "Training", "Benchmarks", "Diagnostics", "Distributed", "Generation",
            "Kernels", "Model", "MPI", "RunReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Small executable that exercises the MPI wrapper under mpirun (used by MPITests).
        .executableTarget(name: "mpi-check", dependencies: ["MPI"]),
        // Helpers shared by test targets: locating built executables, running processes, mpirun command lines.
        .target(name: "TestSupport", dependencies: ["TensorBoardEvents"], path: "Tests/TestSupport"),
        // The tokenizer folders (and what the `tokenizers` library made of them) that TokenizersTests and
        // PreferenceDataTests both use.
        .target(name: "TokenizerFixtures", dependencies: ["Tokenizers"], path: "Tests/TokenizerFixtures",
                resources: [.copy("Fixtures")]),

        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "SeededRandom"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Kernels", "Checkpoint", "SeededRandom", "JSON"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DPOTests", dependencies: ["DPO", "Model", "Kernels"]),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Model", "Checkpoint", "SeededRandom"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TokenizerFixtures"]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PreferenceDataTests", dependencies: [
            "PreferenceData", "Tokenizers", "ChatTemplate", "SeededRandom", "TestSupport", "TokenizerFixtures",
        ], resources: [.copy("Fixtures")]),
        .testTarget(name: "RunReportTests", dependencies: ["RunReport", "TestSupport"]),
        .testTarget(name: "TensorBoardEventsTests", dependencies: ["TensorBoardEvents", "TestSupport"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint"], resources: [.copy("Fixtures")]),
        .testTarget(name: "MPITests", dependencies: ["MPI", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Diagnostics", "MPI"]),
        .testTarget(name: "OptimizationTests", dependencies: ["Optimization", "Kernels", "Model"]),
        .testTarget(name: "BenchmarksTests", dependencies: ["Benchmarks", "Model", "MPI"]),
        .testTarget(name: "TrainingTests", dependencies: [
            "Training", "Checkpoint", "DPO", "Diagnostics", "JSON", "Kernels", "Model", "Optimization", "PreferenceData",
            "Tokenizers", "TestSupport", "RunReport", "TensorBoardEvents",
        ], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
