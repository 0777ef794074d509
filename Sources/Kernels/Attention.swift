#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The shape of one causal self-attention call. Grouped-query attention shares each key/value head among
/// heads/keyValueHeads consecutive query heads; keyValueHeads == heads is ordinary multi-head attention.
public struct AttentionShape: Sendable {
    public let batch: Int
    public let seqLen: Int
    public let heads: Int
    public let keyValueHeads: Int
    public let headSize: Int

    public init(batch: Int, seqLen: Int, heads: Int, keyValueHeads: Int, headSize: Int) {
        precondition(heads > 0 && keyValueHeads > 0 && heads % keyValueHeads == 0,
                     "attention: heads \(heads) must be a positive multiple of keyValueHeads \(keyValueHeads)")
        precondition(headSize > 0, "attention: headSize must be positive (got \(headSize))")
        self.batch = batch
        self.seqLen = seqLen
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.headSize = headSize
    }

    /// Floats per qkv row: q (heads·headSize) | k (keyValueHeads·headSize) | v (keyValueHeads·headSize).
    public var qkvWidth: Int { (heads + 2 * keyValueHeads) * headSize }
    /// Floats per output row: heads·headSize.
    public var outputWidth: Int { heads * headSize }
    /// Floats of the per-row log-sum-exp that forward saves for backward: batch·heads·seqLen.
    public var logSumExpCount: Int { batch * heads * seqLen }

    var groupSize: Int { heads / keyValueHeads }
    /// Offsets inside a qkv row of query head h and of key/value head g.
    func queryOffset(_ h: Int) -> Int { h * headSize }
    func keyOffset(_ g: Int) -> Int { (heads + g) * headSize }
    func valueOffset(_ g: Int) -> Int { (heads + keyValueHeads + g) * headSize }
}

/// Query rows per block. Each block's scores are one GEMM against the keys up to the block's last row, so the
/// causal mask wastes at most a 48-row triangle per block (18% of the work at 256 positions) while the products run
/// on the packed GEMM micro-kernel instead of one length-headSize dot product per score.
let attentionQueryBlock = 48

/// Causal self-attention. qkv [batch, seqLen, qkvWidth] holds q|k|v with heads contiguous inside each; scale 1/√headSize;
/// query head h reads key/value head h / (heads/keyValueHeads). out [batch, seqLen, heads·headSize].
/// logSumExp [batch, heads, seqLen] receives log Σ_t2≤t exp(scale·q_t·k_t2) per query row: all that backward needs to
/// rebuild the probabilities, which are never stored whole (as in FlashAttention; [batch, heads, seqLen²] per layer
/// would be the largest activation of a training forward). Per (batch, head) and block of query rows: scores = Q·Kᵀ,
/// row softmax, out = P·V, each product one single-threaded `gemm`. Threads split the (batch, head) pairs.
public func attentionForward(out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                             qkv: UnsafePointer<Float>, shape: AttentionShape, parallel: Parallel) {
    let (seqLen, heads, headSize) = (shape.seqLen, shape.heads, shape.headSize)
    let rowStride = shape.qkvWidth
    let outStride = shape.outputWidth
    let scale = 1 / Float(headSize).squareRoot()
    let inner = parallel.singleThread
    parallel.forEachChunk(of: shape.batch * heads) { pairs in
        let block = AttentionBlockBuffer(seqLen: seqLen)
        defer { block.deallocate() }
        for pair in pairs {
            let (b, h) = (pair / heads, pair % heads)
            let g = h / shape.groupSize
            let rows = qkv + b * seqLen * rowStride
            let queries = rows + shape.queryOffset(h), keys = rows + shape.keyOffset(g), values = rows + shape.valueOffset(g)
            for t0 in stride(from: 0, to: seqLen, by: attentionQueryBlock) {
                let t1 = min(seqLen, t0 + attentionQueryBlock)
                scores(into: block.probabilities, seqLen: seqLen, queries: queries + t0 * rowStride, keys: keys,
                       rowStride: rowStride, rows: t1 - t0, columns: t1, headSize: headSize, inner: inner)
                for t in t0 ..< t1 {
                    let row = block.probabilities + (t - t0) * seqLen
                    logSumExp[pair * seqLen + t] = scaledSoftmax(row, count: t + 1, scale: scale)
                    (row + t + 1).update(repeating: 0, count: t1 - t - 1)
                }
                // out[t] = Σ_t2 p[t, t2]·v_t2 (the masked entries are 0)
                gemm(c: out + (b * seqLen + t0) * outStride + h * headSize, cStride: outStride,
                     a: StridedMatrix(base: block.probabilities, rowStride: seqLen, columnStride: 1),
                     b: StridedMatrix(base: values, rowStride: rowStride, columnStride: 1),
                     rows: t1 - t0, columns: headSize, reduction: t1, start: .overwrite(bias: nil), parallel: inner)
            }
        }
    }
}

/// One thread's scratch for a block of query rows: probabilities and their gradients, [attentionQueryBlock, seqLen] each.
private struct AttentionBlockBuffer {
    let probabilities, gradients: UnsafeMutablePointer<Float>

    init(seqLen: Int) {
        let count = attentionQueryBlock * seqLen
        probabilities = .allocate(capacity: 2 * count)
        gradients = probabilities + count
    }

    func deallocate() { probabilities.deallocate() }
}

/// scores[r, t2] = q_r · k_t2 for r < rows, t2 < columns, into rows of stride seqLen.
private func scores(into scores: UnsafeMutablePointer<Float>, seqLen: Int, queries: UnsafePointer<Float>,
                    keys: UnsafePointer<Float>, rowStride: Int, rows: Int, columns: Int, headSize: Int, inner: Parallel) {
    gemm(c: scores, cStride: seqLen,
         a: StridedMatrix(base: queries, rowStride: rowStride, columnStride: 1),
         b: StridedMatrix(base: keys, rowStride: 1, columnStride: rowStride),
         rows: rows, columns: columns, reduction: headSize, start: .overwrite(bias: nil), parallel: inner)
}

/// row[j] = softmax(scale·row)[j] for j < count, in place; returns log Σ_j exp(scale·row[j]).
func scaledSoftmax(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float) -> Float {
    var maximum = -Float.infinity
    for j in 0 ..< count { maximum = max(maximum, row[j]) }
    let (shift, scales) = (Float8(repeating: maximum), Float8(repeating: scale))
    var totals = Float8()
    var j = 0
    while j < count {
        let lanes = min(8, count - j)
        let e = exp((loadPartial(row + j, count: lanes) - shift) * scales)
        storePartial(e, row + j, count: lanes)
        if lanes == 8 { totals += e } else { for lane in 0 ..< lanes { totals[lane] += e[lane] } }
        j += 8
    }
    let total = totals.sum()
    let inverse = Float8(repeating: 1 / total)
    j = 0
    while j < count {
        let lanes = min(8, count - j)
        storePartial(loadPartial(row + j, count: lanes) * inverse, row + j, count: lanes)
        j += 8
    }
    return maximum * scale + logf(total)
}

/// Backward of `attentionForward`; ACCUMULATES into dqkv. Per block of query rows, as GEMMs: the probabilities are
/// rebuilt from the scores (P = exp(scale·Q·Kᵀ − logSumExp)), then dP = dO·Vᵀ, dV += Pᵀ·dO,
/// dS = P∘(dP − rowsum(P∘dP))·scale, dQ += dS·K, dK += dSᵀ·Q.
/// Threads split the (batch, key/value head) pairs, so the query heads sharing a key/value head add into its
/// gradient one after another on the same thread: no races, and the result does not depend on the thread count.
public func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                              logSumExp: UnsafePointer<Float>, shape: AttentionShape, parallel: Parallel) {
    let (seqLen, heads, headSize) = (shape.seqLen, shape.heads, shape.headSize)
    let rowStride = shape.qkvWidth
    let outStride = shape.outputWidth
    let scale = 1 / Float(headSize).squareRoot()
    let inner = parallel.singleThread
    parallel.forEachChunk(of: shape.batch * shape.keyValueHeads) { groups in
        let block = AttentionBlockBuffer(seqLen: seqLen)
        defer { block.deallocate() }
        let (probabilities, gradients) = (block.probabilities, block.gradients)
        for group in groups {
            let (b, g) = (group / shape.keyValueHeads, group % shape.keyValueHeads)
            let rows = qkv + b * seqLen * rowStride, drows = dqkv + b * seqLen * rowStride
            let keys = rows + shape.keyOffset(g), values = rows + shape.valueOffset(g)
            let dkeys = drows + shape.keyOffset(g), dvalues = drows + shape.valueOffset(g)
            for h in g * shape.groupSize ..< (g + 1) * shape.groupSize {
                let pair = b * heads + h
                let queries = rows + shape.queryOffset(h), dqueries = drows + shape.queryOffset(h)
                let outputGradients = dout + b * seqLen * outStride + h * headSize
                for t0 in stride(from: 0, to: seqLen, by: attentionQueryBlock) {
                    let t1 = min(seqLen, t0 + attentionQueryBlock)
                    let blockRows = t1 - t0
                    let blockOutputGradients = outputGradients + t0 * outStride
                    scores(into: probabilities, seqLen: seqLen, queries: queries + t0 * rowStride, keys: keys,
                           rowStride: rowStride, rows: blockRows, columns: t1, headSize: headSize, inner: inner)
                    for t in t0 ..< t1 {
                        let row = probabilities + (t - t0) * seqLen
                        normalizedExponentials(row, count: t + 1, scale: scale, logSumExp: logSumExp[pair * seqLen + t])
                        (row + t + 1).update(repeating: 0, count: t1 - t - 1)
                    }
                    // dP[t, t2] = dout_t · v_t2
                    gemm(c: gradients, cStride: seqLen,
                         a: StridedMatrix(base: blockOutputGradients, rowStride: outStride, columnStride: 1),
                         b: StridedMatrix(base: values, rowStride: 1, columnStride: rowStride),
                         rows: blockRows, columns: t1, reduction: headSize, start: .overwrite(bias: nil), parallel: inner)
                    // dv_t2 += Σ_t p[t, t2]·dout_t
                    gemm(c: dvalues, cStride: rowStride,
                         a: StridedMatrix(base: probabilities, rowStride: 1, columnStride: seqLen),
                         b: StridedMatrix(base: blockOutputGradients, rowStride: outStride, columnStride: 1),
                         rows: t1, columns: headSize, reduction: blockRows, start: .accumulate, parallel: inner)
                    // through the softmax: dscore = p·(dp − Σ p·dp)·scale, 0 above the diagonal
                    for t in t0 ..< t1 {
                        let (p, d) = (probabilities + (t - t0) * seqLen, gradients + (t - t0) * seqLen)
                        let weighted = dot(p, d, count: t + 1)
                        for t2 in 0 ... t { d[t2] = p[t2] * (d[t2] - weighted) * scale }
                        (d + t + 1).update(repeating: 0, count: t1 - t - 1)
                    }
                    // dq_t += Σ_t2 dscore[t, t2]·k_t2
                    gemm(c: dqueries + t0 * rowStride, cStride: rowStride,
                         a: StridedMatrix(base: gradients, rowStride: seqLen, columnStride: 1),
                         b: StridedMatrix(base: keys, rowStride: rowStride, columnStride: 1),
                         rows: blockRows, columns: headSize, reduction: t1, start: .accumulate, parallel: inner)
                    // dk_t2 += Σ_t dscore[t, t2]·q_t
                    gemm(c: dkeys, cStride: rowStride,
                         a: StridedMatrix(base: gradients, rowStride: 1, columnStride: seqLen),
                         b: StridedMatrix(base: queries + t0 * rowStride, rowStride: rowStride, columnStride: 1),
                         rows: t1, columns: headSize, reduction: blockRows, start: .accumulate, parallel: inner)
                }
            }
        }
    }
}

/// row[j] = exp(scale·row[j] − logSumExp) for j < count, in place: the softmax probabilities rebuilt from the scores.
private func normalizedExponentials(_ row: UnsafeMutablePointer<Float>, count: Int, scale: Float, logSumExp: Float) {
    let (scales, shift) = (Float8(repeating: scale), Float8(repeating: logSumExp))
    var j = 0
    while j < count {
        let lanes = min(8, count - j)
        storePartial(exp(loadPartial(row + j, count: lanes) * scales - shift), row + j, count: lanes)
        j += 8
    }
}
