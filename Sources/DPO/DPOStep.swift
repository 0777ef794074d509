import Model

/// One micro-batch of DPO: reference and policy log-probs on the concatenated chosen+rejected rows,
/// the loss of every pair and, when training, the policy backward pass.
///
/// `batch` holds 2·P rows: rows 0..<P are prompt+chosen, rows P..<2P prompt+rejected of the same pairs
/// (the layout TRL's `concatenated_forward` uses). Gradients of Σ_pairs loss / G, G = `normalization.pairs`, are
/// accumulated into `policy.gradients`, so that summing the gradient buffers of all micro-batches and all ranks
/// gives the gradient of the global mean loss exactly. A reference-free loss skips the reference entirely.
public struct DPOStep {
    /// Where the reference log-probs of a batch come from.
    public enum Reference {
        /// A forward pass of the frozen reference model (keeps no activations).
        case model(any CausalLanguageModel)
        /// Completion log-prob sums of every row of the batch as the loss reads them (`DPOLoss.completionLogProbSums`),
        /// computed before training (`precompute_ref_log_probs`), so no reference model needs to be in memory.
        case precomputed([Float])
        /// A forward pass of the policy itself with its LoRA adapters switched to `selection` (the frozen base, or the
        /// frozen starting adapters), as TRL does with a PEFT model: no second model in memory.
        case policyAdapters(LoRAAdapters.Selection)
    }

    public var loss: DPOLoss

    public init(loss: DPOLoss) {
        self.loss = loss
    }

    /// Runs the micro-batch and returns its metric sums. With `train == false` nothing is accumulated
    /// and no activations are kept (evaluation). `gradientsReady` is passed to the policy's backward.
    public func run(policy: any CausalLanguageModel, reference: Reference, batch: SequenceBatch,
                    normalization: LossNormalization, train: Bool,
                    gradientsReady: ((Range<Int>) -> Void)? = nil) -> PreferenceMetricSums {
        precondition(batch.count % 2 == 0, "a DPO batch has chosen and rejected rows for every pair")
        let pairs = batch.count / 2
        let referenceLogProbSums: [Double]
        switch reference {
        case _ where loss.referenceFree: referenceLogProbSums = [Double](repeating: 0, count: batch.count)
        case .model(let model): referenceLogProbSums = loss.completionLogProbSums(model.score(batch, training: false))
        case .policyAdapters(let selection):
            guard let adapters = policy.adapters else { preconditionFailure("a reference through adapters needs adapters") }
            referenceLogProbSums = loss.completionLogProbSums(adapters.with(selection) { policy.score(batch, training: false) })
        case .precomputed(let values):
            precondition(values.count == batch.count, "one precomputed reference log-prob per row")
            referenceLogProbSums = values.map(Double.init)
        }
        let policyScores = policy.score(batch, training: train)
        let tails = loss.verboseTailSums(policyScores)
        let results = loss.evaluate((0..<pairs).map { pair in
            let chosen = pair, rejected = pair + pairs
            return PairLogProbs(
                policyChosen: Double(policyScores.logProbSums[chosen]),
                policyRejected: Double(policyScores.logProbSums[rejected]),
                referenceChosen: referenceLogProbSums[chosen], referenceRejected: referenceLogProbSums[rejected],
                chosenTokens: policyScores.tokenCounts[chosen], rejectedTokens: policyScores.tokenCounts[rejected],
                policyChosenTail: tails[chosen], policyRejectedTail: tails[rejected],
                chosenLogSumSquaredProbs: policyScores.logSumSquaredProbSums[chosen],
                rejectedLogSumSquaredProbs: policyScores.logSumSquaredProbSums[rejected])
        }, meanChosenTokens: normalization.meanChosenTokens)

        var sums = PreferenceMetricSums()
        for (pair, result) in results.enumerated() {
            let chosen = pair, rejected = pair + pairs
            sums.add(result)
            let chosenTokens = Double(max(1, policyScores.tokenCounts[chosen]))
            let rejectedTokens = Double(max(1, policyScores.tokenCounts[rejected]))
            if Double(policyScores.logProbSums[chosen]) / chosenTokens
                > Double(policyScores.logProbSums[rejected]) / rejectedTokens {
                sums.chosenMoreLikely += 1
            }
            sums.chosenLogitSum += policyScores.meanLogitSums[chosen]
            sums.chosenTokens += Double(policyScores.tokenCounts[chosen])
            sums.rejectedLogitSum += policyScores.meanLogitSums[rejected]
            sums.rejectedTokens += Double(policyScores.tokenCounts[rejected])
            sums.entropySum += policyScores.entropySums[chosen] + policyScores.entropySums[rejected]
            sums.chosenCorrectTokens += Double(policyScores.correctTokenCounts[chosen])
        }
        if train {
            policy.backward(dTokenLogProbs: tokenGradients(results, scores: policyScores,
                                                           scale: 1 / Double(normalization.pairs)),
                            gradientsReady: gradientsReady)
        }
        return sums
    }

    /// The gradient of every scored token, row by row: its row's ∂loss/∂sum, plus ∂loss/∂tail past the pair's shared
    /// length (LD-DPO), times `scale`.
    private func tokenGradients(_ results: [PairLoss], scores: SequenceScores, scale: Double) -> [Float] {
        var gradients: [Float] = []
        gradients.reserveCapacity(scores.tokenLogProbs.count)
        for (row, shared) in loss.sharedLengths(scores).enumerated() {
            let result = results[row % results.count], isChosen = row < results.count
            let dSum = isChosen ? result.dPolicyChosen : result.dPolicyRejected
            let dTail = isChosen ? result.dPolicyChosenTail : result.dPolicyRejectedTail
            for token in 0..<scores.tokenCounts[row] {
                gradients.append(Float((token < shared ? dSum : dSum + dTail) * scale))
            }
        }
        return gradients
    }
}
