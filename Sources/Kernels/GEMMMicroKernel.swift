/// The register-blocked inner kernel of the GEMM: a `microRows` × `microColumns` tile of C stays in vector registers
/// while the packed panels of A and B stream past, one fused multiply-add per register per k. With AVX2 (6 × 16 tile)
/// that is 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers; with AVX-512 the same code makes
/// a 12 × 32 tile of 24 zmm accumulators (+ 2 B vectors + broadcasts, of 32 registers), which halves the B traffic
/// per FMA of a 6 × 32 tile, as OpenBLAS's SkylakeX kernels do.

/// The vector the micro-kernel and the FMA peak probe are written in, two of them per micro-tile row: one AVX2 register
/// (x86-64-v3, the Kernels build), or one AVX-512 register where `DPO_DIST_AVX512` is set — in the GEMMAVX512 target,
/// which compiles this file a second time for skylake-avx512, or in Kernels itself when the whole build targets an AVX-512
/// CPU (see Package.swift).
#if DPO_DIST_AVX512
typealias GEMMVector = SIMD16<Float>
#else
typealias GEMMVector = SIMD8<Float>
#endif

/// Rows of C per micro-tile: one group of six rows (`SixRows`) with AVX2, two with AVX-512.
#if DPO_DIST_AVX512
let microRows = 12
#else
let microRows = 6
#endif
/// Columns of C per micro-tile: two vectors per row (16 with AVX2, 32 with AVX-512).
let microColumns = 2 * GEMMVector.scalarCount

/// What a micro-tile's accumulators start from.
enum TileStart {
    /// The current contents of C (C += A·B).
    case accumulate
    /// The bias of the tile's columns, the same for every row (C = A·B + bias).
    case bias(UnsafePointer<Float>)
    /// Zero (C = A·B).
    case zero
}

/// acc + a·b in one rounding where the build targets a CPU with FMA (DPO_DIST_FMA, see Package.swift); otherwise a
/// separate multiply and add (addingProduct would become a libm call per lane there).
@inline(__always)
private func multiplyAdd(_ acc: GEMMVector, _ a: GEMMVector, _ b: GEMMVector) -> GEMMVector {
    #if DPO_DIST_FMA
    return acc.addingProduct(a, b)
    #else
    return acc + a * b
    #endif
}

@inline(__always)
private func loadVector(_ pointer: UnsafePointer<Float>) -> GEMMVector {
    UnsafeRawPointer(pointer).loadUnaligned(as: GEMMVector.self)
}

@inline(__always)
private func storeVector(_ value: GEMMVector, _ pointer: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: GEMMVector.self)
}

/// The accumulators of six rows of a micro-tile, two vectors per row; inlined into the kernel, they live in registers.
private struct SixRows {
    var c00 = GEMMVector(), c01 = GEMMVector(), c10 = GEMMVector(), c11 = GEMMVector()
    var c20 = GEMMVector(), c21 = GEMMVector(), c30 = GEMMVector(), c31 = GEMMVector()
    var c40 = GEMMVector(), c41 = GEMMVector(), c50 = GEMMVector(), c51 = GEMMVector()

    /// One k: a[0 ..< 6], the six rows' entries of the A panel, broadcast against the B panel row (low, high).
    @inline(__always)
    mutating func update(_ a: UnsafePointer<Float>, _ low: GEMMVector, _ high: GEMMVector) {
        var broadcast = GEMMVector(repeating: a[0])
        c00 = multiplyAdd(c00, broadcast, low); c01 = multiplyAdd(c01, broadcast, high)
        broadcast = GEMMVector(repeating: a[1])
        c10 = multiplyAdd(c10, broadcast, low); c11 = multiplyAdd(c11, broadcast, high)
        broadcast = GEMMVector(repeating: a[2])
        c20 = multiplyAdd(c20, broadcast, low); c21 = multiplyAdd(c21, broadcast, high)
        broadcast = GEMMVector(repeating: a[3])
        c30 = multiplyAdd(c30, broadcast, low); c31 = multiplyAdd(c31, broadcast, high)
        broadcast = GEMMVector(repeating: a[4])
        c40 = multiplyAdd(c40, broadcast, low); c41 = multiplyAdd(c41, broadcast, high)
        broadcast = GEMMVector(repeating: a[5])
        c50 = multiplyAdd(c50, broadcast, low); c51 = multiplyAdd(c51, broadcast, high)
    }

    /// Adds `start` (for these six rows of C at `c`) to the sums and stores them in C.
    @inline(__always)
    mutating func store(to c: UnsafeMutablePointer<Float>, cStride: Int, start: TileStart) {
        let w = GEMMVector.scalarCount
        let (r0, r1, r2) = (c, c + cStride, c + 2 * cStride)
        let (r3, r4, r5) = (c + 3 * cStride, c + 4 * cStride, c + 5 * cStride)
        switch start {
        case .accumulate:
            (c00, c01, c10, c11) = (c00 + loadVector(r0), c01 + loadVector(r0 + w), c10 + loadVector(r1), c11 + loadVector(r1 + w))
            (c20, c21, c30, c31) = (c20 + loadVector(r2), c21 + loadVector(r2 + w), c30 + loadVector(r3), c31 + loadVector(r3 + w))
            (c40, c41, c50, c51) = (c40 + loadVector(r4), c41 + loadVector(r4 + w), c50 + loadVector(r5), c51 + loadVector(r5 + w))
        case .bias(let bias):
            let (low, high) = (loadVector(bias), loadVector(bias + w))
            (c00, c01, c10, c11, c20, c21) = (c00 + low, c01 + high, c10 + low, c11 + high, c20 + low, c21 + high)
            (c30, c31, c40, c41, c50, c51) = (c30 + low, c31 + high, c40 + low, c41 + high, c50 + low, c51 + high)
        case .zero:
            break
        }
        storeVector(c00, r0); storeVector(c01, r0 + w); storeVector(c10, r1); storeVector(c11, r1 + w)
        storeVector(c20, r2); storeVector(c21, r2 + w); storeVector(c30, r3); storeVector(c31, r3 + w)
        storeVector(c40, r4); storeVector(c41, r4 + w); storeVector(c50, r5); storeVector(c51, r5 + w)
    }
}

/// C[i, j] (+)= Σ_{k < kCount} packedA[k·microRows + i] · packedB[k·microColumns + j] for the full tile i < microRows,
/// j < microColumns. The sum runs in k order from zero and is then added to `start` (C, the bias, or nothing), whichever
/// tile or thread the element falls in. Reading C only after the loop lets its loads (often L3 misses) overlap the last
/// iterations instead of stalling the first ones.
func multiplyMicroTile(kCount: Int, packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
                       c: UnsafeMutablePointer<Float>, cStride: Int, start: TileStart) {
    let w = GEMMVector.scalarCount
    // `microRows` is a constant, so the second group and its branches vanish from the AVX2 build.
    var top = SixRows(), bottom = SixRows()
    /// One k: a row of the A panel broadcast against a row of the B panel.
    @inline(__always)
    func update(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) {
        let (low, high) = (loadVector(b), loadVector(b + w))
        top.update(a, low, high)
        if microRows == 12 { bottom.update(a + 6, low, high) }
    }
    var a = packedA, b = packedB
    var remaining = kCount
    // Four k's per iteration: fewer loop instructions between the FMAs.
    while remaining >= 4 {
        update(a, b)
        update(a + microRows, b + microColumns)
        update(a + 2 * microRows, b + 2 * microColumns)
        update(a + 3 * microRows, b + 3 * microColumns)
        a += 4 * microRows
        b += 4 * microColumns
        remaining -= 4
    }
    while remaining > 0 {
        update(a, b)
        a += microRows
        b += microColumns
        remaining -= 1
    }
    top.store(to: c, cStride: cStride, start: start)
    if microRows == 12 { bottom.store(to: c + 6 * cStride, cStride: cStride, start: start) }
}

/// The same product for a partial tile of `rows` ≤ `microRows` × `columns` ≤ `microColumns` at the bottom or right edge of C: it runs the
/// full kernel on a scratch tile (the packed panels are zero-padded), so edge elements are summed exactly like the rest.
func multiplyEdgeTile(rows: Int, columns: Int, kCount: Int, packedA: UnsafePointer<Float>, packedB: UnsafePointer<Float>,
                      c: UnsafeMutablePointer<Float>, cStride: Int, start: TileStart) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: microRows * microColumns) { scratch in
        let tile = scratch.baseAddress!
        tile.initialize(repeating: 0, count: microRows * microColumns)
        for i in 0 ..< rows {
            switch start {
            case .accumulate: (tile + i * microColumns).update(from: c + i * cStride, count: columns)
            case .bias(let bias): (tile + i * microColumns).update(from: bias, count: columns)
            case .zero: break
            }
        }
        multiplyMicroTile(kCount: kCount, packedA: packedA, packedB: packedB, c: tile, cStride: microColumns, start: .accumulate)
        for i in 0 ..< rows {
            (c + i * cStride).update(from: tile + i * microColumns, count: columns)
        }
    }
}
