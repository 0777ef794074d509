/// The one GEMM behind every matmul product: C[m,n] (+)= Σ_k A(m,k)·B(k,n), A and B read through strides.
///
/// BLIS-style blocking (Goto's algorithm): for each block of `columnBlock` columns and `reductionBlock` k's, B is
/// packed once into 256 × 16 micro-panels (1 MB in all, resident in L2; 256 × 32 with AVX-512); for each block of
/// `rowBlock` rows A is packed into 6 × 256 micro-panels (12 × 256 with AVX-512); then each A micro-panel (6 KB or
/// 12 KB, in L1) sweeps the B micro-panels, the micro-kernel keeping a 6 × 16 (12 × 32) tile of C in registers. Sweeping along the rows of C
/// (rather than down its columns) makes the C traffic sequential, which the hardware prefetchers follow. Every element
/// of C is summed over k-blocks in ascending order and within a block in ascending k — the same sequence whatever the
/// tile, block or thread it falls in, so results do not depend on the thread count.
///
/// This file, GEMMMicroKernel.swift, GEMMPacking.swift and PeakThroughput.swift are compiled twice: in Kernels for the
/// build's CPU level (x86-64-v3 by default), and through symbolic links in Sources/GEMMAVX512 for skylake-avx512 with
/// `DPO_DIST_AVX512`, where `GEMMVector` is 16 floats wide. Kernels splits the work between threads and calls the
/// `gemmBlocked` of the path `GEMMKernel` selects; only plain values cross between the two modules.

/// k's per packed block: a 256 × 16 B micro-panel is 16 KB (32 KB with AVX-512), resident in L1 next to the 6 KB
/// (12 KB) A micro-panel.
private let reductionBlock = 256
/// Rows of A per packed block. A multiple of `microRows`.
private let rowBlock = 96
/// Columns of B per packed block: 256 × 1024 floats = 1 MB, resident in a 2 MB L2. A multiple of `microColumns`.
private let columnBlock = 1024

/// How the first reduction block starts each element of C.
enum GEMMStart {
    /// C += A·B: start from the current contents of C.
    case accumulate
    /// C = A·B + bias[n] (or + 0 when nil): the previous contents of C are ignored.
    case overwrite(bias: UnsafePointer<Float>?)
}

/// One thread's share of `gemm` (GEMMKernel.swift): the rows `rowRange` × columns `columnRange` of C, where C[m,n] (+)=
/// Σ_k A(m,k)·B(k,n) for k < reduction; C is row-major with row stride `cStride`.
func gemmBlocked(c: UnsafeMutablePointer<Float>, cStride: Int, a: StridedMatrix, b: StridedMatrix,
                 rowRange: Range<Int>, columnRange: Range<Int>, reduction: Int, start: GEMMStart) {
    let kBlock = min(reductionBlock, max(reduction, 1))
    let packedA = PackingBuffer(count: roundUp(min(rowBlock, rowRange.count), to: microRows) * kBlock)
    let packedB = PackingBuffer(count: roundUp(min(columnBlock, columnRange.count), to: microColumns) * kBlock)
    defer { packedA.deallocate(); packedB.deallocate() }

    for n0 in stride(from: columnRange.lowerBound, to: columnRange.upperBound, by: columnBlock) {
        let nCount = min(columnBlock, columnRange.upperBound - n0)
        // A zero-length reduction still runs one empty block, which writes the bias (or zero) of `.overwrite`.
        for k0 in stride(from: 0, to: max(reduction, 1), by: reductionBlock) {
            let kCount = min(reductionBlock, reduction - k0)
            packB(packedB.pointer, from: b, k0: k0, kCount: kCount, n0: n0, nCount: nCount)
            for m0 in stride(from: rowRange.lowerBound, to: rowRange.upperBound, by: rowBlock) {
                let mCount = min(rowBlock, rowRange.upperBound - m0)
                packA(packedA.pointer, from: a, m0: m0, mCount: mCount, k0: k0, kCount: kCount)
                for i in stride(from: 0, to: mCount, by: microRows) {
                    let rows = min(microRows, mCount - i)
                    for j in stride(from: 0, to: nCount, by: microColumns) {
                        let columns = min(microColumns, nCount - j)
                        let tileStart = k0 > 0 ? TileStart.accumulate : TileStart(start, biasOffset: n0 + j)
                        let tile = c + (m0 + i) * cStride + n0 + j
                        let (panelA, panelB) = (UnsafePointer(packedA.pointer + i * kCount), UnsafePointer(packedB.pointer + j * kCount))
                        if rows == microRows && columns == microColumns {
                            multiplyMicroTile(kCount: kCount, packedA: panelA, packedB: panelB, c: tile, cStride: cStride,
                                              start: tileStart)
                        } else {
                            multiplyEdgeTile(rows: rows, columns: columns, kCount: kCount, packedA: panelA, packedB: panelB,
                                             c: tile, cStride: cStride, start: tileStart)
                        }
                    }
                }
            }
        }
    }
}

extension TileStart {
    /// The start of the tile whose first column is `biasOffset` in the first reduction block.
    init(_ start: GEMMStart, biasOffset: Int) {
        switch start {
        case .accumulate: self = .accumulate
        case .overwrite(let bias?): self = .bias(bias + biasOffset)
        case .overwrite(nil): self = .zero
        }
    }
}

/// A 64-byte-aligned scratch block for packed panels.
private struct PackingBuffer {
    let pointer: UnsafeMutablePointer<Float>

    init(count: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
    }

    func deallocate() { UnsafeMutableRawPointer(pointer).deallocate() }
}

private func roundUp(_ value: Int, to multiple: Int) -> Int {
    (value + multiple - 1) / multiple * multiple
}
