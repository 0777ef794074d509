import SeededRandom
import Testing
@testable import Kernels

// The bf16 GEMM against a scalar fp32 reference with bf16-rounded inputs that adds the products in the kernel's order:
// pair after pair of k's, each pair as VDPBF16PS does it. The products of two bf16 values are exact in fp32, so the
// reference and the kernel round at the same points and must agree bit for bit.

/// Shapes that are and are not multiples of the 12 × 32 tile; odd reductions (a zero-padded last pair); every block
/// boundary: (97, 1030, 20) has two 96-row blocks with a 1-row edge and two 1024-column blocks with a 6-column edge
/// panel, (25, 40, 513) three 256-long reduction blocks; a zero-length reduction (bias only).
private let bf16Shapes: [(rows: Int, columns: Int, reduction: Int)] = [
    (1, 1, 1), (12, 32, 2), (13, 33, 7), (5, 70, 64), (25, 40, 513), (97, 1030, 20), (3, 4, 0),
]

/// C(m,n) = start(m,n) + Σ_k bf16(A(m,k))·bf16(B(k,n)) in fp32, a pair of k's at a time: the odd product first,
/// then the even one (VDPBF16PS's order).
private func bf16Reference(a: [Float], aStrides: (Int, Int), b: [Float], bStrides: (Int, Int),
                           start: [Float], rows: Int, columns: Int, reduction: Int) -> [Float] {
    var c = start
    for m in 0 ..< rows {
        for n in 0 ..< columns {
            var total = c[m * columns + n]
            for k in stride(from: 0, to: reduction, by: 2) {
                let product = { (k: Int) -> Float in
                    roundedToBFloat16(a[m * aStrides.0 + k * aStrides.1]) * roundedToBFloat16(b[k * bStrides.0 + n * bStrides.1])
                }
                if k + 1 < reduction { total += product(k + 1) }
                total += product(k)
            }
            c[m * columns + n] = total
        }
    }
    return c
}

@Test(.enabled(if: MatmulPrecision.bf16Available, "needs AVX512-BF16"),
      arguments: bf16Shapes.indices, 0 ..< 4)
func bf16GEMMMatchesRoundedReference(shapeIndex: Int, layout: Int) {
    let (rows, columns, reduction) = bf16Shapes[shapeIndex]
    let (transposeA, transposeB) = (layout & 1 != 0, layout & 2 != 0)
    var random = SplitMix64(seed: 900 + UInt64(shapeIndex))
    let a = TestBuffer(random.floats(rows * reduction)), b = TestBuffer(random.floats(reduction * columns))
    let bias = TestBuffer(random.floats(columns))
    // Row-major [rows, reduction] A, or its transposed view; likewise B.
    let aStrides = transposeA ? (1, rows) : (reduction, 1)
    let bStrides = transposeB ? (1, reduction) : (columns, 1)
    let starts: [(GEMMStart, [Float])] = [
        (.accumulate, random.floats(rows * columns)),
        (.overwrite(bias: bias.pointer), (0 ..< rows * columns).map { bias.values[$0 % columns] }),
        (.overwrite(bias: nil), [Float](repeating: 0, count: rows * columns)),
    ]
    for (start, initial) in starts {
        let expected = bf16Reference(a: a.values, aStrides: aStrides, b: b.values, bStrides: bStrides, start: initial,
                                     rows: rows, columns: columns, reduction: reduction)
        for threads in [1, 2] {
            let c = TestBuffer(initial)
            if case .overwrite = start { c.pointer.update(repeating: .nan, count: rows * columns) }  // must be ignored
            gemm(c: c.pointer, cStride: columns,
                 a: StridedMatrix(base: a.pointer, rowStride: aStrides.0, columnStride: aStrides.1),
                 b: StridedMatrix(base: b.pointer, rowStride: bStrides.0, columnStride: bStrides.1),
                 rows: rows, columns: columns, reduction: reduction, start: start,
                 parallel: Parallel(threads: threads, matmulPrecision: .bf16))
            let mismatches = zip(c.values, expected).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(bf16Shapes[shapeIndex]) A\(transposeA ? "ᵀ" : "") B\(transposeB ? "ᵀ" : "") \(start) threads \(threads): \(mismatches) differ")
        }
    }
}

@Test func bfloat16RoundingIsToNearestEven() {
    #expect(roundedToBFloat16(1) == 1)
    // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1); just above goes up.
    #expect(roundedToBFloat16(1 + 0x1p-8) == 1)
    #expect(roundedToBFloat16(1 + 0x1p-8 + 0x1p-20) == 1 + 0x1p-7)
    #expect(roundedToBFloat16(1 + 3 * 0x1p-8) == 1 + 0x1p-6)
    #expect(roundedToBFloat16(.infinity) == .infinity)
    #expect(roundedToBFloat16(.nan).isNaN)
    #expect(roundedToBFloat16(Float(bitPattern: 0x7fff_ffff)).isNaN)
}

@Test func bf16FallsBackToFP32WithAMessageOnlyWhenNoKernel() {
    let (precision, message) = MatmulPrecision.resolve(bf16: true)
    #expect(precision == (MatmulPrecision.bf16Available ? .bf16 : .fp32))
    #expect(message?.contains(MatmulPrecision.bf16Available ? "fp32 accumulation" : "falling back to fp32") == true)
    #expect(MatmulPrecision.resolve(bf16: false) == (.fp32, nil))
}
