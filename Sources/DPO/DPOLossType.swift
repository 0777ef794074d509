import Foundation

/// The loss types of TRL's `DPOTrainer` (`loss_type`), under TRL's names, with the formulas of
/// `DPOTrainer._compute_loss` in trl/trainer/dpo_trainer.py (TRL 1.16).
///
/// Notation for one pair: a = log π(y_w) − log π_ref(y_w) and b = log π(y_l) − log π_ref(y_l) (TRL's
/// `chosen_logratios` / `rejected_logratios`, summed over completion tokens), z = β·(a − b), σ the logistic
/// function, ε = `label_smoothing`. Since ∂a/∂log π(y_w) = ∂b/∂log π(y_l) = 1, the derivatives below with respect
/// to a and b are those with respect to the policy log-prob sums.
public enum DPOLossType: String, CaseIterable, Sendable {
    /// DPO: −log σ(z). With ε > 0, conservative DPO: (1 − ε)·(−log σ(z)) + ε·(−log σ(−z)), as in TRL ≤ 0.2x's
    /// `dpo_loss`; TRL 1.x applies `label_smoothing` to `robust` and `exo_pair` only (same result at ε = 0).
    case sigmoid
    /// SLiC hinge: max(0, 1 − z).
    case hinge
    /// IPO (eq. 17 of Azar et al.) on per-token log-ratios: (a/n_w − b/n_l − 1/(2β))², with n_w, n_l the completion
    /// lengths (at least 1).
    case ipo
    /// Robust DPO, unbiased for labels flipped with probability ε < ½:
    /// ((1 − ε)·(−log σ(z)) − ε·(−log σ(−z))) / (1 − 2ε).
    case robust
    /// EXO (eq. 16): KL from the smoothed labels [1 − ε, ε] to softmax(β·[a, b]) = [σ(z), σ(−z)]:
    /// σ(z)·(log σ(z) − log(1 − ε)) + σ(−z)·(log σ(−z) − log ε). Needs ε > 0.
    case exoPair = "exo_pair"
    /// NCA: −log σ(βa) − ½·log σ(−βa) − ½·log σ(−βb).
    case ncaPair = "nca_pair"
    /// SPPO with hard win probabilities: (a − 1/(2β))² + (b + 1/(2β))².
    case sppoHard = "sppo_hard"
    /// APO-zero (eq. 7): (1 − σ(βa)) + σ(βb). Raises the chosen likelihood, lowers the rejected one.
    case apoZero = "apo_zero"
    /// APO-down (eq. 8): σ(βa) + (1 − σ(z)). Lowers both, the rejected one more.
    case apoDown = "apo_down"
    /// Negative log-likelihood of the chosen completions, averaged per token: for a pair −log π(y_w) / n̄, where n̄
    /// is the mean chosen length per pair of the global batch. Averaged over the G pairs of that batch this is
    /// −Σ log π(y_w) / N with N = G·n̄ its chosen tokens: TRL's mean over all chosen tokens of the batch. The gradient
    /// is −1/n̄ per pair, −1/N once the trainer scales by 1/G — the same however the global batch is split into
    /// micro-batches and ranks, because N belongs to the global batch.
    case sft
}

/// Inputs of the loss terms for one pair (reference log-probs already zero when reference-free).
struct PairLogRatios {
    /// a and b.
    var chosen: Double
    var rejected: Double
    /// log π(y_w), which `sft` uses without the reference.
    var policyChosen: Double
    /// Completion lengths for `ipo`, and the mean chosen length n̄ for `sft`; all at least 1.
    var chosenTokens: Double
    var rejectedTokens: Double
    var meanChosenTokens: Double
}

/// A term's value and its derivatives with respect to log π(y_w) and log π(y_l).
struct LossTermValue {
    var loss: Double
    var dChosen: Double
    var dRejected: Double
}

extension DPOLossType {
    func evaluate(_ pair: PairLogRatios, beta: Double, labelSmoothing epsilon: Double) -> LossTermValue {
        let z = beta * (pair.chosen - pair.rejected)
        // A loss of z alone: ∂/∂a = β·dloss/dz, ∂/∂b = −β·dloss/dz.
        func ofMargin(_ loss: Double, _ dLossDz: Double) -> LossTermValue {
            LossTermValue(loss: loss, dChosen: beta * dLossDz, dRejected: -beta * dLossDz)
        }
        switch self {
        case .sigmoid:
            // −log σ(z) = softplus(−z); d/dz softplus(±z) = ±σ(±z).
            return ofMargin((1 - epsilon) * softplus(-z) + epsilon * softplus(z),
                            -(1 - epsilon) * logistic(-z) + epsilon * logistic(z))
        case .hinge:
            // relu'(0) = 0, as in torch.
            return ofMargin(max(0, 1 - z), z < 1 ? -1 : 0)
        case .ipo:
            let residual = pair.chosen / pair.chosenTokens - pair.rejected / pair.rejectedTokens - 1 / (2 * beta)
            return LossTermValue(loss: residual * residual,
                                 dChosen: 2 * residual / pair.chosenTokens,
                                 dRejected: -2 * residual / pair.rejectedTokens)
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
        case .sppoHard:
            let chosenError = pair.chosen - 0.5 / beta, rejectedError = pair.rejected + 0.5 / beta
            return LossTermValue(loss: chosenError * chosenError + rejectedError * rejectedError,
                                 dChosen: 2 * chosenError, dRejected: 2 * rejectedError)
        case .apoZero:
            let chosenReward = beta * pair.chosen, rejectedReward = beta * pair.rejected
            return LossTermValue(
                loss: logistic(-chosenReward) + logistic(rejectedReward),
                dChosen: -beta * logistic(chosenReward) * logistic(-chosenReward),
                dRejected: beta * logistic(rejectedReward) * logistic(-rejectedReward))
        case .apoDown:
            let chosenReward = beta * pair.chosen
            let dMargin = beta * logistic(z) * logistic(-z)
            return LossTermValue(
                loss: logistic(chosenReward) + logistic(-z),
                dChosen: beta * logistic(chosenReward) * logistic(-chosenReward) - dMargin,
                dRejected: dMargin)
        case .sft:
            return LossTermValue(loss: -pair.policyChosen / pair.meanChosenTokens,
                                 dChosen: -1 / pair.meanChosenTokens, dRejected: 0)
        }
    }
}
