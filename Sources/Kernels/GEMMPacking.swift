/// Packing copies a block of A or B into the order the micro-kernel reads it, so that its inner loop does unit-stride
/// loads whatever the operand's layout (transposes cost nothing beyond the copy), and zero-pads partial panels.

/// A strided read-only matrix view: element (row, column) is at base[row·rowStride + column·columnStride].
struct StridedMatrix {
    let base: UnsafePointer<Float>
    let rowStride: Int
    let columnStride: Int

    @inline(__always)
    func pointer(_ row: Int, _ column: Int) -> UnsafePointer<Float> {
        base + row * rowStride + column * columnStride
    }
}

/// Packs A[m0 ..< m0+mCount, k0 ..< k0+kCount] as consecutive panels of `microRows` rows:
/// packed[p·kCount·R + k·R + i] = A(m0 + R·p + i, k0 + k) with R = `microRows` (6, or 12 with AVX-512), zero for rows
/// past mCount.
func packA(_ packed: UnsafeMutablePointer<Float>, from a: StridedMatrix, m0: Int, mCount: Int, k0: Int, kCount: Int) {
    for panelStart in stride(from: 0, to: mCount, by: microRows) {
        let panel = packed + panelStart * kCount
        let rows = min(microRows, mCount - panelStart)
        if rows < microRows {
            panel.update(repeating: 0, count: microRows * kCount)
        }
        if a.rowStride == 1 {
            // The rows of a panel are adjacent in memory (A is a transposed view): copy runs of `rows` per k.
            for k in 0 ..< kCount {
                let source = a.pointer(m0 + panelStart, k0 + k)
                for i in 0 ..< rows { panel[k * microRows + i] = source[i] }
            }
        } else {
            for i in 0 ..< rows {
                transposeRow(from: a.pointer(m0 + panelStart + i, k0), step: a.columnStride, count: kCount,
                             to: panel + i, outputStride: microRows)
            }
        }
    }
}

/// Packs B[k0 ..< k0+kCount, n0 ..< n0+nCount] as consecutive panels of `microColumns` columns:
/// packed[q·kCount·16 + k·16 + j] = B(k0 + k, n0 + 16q + j) (16 = `microColumns`, 32 with AVX-512), zero for
/// columns past nCount.
func packB(_ packed: UnsafeMutablePointer<Float>, from b: StridedMatrix, k0: Int, kCount: Int, n0: Int, nCount: Int) {
    let fullPanels = nCount / microColumns
    if b.columnStride == 1 {
        // Rows of B are contiguous: read each row once, front to back, handing `microColumns` floats to every panel.
        let w = GEMMVector.scalarCount
        for k in 0 ..< kCount {
            let source = b.pointer(k0 + k, n0)
            for panel in 0 ..< fullPanels {
                let (from, to) = (source + panel * microColumns, packed + panel * microColumns * kCount + k * microColumns)
                UnsafeMutableRawPointer(to).storeBytes(of: UnsafeRawPointer(from).loadUnaligned(as: GEMMVector.self),
                                                       as: GEMMVector.self)
                UnsafeMutableRawPointer(to + w).storeBytes(of: UnsafeRawPointer(from + w).loadUnaligned(as: GEMMVector.self),
                                                           as: GEMMVector.self)
            }
        }
    } else if b.rowStride == 1 {
        // Columns of B are contiguous in k (B is a transposed view, as Wᵀ in the forward product): transpose 8 × 8
        // blocks in registers, reading all columns of a panel together so that 16 (32) streams of cache lines are
        // in flight rather than one.
        for panel in 0 ..< fullPanels {
            let (first, output) = (b.pointer(k0, n0 + panel * microColumns), packed + panel * microColumns * kCount)
            var k = 0
            while k + 8 <= kCount {
                for j in stride(from: 0, to: microColumns, by: 8) {
                    transpose8x8(from: first + j * b.columnStride + k, stride: b.columnStride,
                                 to: output + k * microColumns + j, stride: microColumns)
                }
                k += 8
            }
            for j in 0 ..< microColumns {
                for kk in k ..< kCount { output[kk * microColumns + j] = first[j * b.columnStride + kk] }
            }
        }
    } else {
        for panel in 0 ..< fullPanels {
            packBPanelElementwise(packed + panel * microColumns * kCount, from: b, k0: k0, kCount: kCount,
                                  n0: n0 + panel * microColumns, columns: microColumns)
        }
    }
    let edgeColumns = nCount - fullPanels * microColumns
    if edgeColumns > 0 {
        let output = packed + fullPanels * microColumns * kCount
        output.update(repeating: 0, count: microColumns * kCount)
        packBPanelElementwise(output, from: b, k0: k0, kCount: kCount, n0: n0 + fullPanels * microColumns, columns: edgeColumns)
    }
}

/// One panel of `columns` ≤ `microColumns` columns, element by element (edge panels and fully strided B).
private func packBPanelElementwise(_ output: UnsafeMutablePointer<Float>, from b: StridedMatrix, k0: Int, kCount: Int,
                                   n0: Int, columns: Int) {
    for j in 0 ..< columns {
        transposeRow(from: b.pointer(k0, n0 + j), step: b.rowStride, count: kCount, to: output + j, outputStride: microColumns)
    }
}

/// output[k·outputStride] = source[k·step] for k < count; with a unit step it reads a vector at a time.
@inline(__always)
private func transposeRow(from source: UnsafePointer<Float>, step: Int, count: Int,
                          to output: UnsafeMutablePointer<Float>, outputStride: Int) {
    let w = GEMMVector.scalarCount
    var k = 0
    if step == 1 {
        while k + w <= count {
            let values = UnsafeRawPointer(source + k).loadUnaligned(as: GEMMVector.self)
            for lane in 0 ..< w { output[(k + lane) * outputStride] = values[lane] }
            k += w
        }
    }
    while k < count {
        output[k * outputStride] = source[k * step]
        k += 1
    }
}

/// output row t = column t of the 8 × 8 block whose rows start at source + r·sourceStride, in three rounds of
/// interleaves that LLVM lowers to unpack, shuffle and 128-bit lane permutes.
@inline(__always)
private func transpose8x8(from source: UnsafePointer<Float>, stride sourceStride: Int,
                          to output: UnsafeMutablePointer<Float>, stride outputStride: Int) {
    typealias V = SIMD8<Float>
    func row(_ r: Int) -> V { UnsafeRawPointer(source + r * sourceStride).loadUnaligned(as: V.self) }
    func pairLow(_ a: V, _ b: V) -> V { V(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5]) }
    func pairHigh(_ a: V, _ b: V) -> V { V(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7]) }
    func quadLow(_ a: V, _ b: V) -> V { V(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5]) }
    func quadHigh(_ a: V, _ b: V) -> V { V(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7]) }
    func halves(_ a: V, _ b: V) -> (V, V) {
        (V(lowHalf: a.lowHalf, highHalf: b.lowHalf), V(lowHalf: a.highHalf, highHalf: b.highHalf))
    }
    func store(_ value: V, _ t: Int) { UnsafeMutableRawPointer(output + t * outputStride).storeBytes(of: value, as: V.self) }
    let (r0, r1, r2, r3, r4, r5, r6, r7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
    let (p0, p1, p2, p3) = (pairLow(r0, r1), pairHigh(r0, r1), pairLow(r2, r3), pairHigh(r2, r3))
    let (p4, p5, p6, p7) = (pairLow(r4, r5), pairHigh(r4, r5), pairLow(r6, r7), pairHigh(r6, r7))
    let (q0, q1, q2, q3) = (quadLow(p0, p2), quadHigh(p0, p2), quadLow(p1, p3), quadHigh(p1, p3))
    let (q4, q5, q6, q7) = (quadLow(p4, p6), quadHigh(p4, p6), quadLow(p5, p7), quadHigh(p5, p7))
    let (o0, o4) = halves(q0, q4), (o1, o5) = halves(q1, q5), (o2, o6) = halves(q2, q6), (o3, o7) = halves(q3, q7)
    store(o0, 0); store(o1, 1); store(o2, 2); store(o3, 3); store(o4, 4); store(o5, 5); store(o6, 6); store(o7, 7)
}
