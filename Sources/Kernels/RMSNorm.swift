/// RMSNorm over the last dimension (Llama, Qwen2, Mistral): out = (x·rstd)·weight with rstd = 1/√(mean(x²) + ε).
/// No mean is subtracted and there is no bias. rstd is saved per row when given.
public func rmsNormForward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?, inp: UnsafePointer<Float>,
                           weight: UnsafePointer<Float>, rows: Int, dim: Int, epsilon: Float, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 8 * dim)) { rowRange in
        for r in rowRange {
            let x = inp + r * dim
            let y = out + r * dim
            let rowRstd = 1 / (dot(x, x, count: dim) / Float(dim) + epsilon).squareRoot()
            let rstds = Float8(repeating: rowRstd)
            var i = 0
            while i + 8 <= dim {
                let normalized = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) * rstds
                let result = normalized * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self)
                UnsafeMutableRawPointer(y + i).storeBytes(of: result, as: Float8.self)
                i += 8
            }
            while i < dim {
                y[i] = (x[i] * rowRstd) * weight[i]
                i += 1
            }
            rstd?[r] = rowRstd
        }
    }
}

/// Backward of `rmsNormForward`, accumulating into dinp and dweight (nil for a frozen norm: dinp only).
/// With n = x·rstd and g = dout·weight: dinp[i] += rstd·(g[i] − n[i]·mean(g·n)); dweight[i] += Σ_rows dout[i]·n[i].
/// Threads split rows for dinp, then columns for dweight so no two threads write the same element.
public func rmsNormBackward(dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
                            dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                            rstd: UnsafePointer<Float>, rows: Int, dim: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 12 * dim)) { rowRange in
        for r in rowRange {
            let x = inp + r * dim
            let g = dout + r * dim
            let dx = dinp + r * dim
            let rowRstd = rstd[r]
            var gradientDotInput = Float8()
            var i = 0
            while i + 8 <= dim {
                gradientDotInput += UnsafeRawPointer(g + i).loadUnaligned(as: Float8.self)
                    * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self)
                    * UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
                i += 8
            }
            var meanGradientDotNormalized = gradientDotInput.sum()
            while i < dim {
                meanGradientDotNormalized += g[i] * weight[i] * x[i]
                i += 1
            }
            // mean(g·n) = rstd·mean(g·x) with g = dout·weight; then dinp += rstd·g − rstd²·mean(g·n)·x.
            meanGradientDotNormalized *= rowRstd / Float(dim)
            let rstds = Float8(repeating: rowRstd)
            let correction = Float8(repeating: rowRstd * rowRstd * meanGradientDotNormalized)
            i = 0
            while i + 8 <= dim {
                let scaled = UnsafeRawPointer(g + i).loadUnaligned(as: Float8.self)
                    * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self)
                let updated = UnsafeRawPointer(dx + i).loadUnaligned(as: Float8.self)
                    + rstds * scaled - correction * UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: updated, as: Float8.self)
                i += 8
            }
            while i < dim {
                dx[i] += rowRstd * g[i] * weight[i] - rowRstd * rowRstd * meanGradientDotNormalized * x[i]
                i += 1
            }
        }
    }
    guard let dweight else { return }
    parallel.forEachChunk(of: dim, minimumChunk: max(8, minimumRows(perRowWork: 3 * rows))) { columns in
        for r in 0..<rows {
            let x = inp + r * dim
            let g = dout + r * dim
            let rowRstd = rstd[r]
            for i in columns {
                dweight[i] += g[i] * (x[i] * rowRstd)
            }
        }
    }
}
