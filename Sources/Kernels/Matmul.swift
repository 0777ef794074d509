/// Matrix multiplication for nn.Linear layers, built on one register-blocked GEMM.
///
/// All three products (forward, input gradient, weight gradient) are C[m,n] (+)= Σ_k A(m,k)·B(k,n) with A and B read
/// through strides, so transposes cost nothing. B is copied in blocks of `reductionBlock` × `panelWidth` into a
/// contiguous, zero-padded panel that stays in L1 while every row block of A streams past it; the micro-kernel keeps a
/// `microRows` × `panelWidth` tile of C in registers. Each element of C is always summed in the same order (k ascending
/// within each reduction block), so results do not depend on how rows are split across threads.

/// Columns of C per panel: one SIMD8 accumulator per row.
private let panelWidth = 8
/// Rows of C per micro-kernel call: 6 rows × 8 columns = 12 SSE or 6 AVX registers of accumulators.
private let microRows = 6
/// Reduction length per packed panel: 256 × 8 floats = 8 KB of B, resident in L1.
private let reductionBlock = 256
/// Rows of C per outer block: with `reductionBlock` this is 96 KB of A, resident in L2.
private let rowBlock = 96

/// A strided read-only matrix view: element (row, column) is at base[row·rowStride + column·columnStride].
private struct StridedMatrix {
    let base: UnsafePointer<Float>
    let rowStride: Int
    let columnStride: Int

    @inline(__always)
    func pointer(_ row: Int, _ column: Int) -> UnsafePointer<Float> {
        base + row * rowStride + column * columnStride
    }
}

/// How the first reduction block starts each element of C.
private enum GEMMStart {
    /// C += A·B: start from the current contents of C.
    case accumulate
    /// C = A·B + bias[n] (or + 0 when nil): the previous contents of C are ignored.
    case overwrite(bias: UnsafePointer<Float>?)
}

/// C[m,n] (+)= Σ_k A(m,k)·B(k,n) for m < rows, n < columns, k < reduction; C is row-major with row stride `cStride`.
/// Threads split the rows of C.
private func gemm(c: UnsafeMutablePointer<Float>, cStride: Int, a: StridedMatrix, b: StridedMatrix,
          rows: Int, columns: Int, reduction: Int, start: GEMMStart, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: columns * reduction)) { rowRange in
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: reductionBlock * panelWidth)
        defer { panel.deallocate() }
        for blockStart in stride(from: rowRange.lowerBound, to: rowRange.upperBound, by: rowBlock) {
            let blockEnd = min(blockStart + rowBlock, rowRange.upperBound)
            for k0 in stride(from: 0, to: max(reduction, 1), by: reductionBlock) {
                let kCount = min(reductionBlock, reduction - k0)
                for n0 in stride(from: 0, to: columns, by: panelWidth) {
                    let width = min(panelWidth, columns - n0)
                    packPanel(panel, from: b, k0: k0, kCount: kCount, n0: n0, width: width)
                    let tile = Tile(c: c, cStride: cStride, n0: n0, width: width, start: k0 == 0 ? start : .accumulate)
                    var m = blockStart
                    while m + microRows <= blockEnd {
                        tile.multiplySixRows(m: m, a: a.pointer(m, k0), aRowStride: a.rowStride, aStep: a.columnStride,
                                             panel: panel, kCount: kCount)
                        m += microRows
                    }
                    while m < blockEnd {
                        tile.multiplyOneRow(m: m, a: a.pointer(m, k0), aStep: a.columnStride, panel: panel, kCount: kCount)
                        m += 1
                    }
                }
            }
        }
    }
}

/// Copies B[k0..<k0+kCount, n0..<n0+width] into panel[k·8 + j], padding columns width..<8 with zeros.
@inline(__always)
private func packPanel(_ panel: UnsafeMutablePointer<Float>, from b: StridedMatrix, k0: Int, kCount: Int, n0: Int, width: Int) {
    if width == panelWidth && b.columnStride == 1 {
        for k in 0..<kCount {
            (panel + k * panelWidth).update(from: b.pointer(k0 + k, n0), count: panelWidth)
        }
        return
    }
    if width < panelWidth {
        panel.update(repeating: 0, count: kCount * panelWidth)
    }
    for j in 0..<width {
        var source = b.pointer(k0, n0 + j)
        for k in 0..<kCount {
            panel[k * panelWidth + j] = source.pointee
            source += b.rowStride
        }
    }
}

/// The `width` ≤ 8 columns n0..<n0+width of C that one packed panel updates.
private struct Tile {
    let c: UnsafeMutablePointer<Float>
    let cStride: Int
    let n0: Int
    let width: Int
    let start: GEMMStart

    /// Starting accumulator of row m (lanes beyond `width` are 0).
    @inline(__always)
    func initial(_ m: Int) -> Float8 {
        switch start {
        case .accumulate:
            return load(c + m * cStride + n0)
        case .overwrite(let bias):
            guard let bias else { return Float8() }
            return load(bias + n0)
        }
    }

    @inline(__always)
    func load(_ pointer: UnsafePointer<Float>) -> Float8 {
        if width == panelWidth { return UnsafeRawPointer(pointer).loadUnaligned(as: Float8.self) }
        var value = Float8()
        for j in 0..<width { value[j] = pointer[j] }
        return value
    }

    @inline(__always)
    func store(_ value: Float8, row m: Int) {
        let pointer = c + m * cStride + n0
        if width == panelWidth {
            UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Float8.self)
        } else {
            for j in 0..<width { pointer[j] = value[j] }
        }
    }

    /// Rows m..<m+6: twelve (SSE) accumulator registers, one broadcast of A per row and one panel load per k.
    /// A is addressed as six row bases plus one shared offset so each load is a single indexed access.
    @inline(__always)
    func multiplySixRows(m: Int, a: UnsafePointer<Float>, aRowStride: Int, aStep: Int, panel: UnsafePointer<Float>, kCount: Int) {
        var c0 = initial(m), c1 = initial(m + 1), c2 = initial(m + 2)
        var c3 = initial(m + 3), c4 = initial(m + 4), c5 = initial(m + 5)
        let a0 = a, a1 = a0 + aRowStride, a2 = a1 + aRowStride, a3 = a2 + aRowStride, a4 = a3 + aRowStride, a5 = a4 + aRowStride
        var offset = 0
        for k in 0..<kCount {
            let bValues = UnsafeRawPointer(panel + k &* panelWidth).loadUnaligned(as: Float8.self)
            c0 += Float8(repeating: a0[offset]) * bValues
            c1 += Float8(repeating: a1[offset]) * bValues
            c2 += Float8(repeating: a2[offset]) * bValues
            c3 += Float8(repeating: a3[offset]) * bValues
            c4 += Float8(repeating: a4[offset]) * bValues
            c5 += Float8(repeating: a5[offset]) * bValues
            offset &+= aStep
        }
        store(c0, row: m); store(c1, row: m + 1); store(c2, row: m + 2)
        store(c3, row: m + 3); store(c4, row: m + 4); store(c5, row: m + 5)
    }

    /// Row m alone (the rows left over after the six-row blocks); same summation order as `multiplySixRows`.
    @inline(__always)
    func multiplyOneRow(m: Int, a: UnsafePointer<Float>, aStep: Int, panel: UnsafePointer<Float>, kCount: Int) {
        var c0 = initial(m)
        var offset = 0
        for k in 0..<kCount {
            let bValues = UnsafeRawPointer(panel + k &* panelWidth).loadUnaligned(as: Float8.self)
            c0 += Float8(repeating: a[offset]) * bValues
            offset &+= aStep
        }
        store(c0, row: m)
    }
}

/// Rows per thread chunk such that each chunk does at least ~1M multiply-adds (threading tiny products costs more than it saves).
func minimumRows(perRowWork: Int) -> Int {
    max(1, (1 << 20) / max(1, perRowWork))
}

/// out[r,o] = bias[o] + Σ_i inp[r,i]·weight[o,i]  (out = inp · weightᵀ, weight in nn.Linear's [outDim, inDim] layout).
public func matmulForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int, parallel: Parallel) {
    gemm(c: out, cStride: outDim,
         a: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
         b: StridedMatrix(base: weight, rowStride: 1, columnStride: inDim),
         rows: rows, columns: outDim, reduction: inDim, start: .overwrite(bias: bias), parallel: parallel)
}

/// dinp[r,i] += Σ_o dout[r,o]·weight[o,i];  dweight[o,i] += Σ_r dout[r,o]·inp[r,i];  dbias[o] += Σ_r dout[r,o].
/// Nil outputs are skipped.
public func matmulBackward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                           dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           rows: Int, inDim: Int, outDim: Int, parallel: Parallel) {
    if let dinp {
        gemm(c: dinp, cStride: inDim,
             a: StridedMatrix(base: dout, rowStride: outDim, columnStride: 1),
             b: StridedMatrix(base: weight, rowStride: inDim, columnStride: 1),
             rows: rows, columns: inDim, reduction: outDim, start: .accumulate, parallel: parallel)
    }
    if let dweight {
        gemm(c: dweight, cStride: inDim,
             a: StridedMatrix(base: dout, rowStride: 1, columnStride: outDim),
             b: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
             rows: outDim, columns: inDim, reduction: rows, start: .accumulate, parallel: parallel)
    }
    if let dbias {
        parallel.forEachChunk(of: outDim, minimumChunk: max(panelWidth, minimumRows(perRowWork: 8 * rows))) { outputRange in
            for r in 0..<rows {
                axpy(1, dout + r * outDim + outputRange.lowerBound, dbias + outputRange.lowerBound, count: outputRange.count)
            }
        }
    }
}
