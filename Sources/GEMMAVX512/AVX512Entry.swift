/// The AVX-512 build of the GEMM: GEMM.swift, GEMMMicroKernel.swift, GEMMPacking.swift and PeakThroughput.swift are
/// symbolic links to the files in Sources/Kernels, compiled here for skylake-avx512 with `DPO_DIST_AVX512` (16-float
/// vectors, a 12 × 32 micro-tile in zmm registers; see Package.swift). Kernels (GEMMKernel.swift) calls these entry
/// points only after checking that the CPU and OS support AVX-512, and only with plain values: this module has its own
/// `StridedMatrix`, `GEMMStart`, … On other architectures, or when Kernels itself targets an AVX-512 CPU, the manifest
/// leaves the linked files out and the module is empty.

#if arch(x86_64) && DPO_DIST_AVX512
/// Entry points of the AVX-512 GEMM for Kernels.
package enum AVX512GEMM {
    /// Rows × columns of the micro-tile, the unit in which Kernels splits the work between threads.
    package static let microTile = (rows: microRows, columns: microColumns)

    /// Floats per vector register.
    package static let vectorWidth = GEMMVector.scalarCount

    /// FLOP per cycle of one core with two 512-bit FMA ports.
    package static let fmaFLOPsPerCycle = vectorFMAFLOPsPerCycle

    /// One thread's share of a GEMM, as `gemmBlocked`: C[m,n] (+)= Σ_k A(m,k)·B(k,n) for m in `rowRange`, n in
    /// `columnRange`, k < reduction, where A(m,k) = a[m·aRowStride + k·aColumnStride] and likewise B; C is row-major
    /// with row stride `cStride`. With `overwrite` the previous contents of C are replaced by the product plus
    /// `bias[n]` (or 0 when nil); otherwise the product is added to them.
    package static func gemmBlocked(c: UnsafeMutablePointer<Float>, cStride: Int,
                                    a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                                    b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
                                    rowRange: Range<Int>, columnRange: Range<Int>, reduction: Int,
                                    overwrite: Bool, bias: UnsafePointer<Float>?) {
        GEMMAVX512.gemmBlocked(c: c, cStride: cStride,
                               a: StridedMatrix(base: a, rowStride: aRowStride, columnStride: aColumnStride),
                               b: StridedMatrix(base: b, rowStride: bRowStride, columnStride: bColumnStride),
                               rowRange: rowRange, columnRange: columnRange, reduction: reduction,
                               start: overwrite ? .overwrite(bias: bias) : .accumulate)
    }

    /// The FMA peak of one core at this module's vector width, in GFLOP/s (`measureVectorPeakGFLOPS`).
    package static func measurePeakGFLOPS(iterations: Int) -> Double {
        measureVectorPeakGFLOPS(iterations: iterations)
    }
}
#endif
