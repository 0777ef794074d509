/// Causal self-attention of new query rows over a key/value cache, the attention of generation one token at a time.
/// Query row r of `queries` (rows `queryStride` apart, the query heads contiguous at the start as in a qkv row) sits at
/// position firstPosition + r and attends to positions 0 ... firstPosition + r, whose keys and values are the rows of
/// `keys` and `values` (keyValueHeads·headSize floats each, `cacheStride` apart); the new rows' own keys and values
/// must already be there. Scale 1/√headSize; query head h reads key/value head h / (heads/keyValueHeads).
/// out [rows, heads·headSize].
///
/// The softmax is `attentionForward`'s, but the scores and the weighted sum of values are one dot product and one
/// axpy per position instead of GEMM blocks: a single query row would fill one row of a micro-tile. Inference only:
/// nothing is trained through a cache, so there is no backward. Threads split the (row, head) pairs.
public func cachedAttentionForward(out: UnsafeMutablePointer<Float>, queries: UnsafePointer<Float>, queryStride: Int,
                                   keys: UnsafePointer<Float>, values: UnsafePointer<Float>, cacheStride: Int,
                                   firstPosition: Int, rows: Int, heads: Int, keyValueHeads: Int, headSize: Int,
                                   parallel: Parallel) {
    precondition(heads > 0 && keyValueHeads > 0 && heads % keyValueHeads == 0,
                 "cached attention: heads \(heads) must be a positive multiple of keyValueHeads \(keyValueHeads)")
    precondition(firstPosition >= 0 && rows >= 0, "cached attention: firstPosition \(firstPosition), rows \(rows)")
    let positions = firstPosition + rows
    let groupSize = heads / keyValueHeads
    let outStride = heads * headSize
    let scale = 1 / Float(headSize).squareRoot()
    parallel.forEachChunk(of: rows * heads, minimumChunk: minimumRows(perRowWork: 2 * positions * headSize)) { pairs in
        let probabilities = UnsafeMutablePointer<Float>.allocate(capacity: max(1, positions))
        defer { probabilities.deallocate() }
        for pair in pairs {
            let (r, h) = (pair / heads, pair % heads)
            let column = h / groupSize * headSize
            let query = queries + r * queryStride + h * headSize
            let visible = firstPosition + r + 1
            for t in 0 ..< visible {
                probabilities[t] = dot(query, keys + t * cacheStride + column, count: headSize)
            }
            _ = scaledSoftmax(probabilities, count: visible, scale: scale)
            let output = out + r * outStride + h * headSize
            output.update(repeating: 0, count: headSize)
            for t in 0 ..< visible {
                axpy(probabilities[t], values + t * cacheStride + column, output, count: headSize)
            }
        }
    }
}
