import Foundation

/// The preference loss of a run: one or more loss types of TRL's `DPOTrainer`, each with a weight.
///
/// Every term depends on the policy only through the two per-sequence log-prob sums log π(y_w) and log π(y_l),
/// so `evaluate` returns the derivatives with respect to those two numbers and the model's backward does the rest.
/// For a pair with a = log π(y_w) − log π_ref(y_w), b = log π(y_l) − log π_ref(y_l):
///     loss = w · Σ_k weight_k · term_k(a, b, …)
/// (w = 1 unless WPO-weighted) which, averaged over the pairs of a global batch, is TRL's
/// `Σ_k loss_weights[k] · per_sequence_loss_k.mean()`. The formulas of the terms are on `DPOLossType`. Everything is
/// computed in Double from the Float log-probs.
public struct DPOLoss: Sendable, Equatable {
    public var terms: [WeightedLossTerm]
    public var beta: Double
    /// ε of the label-smoothed forms: conservative DPO (`sigmoid`), `robust`, `exo_pair`, `aot` and `aot_unpaired`.
    public var labelSmoothing: Double
    /// Takes every reference log-prob as 0: a = log π(y_w), b = log π(y_l), in every term and in the rewards, and
    /// no reference forward is needed. (TRL ≤ 0.2x's `reference_free`; TRL 1.x has no such mode.)
    public var referenceFree: Bool
    /// `f_divergence_type` and, for the α-divergence, α (`f_alpha_divergence_coef`).
    public var divergence: FDivergence
    public var alphaDivergenceCoefficient: Double
    /// τ of `discopop` (`discopop_tau`).
    public var discopopTau: Double
    /// LD-DPO's α (`ld_alpha`, in [0, 1]): the weight of the log-probs of a pair's longer completion past the shorter
    /// one's length, in a, b, the rewards and `logps/*` (see `completionLogProbSums`); nil weighs every token 1.
    public var verboseTailWeight: Double?
    /// WPO (Zhou et al. 2024, `use_weighting`): each pair's loss is scaled by w = w(y_w)·w(y_l), where
    /// w(y) = exp(mean over y's tokens of log π(token) − log Σ_v π(v)²), the policy's per-token probability of y
    /// relative to that of a sample from itself; w is a constant, not differentiated.
    public var wpoWeighting: Bool

    public init(beta: Double = 0.1, labelSmoothing: Double = 0, terms: [WeightedLossTerm] = [WeightedLossTerm(.sigmoid)],
                referenceFree: Bool = false, divergence: FDivergence = .reverseKL, alphaDivergenceCoefficient: Double = 0.5,
                discopopTau: Double = 0.05, verboseTailWeight: Double? = nil, wpoWeighting: Bool = false) {
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.terms = terms
        self.referenceFree = referenceFree
        self.divergence = divergence
        self.alphaDivergenceCoefficient = alphaDivergenceCoefficient
        self.discopopTau = discopopTau
        self.verboseTailWeight = verboseTailWeight
        self.wpoWeighting = wpoWeighting
    }

    /// Loss of every pair of a micro-batch, its derivatives with respect to the pair's policy log-prob sums, and
    /// the implicit rewards. Pairs are independent except in `aot` and `aot_unpaired`, which match the pairs of the
    /// micro-batch by rank, and in WPO-weighted `sft`, scaled by the micro-batch's mean weight (TRL's micro-batch too).
    ///
    /// `meanChosenTokens` is the mean number of chosen completion tokens per pair over the pairs the loss is averaged
    /// over (the global batch); only the `sft` term uses it (see `DPOLossType.sft`).
    public func evaluate(_ pairs: [PairLogProbs], meanChosenTokens: Double) -> [PairLoss] {
        let ratios = rankMatched(pairs.map { pair in
            let policyChosen = lengthWeighted(pair.policyChosen, tail: pair.policyChosenTail)
            let policyRejected = lengthWeighted(pair.policyRejected, tail: pair.policyRejectedTail)
            let referenceChosen = referenceFree ? 0 : pair.referenceChosen
            let referenceRejected = referenceFree ? 0 : pair.referenceRejected
            let chosen = policyChosen - referenceChosen, rejected = policyRejected - referenceRejected
            return PairLogRatios(
                chosen: chosen, rejected: rejected,
                chosenScore: divergence.score(logRatio: chosen, alpha: alphaDivergenceCoefficient),
                rejectedScore: divergence.score(logRatio: rejected, alpha: alphaDivergenceCoefficient),
                plainPolicyChosen: pair.policyChosen, policyMargin: policyChosen - policyRejected,
                chosenTokens: Double(max(1, pair.chosenTokens)), rejectedTokens: Double(max(1, pair.rejectedTokens)),
                meanChosenTokens: max(1, meanChosenTokens),
                rankMatchedReferenceMargin: referenceChosen - referenceRejected,
                rankMatchedRejected: rejected, rankMatchedChosen: chosen)
        })
        let weights = pairs.map(wpoWeight)
        let meanWeight = weights.reduce(0, +) / Double(max(1, weights.count))
        let constants = LossConstants(beta: beta, labelSmoothing: labelSmoothing, discopopTau: discopopTau)
        // ∂(shared + α·tail)/∂tail − ∂/∂sum, with the tail inside the sum: −(1 − α).
        let tailSlope = -(1 - (verboseTailWeight ?? 1))
        return pairs.indices.map { index in
            let (pair, weight, logProbs) = (ratios[index], weights[index], pairs[index])
            var (loss, dChosen, dRejected, dPlainChosen) = (0.0, 0.0, 0.0, 0.0)
            for term in terms {
                // sft is one mean over the micro-batch's chosen tokens that TRL copies to every pair; weighting each
                // copy by its pair's w and averaging scales that mean by the micro-batch's mean w.
                let scale = term.weight * (term.type == .sft ? meanWeight : weight)
                let value = term.type.evaluate(pair, constants)
                loss += scale * value.loss
                dChosen += scale * value.dChosen
                dRejected += scale * value.dRejected
                dPlainChosen += scale * value.dPlainChosen
            }
            return PairLoss(loss: loss, dPolicyChosen: dChosen + dPlainChosen, dPolicyRejected: dRejected,
                            dPolicyChosenTail: tailSlope * dChosen, dPolicyRejectedTail: tailSlope * dRejected,
                            chosenReward: beta * pair.chosen, rejectedReward: beta * pair.rejected,
                            chosenLogProb: lengthWeighted(logProbs.policyChosen, tail: logProbs.policyChosenTail),
                            rejectedLogProb: lengthWeighted(logProbs.policyRejected, tail: logProbs.policyRejectedTail))
        }
    }

    /// WPO's w(y_w)·w(y_l) of a pair, or 1 without `wpoWeighting`.
    private func wpoWeight(_ pair: PairLogProbs) -> Double {
        guard wpoWeighting else { return 1 }
        return exp((pair.policyChosen - pair.chosenLogSumSquaredProbs) / Double(max(1, pair.chosenTokens))
            + (pair.policyRejected - pair.rejectedLogSumSquaredProbs) / Double(max(1, pair.rejectedTokens)))
    }

    /// Fills the rank-matched inputs of `aot` and `aot_unpaired`: the k-th smallest policy margin meets the k-th
    /// smallest reference margin, the k-th smallest a the k-th smallest b (ties keep the pairs' order).
    private func rankMatched(_ pairs: [PairLogRatios]) -> [PairLogRatios] {
        func ranking(_ value: (PairLogRatios) -> Double) -> [Int] {
            pairs.indices.sorted { (value(pairs[$0]), $0) < (value(pairs[$1]), $1) }
        }
        var matched = pairs
        let byPolicyMargin = ranking(\.policyMargin)
        let byReferenceMargin = ranking(\.rankMatchedReferenceMargin)
        let byChosen = ranking(\.chosen), byRejected = ranking(\.rejected)
        for rank in pairs.indices {
            matched[byPolicyMargin[rank]].rankMatchedReferenceMargin = pairs[byReferenceMargin[rank]].rankMatchedReferenceMargin
            matched[byChosen[rank]].rankMatchedRejected = pairs[byRejected[rank]].rejected
            matched[byRejected[rank]].rankMatchedChosen = pairs[byChosen[rank]].chosen
        }
        return matched
    }
}

/// One loss type of the mix and its weight (TRL's `loss_type[k]` and `loss_weights[k]`).
public struct WeightedLossTerm: Sendable, Equatable {
    public var type: DPOLossType
    public var weight: Double

    public init(_ type: DPOLossType, weight: Double = 1) {
        self.type = type
        self.weight = weight
    }
}

/// What the loss sees of one preference pair: summed completion log-probs under policy and reference, the
/// completion lengths (scored tokens) that `ipo` and `sigmoid_norm` normalize by, and what LD-DPO and WPO add.
public struct PairLogProbs: Sendable, Equatable {
    /// Σ log π over each completion's tokens.
    public var policyChosen: Double
    public var policyRejected: Double
    /// The reference's sums as the loss reads them (with LD-DPO already shared + α·tail: nothing is differentiated).
    public var referenceChosen: Double
    public var referenceRejected: Double
    public var chosenTokens: Int
    public var rejectedTokens: Int
    /// LD-DPO: the part of `policyChosen` / `policyRejected` past the pair's shared length (`DPOLoss.verboseTailSums`).
    public var policyChosenTail: Double
    public var policyRejectedTail: Double
    /// WPO: Σ over each completion's tokens of log Σ_v π(v)² (`SequenceScores.logSumSquaredProbSums`).
    public var chosenLogSumSquaredProbs: Double
    public var rejectedLogSumSquaredProbs: Double

    public init(policyChosen: Double, policyRejected: Double, referenceChosen: Double, referenceRejected: Double,
                chosenTokens: Int, rejectedTokens: Int, policyChosenTail: Double = 0, policyRejectedTail: Double = 0,
                chosenLogSumSquaredProbs: Double = 0, rejectedLogSumSquaredProbs: Double = 0) {
        self.policyChosen = policyChosen
        self.policyRejected = policyRejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.chosenTokens = chosenTokens
        self.rejectedTokens = rejectedTokens
        self.policyChosenTail = policyChosenTail
        self.policyRejectedTail = policyRejectedTail
        self.chosenLogSumSquaredProbs = chosenLogSumSquaredProbs
        self.rejectedLogSumSquaredProbs = rejectedLogSumSquaredProbs
    }
}

public struct PairLoss: Sendable, Equatable {
    public var loss: Double
    /// ∂loss/∂ log π(chosen) and ∂loss/∂ log π(rejected): the gradient of every token of the completion, to which a
    /// token of LD-DPO's verbose tail adds ∂loss/∂tail (the tail is inside the sum too).
    public var dPolicyChosen: Double
    public var dPolicyRejected: Double
    public var dPolicyChosenTail: Double
    public var dPolicyRejectedTail: Double
    /// β·(log π − log π_ref) for each completion (π_ref = 1 when reference-free): TRL's `rewards/chosen` and
    /// `rewards/rejected`, whatever the loss type.
    public var chosenReward: Double
    public var rejectedReward: Double
    /// log π(chosen) and log π(rejected) as the loss read them (length-weighted under LD-DPO): TRL's `logps/*`.
    public var chosenLogProb: Double
    public var rejectedLogProb: Double
}

/// log(1 + eˣ) without overflow for large |x|; −log σ(z) = softplus(−z).
@inlinable func softplus(_ x: Double) -> Double {
    x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))
}

/// σ(x) = 1 / (1 + e⁻ˣ) without overflow for large |x| (named apart from `DPOLossType.sigmoid`).
@inlinable func logistic(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}
