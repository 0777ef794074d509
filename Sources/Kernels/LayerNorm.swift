/// LayerNorm over the last dimension with PyTorch's biased variance:
/// out = (x − mean)·rstd·weight + bias, rstd = 1/√(var + ε). mean/rstd are saved per row when given.
public func layerNormForward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
                             inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                             rows: Int, dim: Int, epsilon: Float, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 16 * dim)) { rowRange in
        for r in rowRange {
            let x = inp + r * dim
            let y = out + r * dim
            let rowMean = sum(x, count: dim) / Float(dim)
            let means = Float8(repeating: rowMean)
            var squares = Float8()
            var i = 0
            while i + 8 <= dim {
                let centered = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) - means
                squares += centered * centered
                i += 8
            }
            var variance = squares.sum()
            while i < dim {
                variance += (x[i] - rowMean) * (x[i] - rowMean)
                i += 1
            }
            variance /= Float(dim)
            let rowRstd = 1 / (variance + epsilon).squareRoot()
            let rstds = Float8(repeating: rowRstd)
            i = 0
            while i + 8 <= dim {
                let normalized = (UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) - means) * rstds
                let result = normalized * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self) + UnsafeRawPointer(bias + i).loadUnaligned(as: Float8.self)
                UnsafeMutableRawPointer(y + i).storeBytes(of: result, as: Float8.self)
                i += 8
            }
            while i < dim {
                y[i] = (x[i] - rowMean) * rowRstd * weight[i] + bias[i]
                i += 1
            }
            mean?[r] = rowMean
            rstd?[r] = rowRstd
        }
    }
}

/// Backward of `layerNormForward`, accumulating into dinp, dweight and dbias (both nil for a frozen norm: dinp only).
/// dinp[i] += rstd·(g[i] − mean(g) − n[i]·mean(g·n)) with g = dout·weight and n the normalized input.
/// Threads split rows for dinp, then columns for dweight/dbias so no two threads write the same element.
public func layerNormBackward(dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                              dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 16 * dim)) { rowRange in
        for r in rowRange {
            let x = inp + r * dim
            let g = dout + r * dim
            let dx = dinp + r * dim
            let means = Float8(repeating: mean[r])
            let rstds = Float8(repeating: rstd[r])
            var gradientSum = Float8()
            var gradientDotNormalized = Float8()
            var i = 0
            while i + 8 <= dim {
                let scaled = UnsafeRawPointer(g + i).loadUnaligned(as: Float8.self)
                    * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self)
                gradientSum += scaled
                gradientDotNormalized += scaled * (UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) - means) * rstds
                i += 8
            }
            var meanGradient = gradientSum.sum()
            var meanGradientDotNormalized = gradientDotNormalized.sum()
            let tail = i
            while i < dim {
                let scaled = g[i] * weight[i]
                meanGradient += scaled
                meanGradientDotNormalized += scaled * (x[i] - mean[r]) * rstd[r]
                i += 1
            }
            meanGradient /= Float(dim)
            meanGradientDotNormalized /= Float(dim)
            let meanGradients = Float8(repeating: meanGradient)
            let meanGradientDotNormalizeds = Float8(repeating: meanGradientDotNormalized)
            i = 0
            while i + 8 <= dim {
                let normalized = (UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) - means) * rstds
                let scaled = UnsafeRawPointer(g + i).loadUnaligned(as: Float8.self)
                    * UnsafeRawPointer(weight + i).loadUnaligned(as: Float8.self)
                let updated = UnsafeRawPointer(dx + i).loadUnaligned(as: Float8.self)
                    + rstds * (scaled - meanGradients - normalized * meanGradientDotNormalizeds)
                UnsafeMutableRawPointer(dx + i).storeBytes(of: updated, as: Float8.self)
                i += 8
            }
            for i in tail..<dim {
                let normalized = (x[i] - mean[r]) * rstd[r]
                dx[i] += rstd[r] * (g[i] * weight[i] - meanGradient - normalized * meanGradientDotNormalized)
            }
        }
    }
    precondition((dweight == nil) == (dbias == nil), "layerNormBackward: a norm's weight and bias are trained together")
    guard let dweight, let dbias else { return }
    parallel.forEachChunk(of: dim, minimumChunk: max(8, minimumRows(perRowWork: 4 * rows))) { columns in
        for r in 0..<rows {
            let x = inp + r * dim
            let g = dout + r * dim
            let rowMean = mean[r]
            let rowRstd = rstd[r]
            for i in columns {
                dweight[i] += g[i] * (x[i] - rowMean) * rowRstd
                dbias[i] += g[i]
            }
        }
    }
}
