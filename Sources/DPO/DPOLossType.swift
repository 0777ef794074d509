import Foundation

/// The loss types of TRL's `DPOTrainer` (`loss_type`), under TRL's names, with the formulas of
/// `DPOTrainer._compute_loss` in trl/trainer/dpo_trainer.py (TRL 1.16).
///
/// Notation for one pair: a = log π(y_w) − log π_ref(y_w) and b = log π(y_l) − log π_ref(y_l) (TRL's
/// `chosen_logratios` / `rejected_logratios`, summed over completion tokens), s_w = f'(eᵃ) and s_l = f'(eᵇ) their
/// scores under the f-divergence (`FDivergence`; s = a under the default reverse KL), z = β·(s_w − s_l), σ the logistic
/// function, ε = `label_smoothing`, n_w and n_l the completion lengths (at least 1). Since ∂a/∂log π(y_w) =
/// ∂b/∂log π(y_l) = 1, the derivatives with respect to a and b are those with respect to the policy log-prob sums.
public enum DPOLossType: String, CaseIterable, Sendable {
    /// DPO: −log σ(z). With ε > 0, conservative DPO: (1 − ε)·(−log σ(z)) + ε·(−log σ(−z)), as in TRL ≤ 0.2x's
    /// `dpo_loss`; TRL 1.x applies `label_smoothing` to `robust`, `exo_pair` and the `aot` losses only (same result at
    /// ε = 0).
    case sigmoid
    /// SLiC hinge: max(0, 1 − z).
    case hinge
    /// IPO (eq. 17 of Azar et al.) on per-token scores: (s_w/n_w − s_l/n_l − 1/(2β))².
    case ipo
    /// DPO on per-token scores: −log σ(β·(s_w/n_w − s_l/n_l)).
    case sigmoidNorm = "sigmoid_norm"
    /// Robust DPO, unbiased for labels flipped with probability ε < ½:
    /// ((1 − ε)·(−log σ(z)) − ε·(−log σ(−z))) / (1 − 2ε).
    case robust
    /// EXO (eq. 16): KL from the smoothed labels [1 − ε, ε] to softmax(β·[s_w, s_l]) = [σ(z), σ(−z)]:
    /// σ(z)·(log σ(z) − log(1 − ε)) + σ(−z)·(log σ(−z) − log ε). Needs ε > 0.
    case exoPair = "exo_pair"
    /// NCA: −log σ(βa) − ½·log σ(−βa) − ½·log σ(−βb).
    case ncaPair = "nca_pair"
    /// BCO on pairs, as TRL 1.16 has it (no running reward mean): −log σ(βa) − log σ(−βb).
    case bcoPair = "bco_pair"
    /// SPPO with hard win probabilities: (a − 1/(2β))² + (b + 1/(2β))².
    case sppoHard = "sppo_hard"
    /// AOT (paired): over the micro-batch, the k-th smallest policy margin log π(y_w) − log π(y_l) is matched with the
    /// k-th smallest reference margin, d_k their difference, and the loss is conservative DPO on β·d_k. The loss of
    /// rank k is the pair's whose policy margin has rank k.
    case aot
    /// AOT (unpaired): the k-th smallest a is matched with the k-th smallest b of the micro-batch, and the loss is
    /// conservative DPO on β·(a_(k) − b_(k)). The loss of rank k is the pair's whose a has rank k; its b enters the
    /// loss of the rank b has.
    case aotUnpaired = "aot_unpaired"
    /// APO-zero (eq. 7): (1 − σ(βa)) + σ(βb). Raises the chosen likelihood, lowers the rejected one.
    case apoZero = "apo_zero"
    /// APO-down (eq. 8): σ(βa) + (1 − σ(β·(a − b))). Lowers both, the rejected one more.
    case apoDown = "apo_down"
    /// DiscoPOP (eq. 5): with m = σ(z/τ), τ = `discopop_tau`, the blend (1 − m)·(−log σ(z)) + m·e^(−z).
    case discopop
    /// Negative log-likelihood of the chosen completions, averaged per token: for a pair −log π(y_w) / n̄, where n̄
    /// is the mean chosen length per pair of the global batch. Averaged over the G pairs of that batch this is
    /// −Σ log π(y_w) / N with N = G·n̄ its chosen tokens: TRL's mean over all chosen tokens of the batch. The gradient
    /// is −1/n̄ per pair, −1/N once the trainer scales by 1/G — the same however the global batch is split into
    /// micro-batches and ranks, because N belongs to the global batch.
    case sft

    /// Whether TRL allows this loss with an f-divergence other than reverse KL: the losses built on the chosen–rejected
    /// score difference, where the f-DPO reparameterization's β·log Z(x) cancels, and `sft`, which reads no log-ratio.
    public var acceptsFDivergence: Bool {
        switch self {
        case .sigmoid, .hinge, .ipo, .sigmoidNorm, .robust, .exoPair, .discopop, .sft: true
        case .ncaPair, .bcoPair, .sppoHard, .aot, .aotUnpaired, .apoZero, .apoDown: false
        }
    }
}

/// Inputs of the loss terms for one pair (reference log-probs already zero when reference-free).
struct PairLogRatios {
    /// a and b.
    var chosen: Double
    var rejected: Double
    /// s_w and s_l with their derivatives ds/da and ds/db.
    var chosenScore: FDivergence.Score
    var rejectedScore: FDivergence.Score
    /// Σ log π(y_w) with every token weighing 1, which `sft` uses, and log π(y_w) − log π(y_l), which `aot` matches
    /// by rank.
    var plainPolicyChosen: Double
    var policyMargin: Double
    /// Completion lengths for `ipo` and `sigmoid_norm`, and the mean chosen length n̄ for `sft`; all at least 1.
    var chosenTokens: Double
    var rejectedTokens: Double
    var meanChosenTokens: Double
    /// `aot`: the reference margin of the micro-batch with the rank this pair's policy margin has.
    /// These three start as the pair's own values, which `DPOLoss` then matches by rank.
    var rankMatchedReferenceMargin: Double
    /// `aot_unpaired`: the b with the rank this pair's a has among the a, and the a with the rank its b has.
    var rankMatchedRejected: Double
    var rankMatchedChosen: Double
}

/// A term's value and its derivatives with respect to a and b, and (`sft` only) to the plain Σ log π(y_w).
struct LossTermValue {
    var loss: Double
    var dChosen: Double
    var dRejected: Double
    var dPlainChosen = 0.0
}

/// The constants of the loss terms besides the pair: β, ε and DiscoPOP's τ.
struct LossConstants {
    var beta: Double
    var labelSmoothing: Double
    var discopopTau: Double
}

extension DPOLossType {
    func evaluate(_ pair: PairLogRatios, _ constants: LossConstants) -> LossTermValue {
        let (beta, epsilon, tau) = (constants.beta, constants.labelSmoothing, constants.discopopTau)
        let z = beta * (pair.chosenScore.value - pair.rejectedScore.value)
        // A loss of the scores: chain dloss/ds through ds/da and ds/db.
        func ofScores(_ loss: Double, _ dLossDChosenScore: Double, _ dLossDRejectedScore: Double) -> LossTermValue {
            LossTermValue(loss: loss, dChosen: dLossDChosenScore * pair.chosenScore.slope,
                          dRejected: dLossDRejectedScore * pair.rejectedScore.slope)
        }
        // A loss of z alone: ∂/∂s_w = β·dloss/dz, ∂/∂s_l = −β·dloss/dz.
        func ofMargin(_ loss: Double, _ dLossDz: Double) -> LossTermValue {
            ofScores(loss, beta * dLossDz, -beta * dLossDz)
        }
        // Conservative DPO of a margin x, (1 − ε)·softplus(−x) + ε·softplus(x), and its derivative
        // (d/dx softplus(±x) = ±σ(±x)).
        func conservative(_ x: Double) -> (loss: Double, slope: Double) {
            ((1 - epsilon) * softplus(-x) + epsilon * softplus(x), -(1 - epsilon) * logistic(-x) + epsilon * logistic(x))
        }
        switch self {
        case .sigmoid:
            let (loss, slope) = conservative(z)
            return ofMargin(loss, slope)
        case .hinge:
            // relu'(0) = 0, as in torch.
            return ofMargin(max(0, 1 - z), z < 1 ? -1 : 0)
        case .ipo:
            let residual = pair.chosenScore.value / pair.chosenTokens - pair.rejectedScore.value / pair.rejectedTokens
                - 1 / (2 * beta)
            return ofScores(residual * residual, 2 * residual / pair.chosenTokens, -2 * residual / pair.rejectedTokens)
        case .sigmoidNorm:
            let x = beta * (pair.chosenScore.value / pair.chosenTokens - pair.rejectedScore.value / pair.rejectedTokens)
            return ofScores(softplus(-x), -beta * logistic(-x) / pair.chosenTokens, beta * logistic(-x) / pair.rejectedTokens)
        case .robust:
            let scale = 1 / (1 - 2 * epsilon)
            return ofMargin(scale * ((1 - epsilon) * softplus(-z) - epsilon * softplus(z)),
                            scale * (-(1 - epsilon) * logistic(-z) - epsilon * logistic(z)))
        case .exoPair:
            // log σ(z) − log σ(−z) = z, so d/dz = σ(z)σ(−z)·(z − log((1 − ε)/ε)).
            let winning = logistic(z), losing = logistic(-z)
            let loss = winning * (-softplus(-z) - log1p(-epsilon)) + losing * (-softplus(z) - log(epsilon))
            return ofMargin(loss, winning * losing * (z - log1p(-epsilon) + log(epsilon)))
        case .ncaPair:
            let chosenReward = beta * pair.chosen, rejectedReward = beta * pair.rejected
            return LossTermValue(
                loss: softplus(-chosenReward) + 0.5 * softplus(chosenReward) + 0.5 * softplus(rejectedReward),
                dChosen: beta * (-logistic(-chosenReward) + 0.5 * logistic(chosenReward)),
                dRejected: beta * 0.5 * logistic(rejectedReward))
        case .bcoPair:
            let chosenReward = beta * pair.chosen, rejectedReward = beta * pair.rejected
            return LossTermValue(loss: softplus(-chosenReward) + softplus(rejectedReward),
                                 dChosen: -beta * logistic(-chosenReward), dRejected: beta * logistic(rejectedReward))
        case .sppoHard:
            let chosenError = pair.chosen - 0.5 / beta, rejectedError = pair.rejected + 0.5 / beta
            return LossTermValue(loss: chosenError * chosenError + rejectedError * rejectedError,
                                 dChosen: 2 * chosenError, dRejected: 2 * rejectedError)
        case .aot:
            let (loss, slope) = conservative(beta * (pair.policyMargin - pair.rankMatchedReferenceMargin))
            return LossTermValue(loss: loss, dChosen: beta * slope, dRejected: -beta * slope)
        case .aotUnpaired:
            // The pair's b sits in the loss of its own rank, against the a of that rank.
            let own = conservative(beta * (pair.chosen - pair.rankMatchedRejected))
            let rejectedRank = conservative(beta * (pair.rankMatchedChosen - pair.rejected))
            return LossTermValue(loss: own.loss, dChosen: beta * own.slope, dRejected: -beta * rejectedRank.slope)
        case .apoZero:
            let chosenReward = beta * pair.chosen, rejectedReward = beta * pair.rejected
            return LossTermValue(
                loss: logistic(-chosenReward) + logistic(rejectedReward),
                dChosen: -beta * logistic(chosenReward) * logistic(-chosenReward),
                dRejected: beta * logistic(rejectedReward) * logistic(-rejectedReward))
        case .apoDown:
            let chosenReward = beta * pair.chosen, margin = beta * (pair.chosen - pair.rejected)
            let dMargin = beta * logistic(margin) * logistic(-margin)
            return LossTermValue(
                loss: logistic(chosenReward) + logistic(-margin),
                dChosen: beta * logistic(chosenReward) * logistic(-chosenReward) - dMargin,
                dRejected: dMargin)
        case .discopop:
            // m·e^(−z) = exp(−z − softplus(−z/τ)), finite wherever the loss is (e^(−z) alone overflows where m = 0).
            let mix = logistic(z / tau), keep = logistic(-z / tau)
            let exponential = exp(-z - softplus(-z / tau))
            let dMix = mix * keep / tau
            return ofMargin(keep * softplus(-z) + exponential,
                            -keep * logistic(-z) - dMix * softplus(-z) - exponential + exponential * keep / tau)
        case .sft:
            return LossTermValue(loss: -pair.plainPolicyChosen / pair.meanChosenTokens, dChosen: 0, dRejected: 0,
                                 dPlainChosen: -1 / pair.meanChosenTokens)
        }
    }
}
