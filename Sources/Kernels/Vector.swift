/// Small SIMD building blocks shared by the kernels.
///
/// Debug builds compile each file on its own, so a call into another file is never inlined. Shared helpers therefore
/// either do a whole vector loop (`dot`, `axpy`, `sum`) or enough work per call (`exp`, `tanh` on eight lanes) that
/// the call does not matter; per-element loads and stores in other files call the standard library
/// (`loadUnaligned` / `storeBytes`) directly, which inlines everywhere. Loads and stores go through raw pointers so
/// they work at any alignment.

typealias Float8 = SIMD8<Float>

@inline(__always)
func load8(_ pointer: UnsafePointer<Float>) -> Float8 {
    UnsafeRawPointer(pointer).loadUnaligned(as: Float8.self)
}

@inline(__always)
func store8(_ value: Float8, _ pointer: UnsafeMutablePointer<Float>) {
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

/// Calls `body(offset, lanes, vector)` for offset = 0, 8, 16, … < count with the `lanes` (8, fewer at the end) floats
/// at x + offset (full vectors loaded directly; the last partial one zero-padded) and stores the result there in `out`
/// (only those lanes). `body` should load other operands with `loadPartial(_, count: lanes)`, which is a plain load
/// for the constant 8 of the main loop. Keeping the partial tail out of the main loop matters: a loop that may load fewer than eight lanes on any
/// iteration compiles to 128-bit pieces and blends, at a third of the speed.
@inline(__always)
func mapVectors(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int,
                _ body: (_ offset: Int, _ lanes: Int, _ vector: Float8) -> Float8) {
    var i = 0
    while i + 8 <= count {
        store8(body(i, 8, load8(x + i)), out + i)
        i += 8
    }
    if i < count {
        storePartial(body(i, count - i, loadPartial(x + i, count: count - i)), out + i, count: count - i)
    }
}

/// The first `count` ≤ 8 floats at `pointer`, the other lanes 0.
@inline(__always)
func loadPartial(_ pointer: UnsafePointer<Float>, count: Int) -> Float8 {
    if count == 8 { return load8(pointer) }
    var value = Float8()
    for lane in 0..<count { value[lane] = pointer[lane] }
    return value
}

/// Stores the first `count` ≤ 8 lanes of `value` at `pointer`.
@inline(__always)
func storePartial(_ value: Float8, _ pointer: UnsafeMutablePointer<Float>, count: Int) {
    if count == 8 { return store8(value, pointer) }
    for lane in 0..<count { pointer[lane] = value[lane] }
}

/// e^x in every lane, within a few ulp of expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its degree-6 Taylor
/// polynomial (truncation error < 1.2e-7 relative), 2^n written into the exponent bits. Below −87.3 the result is 0
/// (where expf gives a denormal or 0), above 88.8 +∞.
/// Elementwise kernels call this rather than `expf` per element, which costs ~10× more.
@inline(__always)
func exp(_ x: Float8) -> Float8 {
    let clamped = x.replacing(with: 88.8, where: x .> 88.8).replacing(with: -87.3, where: x .< -87.3)
    let n = (clamped * 1.442_695_04).rounded(.toNearestOrEven)
    // ln 2 split in a high part exact in n·ln2High for |n| ≤ 128 and a low correction.
    let r = clamped - n * 0.693_145_751_953_125 - n * 1.428_606_765_330_187e-6
    var p = Float8(repeating: 1.0 / 720)
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // 2^n: adding 1.5·2^23 puts the integer n + 127 in the low mantissa bits of a float (exact for |n| < 2^22);
    // shifting those into the exponent field makes 2^n. (SIMD8<Int32>(n, rounding:) converts lane by lane through
    // generic code, which cost more than the whole polynomial.)
    let biased = unsafeBitCast(n + (12_582_912 + 127), to: SIMD8<Int32>.self) &- 0x4B40_0000
    return (p * unsafeBitCast(biased &<< 23, to: Float8.self)).replacing(with: 0, where: x .< -87.3)
}

/// tanh in every lane as 1 − 2/(e^{2x} + 1): absolute error ~1e-7 (relative error grows near 0, where tanh x ≈ x,
/// which is harmless where tanh is added to 1 as in GELU). ±∞ saturate to ±1.
@inline(__always)
func tanh(_ x: Float8) -> Float8 {
    1 - 2 / (exp(2 * x) + 1)
}
