import Foundation

/// The sigmoid DPO loss of one preference pair (Rafailov et al. 2023), with optional label smoothing
/// (the "conservative DPO" variant TRL exposes as `label_smoothing`).
///
/// With h = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)) and z = β·h:
///     loss = −(1 − ε)·log σ(z) − ε·log σ(−z)
/// Everything is computed in Double from the Float log-probs the model returns.
public struct DPOLoss: Sendable, Equatable {
    public var beta: Double
    public var labelSmoothing: Double

    public init(beta: Double = 0.1, labelSmoothing: Double = 0) {
        self.beta = beta
        self.labelSmoothing = labelSmoothing
    }

    /// Loss, its derivatives with respect to the two policy log-probs, and the implicit rewards.
    public func evaluate(policyChosen: Double, policyRejected: Double,
                         referenceChosen: Double, referenceRejected: Double) -> PairLoss {
        let chosenLogRatio = policyChosen - referenceChosen
        let rejectedLogRatio = policyRejected - referenceRejected
        let z = beta * (chosenLogRatio - rejectedLogRatio)
        let loss = (1 - labelSmoothing) * softplus(-z) + labelSmoothing * softplus(z)
        // d loss / dz = −(1 − ε)·σ(−z) + ε·σ(z)
        let dLossDz = -(1 - labelSmoothing) * sigmoid(-z) + labelSmoothing * sigmoid(z)
        return PairLoss(loss: loss,
                        dPolicyChosen: beta * dLossDz,
                        dPolicyRejected: -beta * dLossDz,
                        chosenReward: beta * chosenLogRatio,
                        rejectedReward: beta * rejectedLogRatio)
    }
}

public struct PairLoss: Sendable, Equatable {
    public var loss: Double
    /// ∂loss/∂ log π(chosen) and ∂loss/∂ log π(rejected).
    public var dPolicyChosen: Double
    public var dPolicyRejected: Double
    /// β·(log π − log π_ref) for each completion: TRL's `rewards/chosen` and `rewards/rejected`.
    public var chosenReward: Double
    public var rejectedReward: Double
}

/// log(1 + eˣ) without overflow for large |x|; −log σ(z) = softplus(−z).
@inlinable func softplus(_ x: Double) -> Double {
    x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))
}

@inlinable func sigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}
