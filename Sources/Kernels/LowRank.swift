/// LoRA's low-rank path of a Linear layer (Hu et al. 2021; PEFT's `lora.Linear`): out += scale · (inp·Aᵀ)·Bᵀ with
/// A = lora_A.weight [rank, inDim] and B = lora_B.weight [outDim, rank]. Four small GEMMs instead of forming the
/// [outDim, inDim] product B·A, so the path costs O(rows · rank · (inDim + outDim)). `out` and `dout` rows are
/// `outStride` apart, so the path adds into a column block of a fused projection (q|k|v, gate|up).

/// hidden = scale · inp·Aᵀ [rows, rank], then out[r, outColumns] += hidden·Bᵀ. `hidden` is scratch the caller owns.
public func lowRankForward(out: UnsafeMutablePointer<Float>, outStride: Int, hidden: UnsafeMutablePointer<Float>,
                           inp: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float,
                           rows: Int, inDim: Int, rank: Int, outDim: Int, parallel: Parallel,
                           kernel: GEMMKernel = .selected) {
    lowRankHidden(hidden, inp: inp, a: a, scale: scale, rows: rows, inDim: inDim, rank: rank, parallel: parallel,
                  kernel: kernel)
    gemm(c: out, cStride: outStride,
         a: StridedMatrix(base: hidden, rowStride: rank, columnStride: 1),
         b: StridedMatrix(base: b, rowStride: 1, columnStride: rank),
         rows: rows, columns: outDim, reduction: rank, start: .accumulate, parallel: parallel, kernel: kernel)
}

/// Backward of `lowRankForward`, ACCUMULATING into dA, dB and (when given) dinp:
/// dB += doutᵀ·hidden, dHidden = scale · dout·B, dA += dHiddenᵀ·inp, dinp += dHidden·A. It recomputes the forward's
/// `hidden` from `inp` (the same GEMM, so the same bits) rather than keep it; `hidden` and `dHidden` are [rows, rank]
/// scratch.
public func lowRankBackward(dinp: UnsafeMutablePointer<Float>?, da: UnsafeMutablePointer<Float>,
                            db: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>,
                            dHidden: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, doutStride: Int,
                            inp: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float,
                            rows: Int, inDim: Int, rank: Int, outDim: Int, parallel: Parallel,
                            kernel: GEMMKernel = .selected) {
    lowRankHidden(hidden, inp: inp, a: a, scale: scale, rows: rows, inDim: inDim, rank: rank, parallel: parallel,
                  kernel: kernel)
    gemm(c: db, cStride: rank,
         a: StridedMatrix(base: dout, rowStride: 1, columnStride: doutStride),
         b: StridedMatrix(base: hidden, rowStride: rank, columnStride: 1),
         rows: outDim, columns: rank, reduction: rows, start: .accumulate, parallel: parallel, kernel: kernel)
    gemm(c: dHidden, cStride: rank,
         a: StridedMatrix(base: dout, rowStride: doutStride, columnStride: 1),
         b: StridedMatrix(base: b, rowStride: rank, columnStride: 1),
         rows: rows, columns: rank, reduction: outDim, start: .overwrite(bias: nil), parallel: parallel, kernel: kernel)
    scaleInPlace(dHidden, by: scale, count: rows * rank)
    gemm(c: da, cStride: inDim,
         a: StridedMatrix(base: dHidden, rowStride: 1, columnStride: rank),
         b: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
         rows: rank, columns: inDim, reduction: rows, start: .accumulate, parallel: parallel, kernel: kernel)
    if let dinp {
        gemm(c: dinp, cStride: inDim,
             a: StridedMatrix(base: dHidden, rowStride: rank, columnStride: 1),
             b: StridedMatrix(base: a, rowStride: inDim, columnStride: 1),
             rows: rows, columns: inDim, reduction: rank, start: .accumulate, parallel: parallel, kernel: kernel)
    }
}

/// W[o, i] += scale · Σ_k B[o,k]·A[k,i]: the adapter folded into an nn.Linear-layout weight [outDim, inDim] (PEFT's
/// `merge_and_unload`). `scaledB` is [outDim, rank] scratch.
public func lowRankMerge(weight: UnsafeMutablePointer<Float>, scaledB: UnsafeMutablePointer<Float>,
                         a: UnsafePointer<Float>, b: UnsafePointer<Float>, scale: Float, inDim: Int, rank: Int,
                         outDim: Int, parallel: Parallel, kernel: GEMMKernel = .selected) {
    scaledB.update(from: b, count: outDim * rank)
    scaleInPlace(scaledB, by: scale, count: outDim * rank)
    gemm(c: weight, cStride: inDim,
         a: StridedMatrix(base: scaledB, rowStride: rank, columnStride: 1),
         b: StridedMatrix(base: a, rowStride: inDim, columnStride: 1),
         rows: outDim, columns: inDim, reduction: rank, start: .accumulate, parallel: parallel, kernel: kernel)
}

/// hidden = scale · inp·Aᵀ [rows, rank].
private func lowRankHidden(_ hidden: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, a: UnsafePointer<Float>,
                           scale: Float, rows: Int, inDim: Int, rank: Int, parallel: Parallel, kernel: GEMMKernel) {
    gemm(c: hidden, cStride: rank,
         a: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
         b: StridedMatrix(base: a, rowStride: 1, columnStride: inDim),
         rows: rows, columns: rank, reduction: inDim, start: .overwrite(bias: nil), parallel: parallel, kernel: kernel)
    scaleInPlace(hidden, by: scale, count: rows * rank)
}

/// x[i] *= factor.
private func scaleInPlace(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
    for index in 0 ..< count { x[index] *= factor }
}
