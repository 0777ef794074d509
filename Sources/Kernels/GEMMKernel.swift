/// Which build of the GEMM runs, chosen once per process: the AVX-512 one when the CPU and OS support it, the AVX2 one
/// otherwise, or the one named by the environment variable `DPO_DIST_GEMM` (`avx2` or `avx512`). The AVX-512 build is
/// the same source compiled a second time for skylake-avx512 in the GEMMAVX512 target (see GEMM.swift and Package.swift).
/// Kernels splits every GEMM between threads here and each thread calls the selected path's single-thread
/// `gemmBlocked`.

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CPUFeatures
#if DPO_DIST_GEMM_DISPATCH
import GEMMAVX512
#endif

/// A build of the GEMM micro-kernel and the FMA peak probe.
public enum GEMMKernel: String, CaseIterable, Sendable {
    /// 8-float vectors, a 6 × 16 micro-tile: the Kernels target's own build (AVX2 + FMA, x86-64-v3, by default;
    /// whatever DPO_DIST_TARGET_CPU names otherwise, e.g. NEON on arm64).
    case avx2
    /// 16-float zmm vectors, a 12 × 32 micro-tile: the GEMMAVX512 target, or Kernels' own build when the whole build
    /// targets an AVX-512 CPU (DPO_DIST_TARGET_CPU=sapphirerapids, …), which then has no 8-float path.
    case avx512

    /// The environment variable that forces a path.
    public static let environmentVariable = "DPO_DIST_GEMM"

    /// The paths this build can run on this CPU, slowest first.
    public static let available: [GEMMKernel] = {
        #if DPO_DIST_AVX512
        return [.avx512]
        #elseif DPO_DIST_GEMM_DISPATCH
        return dpo_dist_cpu_supports_avx512() != 0 ? [.avx2, .avx512] : [.avx2]
        #else
        return [.avx2]
        #endif
    }()

    /// The path every `gemm` runs unless told otherwise: `DPO_DIST_GEMM` if set, else the fastest available. Asking for
    /// a path this CPU or build cannot run ends the process with a message on stderr.
    public static let selected: GEMMKernel = {
        switch select(requested: getenv(environmentVariable).map { String(cString: $0) }, available: available) {
        case .success(let kernel):
            return kernel
        case .failure(let error):
            fputs("error: \(error.message)\n", stderr)
            exit(2)
        }
    }()

    /// Why `DPO_DIST_GEMM` cannot be honoured.
    public struct SelectionError: Error, Equatable {
        public let message: String
    }

    /// The path for a `DPO_DIST_GEMM` value: nil or empty picks the last (fastest) of `available`.
    public static func select(requested: String?, available: [GEMMKernel]) -> Result<GEMMKernel, SelectionError> {
        guard let requested, !requested.isEmpty else { return .success(available.last!) }
        guard let kernel = GEMMKernel(rawValue: requested.lowercased()) else {
            return .failure(SelectionError(message: "\(environmentVariable)=\(requested) is not a GEMM path; use "
                                                    + allCases.map(\.rawValue).joined(separator: " or ")
                                                    + ", or leave it unset to pick the fastest this CPU supports"))
        }
        guard available.contains(kernel) else {
            let reason = kernel == .avx512
                ? "this CPU (or its operating system) does not support AVX-512 (F, CD, BW, DQ and VL are needed)"
                : "this build targets an AVX-512 CPU (DPO_DIST_TARGET_CPU), so its only GEMM path is avx512"
            return .failure(SelectionError(message: "\(environmentVariable)=\(requested) cannot be used: \(reason); "
                                                    + "unset it or set it to "
                                                    + available.map(\.rawValue).joined(separator: " or ")))
        }
        return .success(kernel)
    }

    /// Rows × columns of C per micro-tile.
    public var microTile: (rows: Int, columns: Int) {
        switch self {
        case .avx2: return (microRows, microColumns)
        case .avx512:
            #if DPO_DIST_GEMM_DISPATCH
            return AVX512GEMM.microTile
            #else
            return (microRows, microColumns)
            #endif
        }
    }

    /// FLOP per cycle of one core at this path's vector width, assuming two FMA ports: 2 ports × lanes × 2 FLOP.
    public var fmaFLOPsPerCycle: Int {
        switch self {
        case .avx2: return vectorFMAFLOPsPerCycle
        case .avx512:
            #if DPO_DIST_GEMM_DISPATCH
            return AVX512GEMM.fmaFLOPsPerCycle
            #else
            return vectorFMAFLOPsPerCycle
            #endif
        }
    }

    /// The single-core FMA peak in GFLOP/s, measured with this path's vector width (PeakThroughput.swift).
    public func measurePeakGFLOPS(iterations: Int = 20_000_000) -> Double {
        precondition(Self.available.contains(self), "GEMM path \(rawValue) is not available on this CPU")
        switch self {
        case .avx2: return measureVectorPeakGFLOPS(iterations: iterations)
        case .avx512:
            #if DPO_DIST_GEMM_DISPATCH
            return AVX512GEMM.measurePeakGFLOPS(iterations: iterations)
            #else
            return measureVectorPeakGFLOPS(iterations: iterations)
            #endif
        }
    }

    /// One thread's share of a GEMM on this path (`gemmBlocked`).
    func gemmBlocked(c: UnsafeMutablePointer<Float>, cStride: Int, a: StridedMatrix, b: StridedMatrix,
                     rowRange: Range<Int>, columnRange: Range<Int>, reduction: Int, start: GEMMStart) {
        #if DPO_DIST_GEMM_DISPATCH
        if self == .avx512 {
            let (overwrite, bias): (Bool, UnsafePointer<Float>?)
            switch start {
            case .accumulate: (overwrite, bias) = (false, nil)
            case .overwrite(let given): (overwrite, bias) = (true, given)
            }
            AVX512GEMM.gemmBlocked(c: c, cStride: cStride,
                                   a: a.base, aRowStride: a.rowStride, aColumnStride: a.columnStride,
                                   b: b.base, bRowStride: b.rowStride, bColumnStride: b.columnStride,
                                   rowRange: rowRange, columnRange: columnRange, reduction: reduction,
                                   overwrite: overwrite, bias: bias)
            return
        }
        #endif
        Kernels.gemmBlocked(c: c, cStride: cStride, a: a, b: b, rowRange: rowRange, columnRange: columnRange,
                            reduction: reduction, start: start)
    }
}

/// The FMA peak of one core in GFLOP/s with the selected GEMM path's vector width.
public func measurePeakGFLOPS(iterations: Int = 20_000_000) -> Double {
    GEMMKernel.selected.measurePeakGFLOPS(iterations: iterations)
}

/// FLOP per cycle of one core at the selected GEMM path's vector width (2 FMA ports × lanes × 2).
public var fmaFLOPsPerCycle: Int { GEMMKernel.selected.fmaFLOPsPerCycle }

/// C[m,n] (+)= Σ_k A(m,k)·B(k,n) for m < rows, n < columns, k < reduction; C is row-major with row stride `cStride`.
/// Threads take contiguous ranges of the larger of rows and columns, in whole micro-tiles, each packing its own
/// operands: splitting the larger dimension duplicates the packing of the smaller operand only. Every element is summed
/// in the same order whichever thread computes it, so results do not depend on the thread count. `kernel` is the path
/// (`GEMMKernel.selected` unless a test asks for another).
func gemm(c: UnsafeMutablePointer<Float>, cStride: Int, a: StridedMatrix, b: StridedMatrix,
          rows: Int, columns: Int, reduction: Int, start: GEMMStart, parallel: Parallel,
          kernel: GEMMKernel = .selected) {
    guard rows > 0, columns > 0 else { return }
    precondition(GEMMKernel.available.contains(kernel), "GEMM path \(kernel.rawValue) is not available on this CPU")
    // bf16 products (`bf16: true`) run on the fastest bf16 kernel, in the same thread split.
    let bf16Kernel = parallel.matmulPrecision == .bf16 ? BF16GEMMKernel.available.last : nil
    let microTile = bf16Kernel?.microTile ?? kernel.microTile
    let splitRows = rows >= columns
    let (unit, extent) = splitRows ? (microTile.rows, rows) : (microTile.columns, columns)
    let units = (extent + unit - 1) / unit
    let workPerUnit = unit * (splitRows ? columns : rows) * max(reduction, 1)
    parallel.forEachChunk(of: units, minimumChunk: max(1, (1 << 21) / workPerUnit)) { unitRange in
        let range = unitRange.lowerBound * unit ..< min(extent, unitRange.upperBound * unit)
        let (rowRange, columnRange) = splitRows ? (range, 0 ..< columns) : (0 ..< rows, range)
        if let bf16Kernel {
            bf16Kernel.gemmBlocked(c: c, cStride: cStride, a: a, b: b, rowRange: rowRange, columnRange: columnRange,
                                   reduction: reduction, start: start)
        } else {
            kernel.gemmBlocked(c: c, cStride: cStride, a: a, b: b, rowRange: rowRange, columnRange: columnRange,
                               reduction: reduction, start: start)
        }
    }
}
