#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Row-wise log-softmax gathered at one target per row.
/// logSumExp[r] = log Σ_j exp(logits[r,j]) (stable: the row max is subtracted, Σ exp is accumulated in Double);
/// logProbs[r] = logits[r, targets[r]] − logSumExp[r]; logitSums[r] = Σ_j logits[r,j] when given;
/// entropies[r] = −Σ_j p_j·log p_j of the row's softmax p when given (from the same exponentials:
/// log Z − Σ_j e_j·(logits[r,j] − max)/Z with e_j = exp(logits[r,j] − max), Z = Σ_j e_j);
/// argmaxes[r] = the first j with the largest logit when given (as torch.argmax).
public func logSoftmaxGatherForward(logProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                                    logitSums: UnsafeMutablePointer<Float>?, entropies: UnsafeMutablePointer<Float>? = nil,
                                    argmaxes: UnsafeMutablePointer<Int32>? = nil, logits: UnsafePointer<Float>,
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
            var exponentials: Double = 0
            var weightedShifts: Double = 0
            for j in 0..<vocab {
                let shifted = row[j] - maximum
                let e = Double(expf(shifted))
                exponentials += e
                weightedShifts += e * Double(shifted)
            }
            entropies?[r] = Float(log(exponentials) - weightedShifts / exponentials)
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
            let rowLogSumExp = logSumExp[r]
            for j in 0..<vocab {
                gradients[j] = -upstream * expf(row[j] - rowLogSumExp)
            }
            gradients[target] += upstream
        }
    }
}
