/// The precision of the model's matrix products, as PyTorch's CPU autocast with bf16 sets it: with `.bf16` every GEMM
/// (Linear layers forward and backward, attention's products, the LM head, LoRA) multiplies its inputs rounded to bf16
/// (to nearest even) and accumulates in fp32; everything else — weights, gradients, optimizer state, norms,
/// softmaxes, log-softmax and the loss — stays fp32. The bf16 products run on the C micro-kernel in Sources/GEMMBF16,
/// chosen at run time (`BF16GEMMKernel`).

import CPUFeatures
import GEMMBF16

public enum MatmulPrecision: String, Sendable, CaseIterable {
    case fp32
    case bf16

    /// Whether this CPU (and OS) can run the bf16 GEMM.
    public static var bf16Available: Bool { !BF16GEMMKernel.available.isEmpty }

    /// The precision a run asking for bf16 (`bf16: true`) or not gets on this CPU, and the line to log about it: bf16
    /// needs a bf16 kernel (`BF16GEMMKernel`); without one the run falls back to fp32 and says so.
    public static func resolve(bf16 requested: Bool) -> (precision: MatmulPrecision, message: String?) {
        guard requested else { return (.fp32, nil) }
        guard let kernel = BF16GEMMKernel.available.last else {
            return (.fp32, "bf16: true, but this CPU (or its operating system) has no AVX512-BF16 (VDPBF16PS) and no "
                           + "other bf16 kernel is built in: falling back to fp32 matmuls for this run")
        }
        return (.bf16, "bf16: true: matmuls take bf16-rounded inputs with fp32 accumulation (\(kernel.description)); "
                       + "weights, gradients, AdamW state, norms, softmaxes and the loss stay fp32")
    }
}

/// A bf16 GEMM micro-kernel with fp32 accumulation. Only AVX512-BF16 is built in: AMX (TDPBF16PS on tiles, which Linux
/// enables per process with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) would be a second case here, listed
/// after it in `available`, with its own packing (16 × 32 bf16 tiles in the same k-pair layout); it is not written,
/// because this machine (AMD Zen 4) has no AMX to test it on.
public enum BF16GEMMKernel: String, Sendable, CaseIterable, CustomStringConvertible {
    /// VDPBF16PS on zmm registers: a 12 × 32 fp32 tile, 32 bf16 products per instruction.
    case avx512bf16

    /// The kernels this CPU can run, slowest first.
    public static let available: [BF16GEMMKernel] = dpo_dist_cpu_supports_avx512bf16() != 0 ? [.avx512bf16] : []

    public var description: String {
        switch self {
        case .avx512bf16: return "AVX512-BF16 VDPBF16PS kernel"
        }
    }

    /// Rows × columns of C per micro-tile: the unit of the thread split.
    public var microTile: (rows: Int, columns: Int) {
        (Int(dpo_dist_bf16_micro_rows), Int(dpo_dist_bf16_micro_columns))
    }

    /// The single-core VDPBF16PS peak in GFLOP/s, measured like the FMA peak (PeakThroughput.swift).
    public func measurePeakGFLOPS(iterations: Int = 20_000_000) -> Double {
        dpo_dist_bf16_peak_gflops(iterations)
    }

    /// One thread's share of a GEMM (as `GEMMKernel.gemmBlocked`), inputs rounded to bf16 while packed.
    func gemmBlocked(c: UnsafeMutablePointer<Float>, cStride: Int, a: StridedMatrix, b: StridedMatrix,
                     rowRange: Range<Int>, columnRange: Range<Int>, reduction: Int, start: GEMMStart) {
        let (overwrite, bias): (Bool, UnsafePointer<Float>?)
        switch start {
        case .accumulate: (overwrite, bias) = (false, nil)
        case .overwrite(let given): (overwrite, bias) = (true, given)
        }
        dpo_dist_gemm_bf16_blocked(c, cStride, a.base, a.rowStride, a.columnStride, b.base, b.rowStride, b.columnStride,
                                   rowRange.lowerBound, rowRange.upperBound, columnRange.lowerBound,
                                   columnRange.upperBound, reduction, overwrite ? 1 : 0, bias)
    }
}

/// fp32 → bf16 → fp32, rounding to nearest even as the bf16 GEMM's packing does (NaN stays NaN): what a bf16 matmul
/// input holds. For tests and for tensors stored in bf16.
@inline(__always)
public func roundedToBFloat16(_ value: Float) -> Float {
    Float(bitPattern: UInt32(bfloat16Bits(value)) << 16)
}

/// The bf16 bit pattern of `value`, rounded to nearest even.
@inline(__always)
public func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if bits & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    return UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
}
