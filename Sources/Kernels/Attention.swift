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
    /// Floats of the probabilities (and of the backward scratch): batch·heads·seqLen².
    public var probabilityCount: Int { batch * heads * seqLen * seqLen }

    var groupSize: Int { heads / keyValueHeads }
    /// Offsets inside a qkv row of query head h and of key/value head g.
    func queryOffset(_ h: Int) -> Int { h * headSize }
    func keyOffset(_ g: Int) -> Int { (heads + g) * headSize }
    func valueOffset(_ g: Int) -> Int { (heads + keyValueHeads + g) * headSize }
}

/// Causal self-attention. qkv [batch, seqLen, qkvWidth] holds q|k|v with heads contiguous inside each; scale 1/√headSize;
/// query head h reads key/value head h / (heads/keyValueHeads).
/// att [batch, heads, seqLen, seqLen] receives the softmax probabilities (row t: columns 0...t, the rest 0);
/// out [batch, seqLen, heads·headSize]. Threads split the (batch, head) pairs.
public func attentionForward(out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                             shape: AttentionShape, parallel: Parallel) {
    let (seqLen, heads, headSize) = (shape.seqLen, shape.heads, shape.headSize)
    let rowStride = shape.qkvWidth
    let outStride = shape.outputWidth
    let scale = 1 / Float(headSize).squareRoot()
    parallel.forEachChunk(of: shape.batch * heads) { pairs in
        for pair in pairs {
            let b = pair / heads
            let h = pair % heads
            let g = h / shape.groupSize
            let rows = qkv + b * seqLen * rowStride
            let queries = rows + shape.queryOffset(h), keys = rows + shape.keyOffset(g), values = rows + shape.valueOffset(g)
            for t in 0..<seqLen {
                let query = queries + t * rowStride
                let probabilities = att + (pair * seqLen + t) * seqLen
                var maximum = -Float.infinity
                for t2 in 0...t {
                    let score = dot(query, keys + t2 * rowStride, count: headSize) * scale
                    probabilities[t2] = score
                    maximum = max(maximum, score)
                }
                var total: Float = 0
                for t2 in 0...t {
                    let e = expf(probabilities[t2] - maximum)
                    probabilities[t2] = e
                    total += e
                }
                let inverseTotal = 1 / total
                for t2 in 0...t {
                    probabilities[t2] *= inverseTotal
                }
                (probabilities + t + 1).update(repeating: 0, count: seqLen - t - 1)
                let output = out + (b * seqLen + t) * outStride + h * headSize
                output.update(repeating: 0, count: headSize)
                for t2 in 0...t {
                    axpy(probabilities[t2], values + t2 * rowStride, output, count: headSize)
                }
            }
        }
    }
}

/// Backward of `attentionForward`; ACCUMULATES into dqkv. scratch [batch, heads, seqLen, seqLen] is overwritten
/// with the gradients of the probabilities and then of the pre-softmax scores.
/// Threads split the (batch, key/value head) pairs, so the query heads sharing a key/value head add into its
/// gradient one after another on the same thread: no races, and the result does not depend on the thread count.
public func attentionBackward(dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                              qkv: UnsafePointer<Float>, att: UnsafePointer<Float>, shape: AttentionShape, parallel: Parallel) {
    let (seqLen, heads, headSize) = (shape.seqLen, shape.heads, shape.headSize)
    let rowStride = shape.qkvWidth
    let outStride = shape.outputWidth
    let scale = 1 / Float(headSize).squareRoot()
    parallel.forEachChunk(of: shape.batch * shape.keyValueHeads) { groups in
        for group in groups {
            let b = group / shape.keyValueHeads
            let g = group % shape.keyValueHeads
            let rows = qkv + b * seqLen * rowStride, drows = dqkv + b * seqLen * rowStride
            let keys = rows + shape.keyOffset(g), values = rows + shape.valueOffset(g)
            let dkeys = drows + shape.keyOffset(g), dvalues = drows + shape.valueOffset(g)
            for h in g * shape.groupSize ..< (g + 1) * shape.groupSize {
                let pair = b * heads + h
                let queries = rows + shape.queryOffset(h), dqueries = drows + shape.queryOffset(h)
                for t in 0..<seqLen {
                    let probabilities = att + (pair * seqLen + t) * seqLen
                    let gradients = scratch + (pair * seqLen + t) * seqLen
                    let outputGradient = dout + (b * seqLen + t) * outStride + h * headSize
                    // through out = Σ att·v: gradient of each probability, and dv += att·dout
                    for t2 in 0...t {
                        gradients[t2] = dot(outputGradient, values + t2 * rowStride, count: headSize)
                        axpy(probabilities[t2], outputGradient, dvalues + t2 * rowStride, count: headSize)
                    }
                    // through the softmax: dscore = p·(dp − Σ p·dp)
                    let weighted = dot(probabilities, gradients, count: t + 1)
                    for t2 in 0...t {
                        gradients[t2] = probabilities[t2] * (gradients[t2] - weighted) * scale
                    }
                    (gradients + t + 1).update(repeating: 0, count: seqLen - t - 1)
                    // through score = q·k·scale
                    let query = queries + t * rowStride
                    let queryGradient = dqueries + t * rowStride
                    for t2 in 0...t {
                        axpy(gradients[t2], keys + t2 * rowStride, queryGradient, count: headSize)
                        axpy(gradients[t2], query, dkeys + t2 * rowStride, count: headSize)
                    }
                }
            }
        }
    }
}
