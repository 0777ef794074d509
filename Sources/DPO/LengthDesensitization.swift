import Model

/// LD-DPO's split of the completions (Liu et al. 2024, TRL's `ld_alpha`): the first min(n_w, n_l) completion tokens of
/// both rows of a pair are their shared part, the rest of the longer completion its verbose tail, whose log-probs count
/// α times in the log-prob sums the loss reads (shared + α·tail), so that DPO stops rewarding length for its own sake.
extension DPOLoss {
    /// Per row of a pair batch (the P chosen rows, then the P rejected rows of the same pairs): Σ of the log-probs past
    /// the pair's shared length, 0 for the shorter completion; all 0 without `verboseTailWeight`.
    public func verboseTailSums(_ scores: SequenceScores) -> [Double] {
        guard verboseTailWeight != nil else { return [Double](repeating: 0, count: scores.tokenCounts.count) }
        var sums: [Double] = []
        var offset = 0
        for (row, shared) in sharedLengths(scores).enumerated() {
            let count = scores.tokenCounts[row]
            sums.append(scores.tokenLogProbs[(offset + shared) ..< (offset + count)].reduce(0) { $0 + Double($1) })
            offset += count
        }
        return sums
    }

    /// Per row of a pair batch, the log-prob sum the loss reads: Σ log π over the completion, or with
    /// `verboseTailWeight` α the shared part plus α times the verbose tail (TRL's `chosen_logps` / `rejected_logps`).
    public func completionLogProbSums(_ scores: SequenceScores) -> [Double] {
        zip(scores.logProbSums, verboseTailSums(scores)).map { lengthWeighted(Double($0), tail: $1) }
    }

    /// shared + α·tail of a row whose log-prob sum is `sum`, `tail` of it past the shared length. Rounded to Float like
    /// every sum the model returns, so that a precomputed reference (stored in Float) equals the live one exactly.
    func lengthWeighted(_ sum: Double, tail: Double) -> Double {
        verboseTailWeight.map { Double(Float(sum - (1 - $0) * tail)) } ?? sum
    }

    /// Per row of a pair batch, min(n_w, n_l) of its pair.
    func sharedLengths(_ scores: SequenceScores) -> [Int] {
        let counts = scores.tokenCounts, pairs = counts.count / 2
        return counts.indices.map { row in min(counts[row % pairs], counts[row % pairs + pairs]) }
    }
}
