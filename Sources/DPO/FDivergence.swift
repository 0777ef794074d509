import Foundation

/// The f-divergence that keeps the policy near the reference (TRL's `f_divergence_type`; f-DPO, Wang et al. 2023).
///
/// f-DPO replaces each log-ratio a = log(π/π_ref) by the score f'(u) at u = π/π_ref = eᵃ in the loss types built on
/// the chosen–rejected difference (`DPOLossType.acceptsFDivergence`); rewards and the other loss types keep a.
public enum FDivergence: String, CaseIterable, Sendable {
    /// f'(u) = log u + 1, i.e. the score a (the constant cancels): standard DPO.
    case reverseKL = "reverse_kl"
    /// f'(u) = 1 − 1/u: 1 − e^(−a).
    case forwardKL = "forward_kl"
    /// Jensen–Shannon, f'(u) = log(2u / (1 + u)): log 2 + log σ(a).
    case jsDivergence = "js_divergence"
    /// α-divergence, f'(u) = (u^(α−1) − 1)/(α − 1): (e^((α−1)·a) − 1)/(α − 1), α = `f_alpha_divergence_coef`. As in
    /// TRL the exponent is capped at 80 (the score is then constant) and |α − 1| < 1e-6 is reverse KL.
    case alphaDivergence = "alpha_divergence"

    /// A score and its derivative with respect to the log-ratio.
    struct Score {
        var value: Double
        var slope: Double
    }

    func score(logRatio a: Double, alpha: Double) -> Score {
        switch self {
        case .reverseKL:
            return Score(value: a, slope: 1)
        case .forwardKL:
            return Score(value: 1 - exp(-a), slope: exp(-a))
        case .jsDivergence:
            return Score(value: log(2) - softplus(-a), slope: logistic(-a))
        case .alphaDivergence:
            guard abs(alpha - 1) >= 1e-6 else { return Score(value: a, slope: 1) }
            let exponent = (alpha - 1) * a
            guard exponent <= 80 else { return Score(value: (exp(80) - 1) / (alpha - 1), slope: 0) }
            return Score(value: (exp(exponent) - 1) / (alpha - 1), slope: exp(exponent))
        }
    }
}
