/// Small SIMD building blocks shared by the kernels.
///
/// Only whole-vector helpers (`dot`, `axpy`, `sum`) are shared across files: debug builds compile each file on its own,
/// so a call into another file is never inlined. Per-element SIMD loads and stores in other files therefore call the
/// standard library (`loadUnaligned` / `storeBytes`) directly, which inlines everywhere.
/// Loads and stores go through raw pointers so they work at any alignment. Products are written as
/// `a + b * c` rather than `addingProduct`: the package builds for baseline x86-64 (no FMA instruction),
/// where `addingProduct` lowers to one `fmaf` library call per lane.

typealias Float8 = SIMD8<Float>

/// The vector the GEMM micro-kernel and the FMA peak probe are written in, two of them per micro-tile row: one AVX2
/// register (x86-64-v3, the default build), or one AVX-512 register when the build targets an AVX-512 CPU
/// (`DPO_DIST_AVX512`, see Package.swift).
#if DPO_DIST_AVX512
typealias GEMMVector = SIMD16<Float>
#else
typealias GEMMVector = SIMD8<Float>
#endif

@inline(__always)
private func load8(_ pointer: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(pointer).loadUnaligned(as: Float8.self)
}

@inline(__always)
private func store8(_ value: Float8, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Float8.self)
}

/// Σ_i a[i]·b[i] in Float, eight lanes at a time.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = Float8()
    var i = 0
    while i + 8 <= count {
        lanes += load8(a + i) * load8(b + i)
        i += 8
    }
    var sum = lanes.sum()
    while i < count {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}

/// y[i] += alpha·x[i].
@inline(__always)
func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    let alphas = Float8(repeating: alpha)
    var i = 0
    while i + 8 <= count {
        store8(load8(y + i) + alphas * load8(x + i), y + i)
        i += 8
    }
    while i < count {
        y[i] += alpha * x[i]
        i += 1
    }
}

/// Σ_i x[i] in Float, eight lanes at a time.
@inline(__always)
func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = Float8()
    var i = 0
    while i + 8 <= count {
        lanes += load8(x + i)
        i += 8
    }
    var total = lanes.sum()
    while i < count {
        total += x[i]
        i += 1
    }
    return total
}
