/// Matrix multiplication for nn.Linear layers: the three products of a Linear layer as calls of the one packed,
/// register-blocked `gemm` (GEMM.swift), with A and B read through strides so transposes cost nothing, except the
/// forward of a single row. `kernel` picks the GEMM build (AVX2 or AVX-512, GEMMKernel.swift); every caller but the
/// tests leaves it at the process-wide choice.

/// out[r,o] = bias[o] + Σ_i inp[r,i]·weight[o,i]  (out = inp · weightᵀ, weight in nn.Linear's [outDim, inDim] layout).
/// A single row (a generation step) is a matrix-vector product instead of a GEMM (`matrixVectorForward`).
public func matmulForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int, parallel: Parallel,
                          kernel: GEMMKernel = .selected) {
    if rows == 1 {
        return matrixVectorForward(out: out, inp: inp, weight: weight, bias: bias, inDim: inDim, outDim: outDim,
                                   parallel: parallel)
    }
    gemm(c: out, cStride: outDim,
         a: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
         b: StridedMatrix(base: weight, rowStride: 1, columnStride: inDim),
         rows: rows, columns: outDim, reduction: inDim, start: .overwrite(bias: bias), parallel: parallel, kernel: kernel)
}

/// out[o] = bias[o] + Σ_i inp[i]·weight[o,i]: one contiguous dot product per weight row, each row read once. The GEMM
/// would pack the whole weight for one row of output and run it through edge tiles. Threads split the output rows.
private func matrixVectorForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>?, inDim: Int, outDim: Int, parallel: Parallel) {
    parallel.forEachChunk(of: outDim, minimumChunk: minimumRows(perRowWork: inDim)) { outputs in
        for o in outputs {
            out[o] = (bias?[o] ?? 0) + dot(inp, weight + o * inDim, count: inDim)
        }
    }
}

/// dinp[r,i] += Σ_o dout[r,o]·weight[o,i];  dweight[o,i] += Σ_r dout[r,o]·inp[r,i];  dbias[o] += Σ_r dout[r,o].
/// Nil outputs are skipped.
public func matmulBackward(dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                           dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                           rows: Int, inDim: Int, outDim: Int, parallel: Parallel, kernel: GEMMKernel = .selected) {
    if let dinp {
        gemm(c: dinp, cStride: inDim,
             a: StridedMatrix(base: dout, rowStride: outDim, columnStride: 1),
             b: StridedMatrix(base: weight, rowStride: inDim, columnStride: 1),
             rows: rows, columns: inDim, reduction: outDim, start: .accumulate, parallel: parallel, kernel: kernel)
    }
    if let dweight {
        gemm(c: dweight, cStride: inDim,
             a: StridedMatrix(base: dout, rowStride: 1, columnStride: outDim),
             b: StridedMatrix(base: inp, rowStride: inDim, columnStride: 1),
             rows: outDim, columns: inDim, reduction: rows, start: .accumulate, parallel: parallel, kernel: kernel)
    }
    if let dbias {
        parallel.forEachChunk(of: outDim, minimumChunk: max(microColumns, minimumRows(perRowWork: 8 * rows))) { outputRange in
            for r in 0..<rows {
                axpy(1, dout + r * outDim + outputRange.lowerBound, dbias + outputRange.lowerBound, count: outputRange.count)
            }
        }
    }
}
