#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Row-wise log-softmax gathered at one target per row.
/// logSumExp[r] = log Σ_j exp(logits[r,j]) (stable: the row max is subtracted, Σ exp is accumulated in Double);
/// logProbs[r] = logits[r, targets[r]] − logSumExp[r]; logitSums[r] = Σ_j logits[r,j] when given.
public func logSoftmaxGatherForward(logProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
                                    logitSums: UnsafeMutablePointer<Float>?, logits: UnsafePointer<Float>,
                                    targets: UnsafePointer<Int32>, rows: Int, vocab: Int, parallel: Parallel) {
    parallel.forEachChunk(of: rows, minimumChunk: minimumRows(perRowWork: 32 * vocab)) { rowRange in
        for r in rowRange {
            let row = logits + r * vocab
            let target = Int(targets[r])
            precondition(target >= 0 && target < vocab, "logSoftmaxGatherForward: target \(target) at row \(r) outside vocabulary \(vocab)")
            var maximum = -Float.infinity
            var total: Double = 0
            for j in 0..<vocab {
                maximum = max(maximum, row[j])
                total += Double(row[j])
            }
            var exponentials: Double = 0
            for j in 0..<vocab {
                exponentials += Double(expf(row[j] - maximum))
            }
            let rowLogSumExp = Float(Double(maximum) + log(exponentials))
            logSumExp[r] = rowLogSumExp
            logProbs[r] = row[target] - rowLogSumExp
            logitSums?[r] = Float(total)
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
