#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Row-wise log-softmax gathered at one target per row.
/// logSumExp[r] = log Σ_j exp(logits[r,j]) (stable: the row max is subtracted; exponentials in 8 lanes, summed in
/// Float within blocks of 256 and across blocks in Double, see `shiftedExponentialSums`);
/// logProbs[r] = logits[r, targets[r]] − logSumExp[r]; logitSums[r] = Σ_j logits[r,j] when given;
/// entropies[r] = −Σ_j p_j·log p_j of the row's softmax p when given (from the same exponentials:
/// log Z − Σ_j e_j·(logits[r,j] − max)/Z with e_j = exp(logits[r,j] − max), Z = Σ_j e_j);
/// argmaxes[r] = the first j with the largest logit when given (as torch.argmax);
/// logSumSquaredProbs[r] = log Σ_j p_j² when given (WPO's weights: log Σ_j e_j² − 2·log Z).
public func logSoftmaxGatherForward(logProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                                    logitSums: UnsafeMutablePointer<Float>?, entropies: UnsafeMutablePointer<Float>? = nil,
                                    argmaxes: UnsafeMutablePointer<Int32>? = nil,
                                    logSumSquaredProbs: UnsafeMutablePointer<Float>? = nil, logits: UnsafePointer<Float>,
                                    targets: UnsafePointer<Int32>, rows: Int, vocab: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 32 * vocab)) { rowRange in
        for r in rowRange {
            let row = logits + r * vocab
            let target = Int(targets[r])
            precondition(target >= 0 && target < vocab, "logSoftmaxGatherForward: target \(target) at row \(r) outside vocabulary \(vocab)")
            var maximum = -Float.infinity
            var maximumIndex = 0
            var total: Double = 0
            for j in 0..<vocab {
                if row[j] > maximum { (maximum, maximumIndex) = (row[j], j) }
                total += Double(row[j])
            }
            let (exponentials, weightedShifts, squares) = shiftedExponentialSums(row, count: vocab, shift: maximum)
            entropies?[r] = Float(log(exponentials) - weightedShifts / exponentials)
            logSumSquaredProbs?[r] = Float(log(squares) - 2 * log(exponentials))
            let rowLogSumExp = Float(Double(maximum) + log(exponentials))
            logSumExp[r] = rowLogSumExp
            logProbs[r] = row[target] - rowLogSumExp
            logitSums?[r] = Float(total)
            argmaxes?[r] = Int32(maximumIndex)
        }
    }
}

/// OVERWRITES dlogits[r,j] = dLogProbs[r]·(1[j == targets[r]] − exp(logits[r,j] − logSumExp[r])).
/// Rows whose dLogProbs is 0 become all zeros without evaluating exp.
public func logSoftmaxGatherBackward(dlogits: UnsafeMutablePointer<Float>, dLogProbs: UnsafePointer<Float>,
                                     logits: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
                                     targets: UnsafePointer<Int32>, rows: Int, vocab: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 32 * vocab)) { rowRange in
        for r in rowRange {
            let gradients = dlogits + r * vocab
            let upstream = dLogProbs[r]
            guard upstream != 0 else {
                gradients.update(repeating: 0, count: vocab)
                continue
            }
            let row = logits + r * vocab
            let target = Int(targets[r])
            precondition(target >= 0 && target < vocab, "logSoftmaxGatherBackward: target \(target) at row \(r) outside vocabulary \(vocab)")
            let (shift, scale) = (Float8(repeating: logSumExp[r]), Float8(repeating: -upstream))
            mapVectors(row, gradients, count: vocab) { _, _, logits in scale * exp(logits - shift) }
            gradients[target] += upstream
        }
    }
}

/// (Σ_j e_j, Σ_j e_j·(x_j − shift), Σ_j e_j²) with e_j = exp(x_j − shift), for the row maximum as `shift` (so every
/// e_j ≤ 1). Eight lanes of the vector `exp`; each block of 256 elements is summed in Float (32 terms per lane, relative
/// error ~1e-7) and the blocks in Double, so a 50k-word vocabulary is summed about as accurately as a Double loop over
/// `expf`, for a fraction of its cost.
private func shiftedExponentialSums(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> (Double, Double, Double) {
    let shiftLanes = Float8(repeating: shift)
    var (exponentials, weightedShifts, squares) = (0.0, 0.0, 0.0)
    var blockStart = 0
    while blockStart < count {
        let blockEnd = min(count, blockStart + 256)
        var (blockExponentials, blockWeighted, blockSquares) = (Float8(), Float8(), Float8())
        var j = blockStart
        while j + 8 <= blockEnd {
            let shifted = load8(x + j) - shiftLanes
            let e = exp(shifted)
            blockExponentials += e
            blockWeighted += e * shifted
            blockSquares += e * e
            j += 8
        }
        if j < blockEnd {
            // Lanes past the end load as 0, whose exp(0 − shift) must not count: mask them out.
            let outside = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= SIMD8<Int32>(repeating: Int32(blockEnd - j))
            let shifted = (loadPartial(x + j, count: blockEnd - j) - shiftLanes).replacing(with: 0, where: outside)
            let e = exp(shifted).replacing(with: 0, where: outside)
            blockExponentials += e
            blockWeighted += e * shifted
            blockSquares += e * e
        }
        exponentials += Double(blockExponentials.sum())
        weightedShifts += Double(blockWeighted.sum())
        squares += Double(blockSquares.sum())
        blockStart = blockEnd
    }
    return (exponentials, weightedShifts, squares)
}
