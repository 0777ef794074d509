/// Rows per thread chunk such that each chunk does at least ~1M multiply-adds (threading tiny matmuls costs more than it saves).
func minimumRows(perRowWork: Int) -> Int {
    max(1, (1 << 20) / max(1, perRowWork))
}

/// out[r,o] = bias[o] + Σ_i inp[r,i]·weight[o,i]  (out = inp · weightᵀ, weight in nn.Linear's [outDim, inDim] layout).
public func matmulForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: inDim * outDim)) { rowRange in
        for r in rowRange {
            let inputRow = inp + r * inDim
            let outputRow = out + r * outDim
            for o in 0..<outDim {
                outputRow[o] = (bias?[o] ?? 0) + dot(inputRow, weight + o * inDim, count: inDim)
            }
        }
    }
}

/// dinp[r,i] += Σ_o dout[r,o]·weight[o,i];  dweight[o,i] += Σ_r dout[r,o]·inp[r,i];  dbias[o] += Σ_r dout[r,o].
/// Nil outputs are skipped.
public func matmulBackward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                           dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           rows: Int, inDim: Int, outDim: Int, parallel: Parallel) {
    if let dinp {
        parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: inDim * outDim)) { rowRange in
            for r in rowRange {
                let gradientRow = dout + r * outDim
                for o in 0..<outDim {
                    axpy(gradientRow[o], weight + o * inDim, dinp + r * inDim, count: inDim)
                }
            }
        }
    }
    if dweight != nil || dbias != nil {
        parallel.forEachChunk(of: outDim, minimumChunk: minimumRows(perRowWork: rows * inDim)) { outputRange in
            for o in outputRange {
                var biasGradient: Float = 0
                for r in 0..<rows {
                    let gradient = dout[r * outDim + o]
                    biasGradient += gradient
                    if let dweight {
                        axpy(gradient, inp + r * inDim, dweight + o * inDim, count: inDim)
                    }
                }
                dbias?[o] += biasGradient
            }
        }
    }
}
