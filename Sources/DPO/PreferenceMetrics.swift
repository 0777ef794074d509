/// Running sums behind TRL's DPO metrics.
///
/// Metrics are kept as sums and counts, never as per-rank means, so that adding the sums of every rank
/// (one all-reduce of `values`) and dividing once gives the exact global figure whatever the sharding.
public struct PreferenceMetricSums: Sendable, Equatable {
    public var pairs: Double = 0
    public var loss: Double = 0
    public var chosenRewards: Double = 0
    public var rejectedRewards: Double = 0
    /// Pairs whose chosen reward beats the rejected reward (ties count as wrong, as in TRL).
    public var correct: Double = 0
    public var chosenLogProbs: Double = 0
    public var rejectedLogProbs: Double = 0
    /// Σ over scored positions of the vocabulary-mean logit, and the number of scored positions.
    public var chosenLogitSum: Double = 0
    public var chosenTokens: Double = 0
    public var rejectedLogitSum: Double = 0
    public var rejectedTokens: Double = 0
    /// All non-padding tokens the policy processed (prompt and completion), for throughput.
    public var processedTokens: Double = 0
    /// Pairs where the policy gives the chosen completion a higher mean per-token log-prob than the rejected
    /// one. Unlike the reward accuracy this is informative before training too (rewards start at zero).
    public var chosenMoreLikely: Double = 0

    public init() {}

    public mutating func add(_ pair: PairLoss, chosenLogProb: Double, rejectedLogProb: Double) {
        pairs += 1
        loss += pair.loss
        chosenRewards += pair.chosenReward
        rejectedRewards += pair.rejectedReward
        if pair.chosenReward > pair.rejectedReward { correct += 1 }
        chosenLogProbs += chosenLogProb
        rejectedLogProbs += rejectedLogProb
    }

    /// The sums in a fixed order, for one all-reduce.
    public var values: [Double] {
        [pairs, loss, chosenRewards, rejectedRewards, correct, chosenLogProbs, rejectedLogProbs,
         chosenLogitSum, chosenTokens, rejectedLogitSum, rejectedTokens, processedTokens, chosenMoreLikely]
    }

    public init(values: [Double]) {
        precondition(values.count == 13, "PreferenceMetricSums needs 13 values")
        (pairs, loss, chosenRewards, rejectedRewards, correct, chosenLogProbs, rejectedLogProbs) =
            (values[0], values[1], values[2], values[3], values[4], values[5], values[6])
        (chosenLogitSum, chosenTokens, rejectedLogitSum, rejectedTokens, processedTokens, chosenMoreLikely) =
            (values[7], values[8], values[9], values[10], values[11], values[12])
    }

    public static func += (lhs: inout PreferenceMetricSums, rhs: PreferenceMetricSums) {
        lhs = PreferenceMetricSums(values: zip(lhs.values, rhs.values).map(+))
    }

    /// Means under TRL's metric names, in TRL's order. Empty when no pair was seen.
    public var means: [(name: String, value: Double)] {
        guard pairs > 0 else { return [] }
        return [
            ("loss", loss / pairs),
            ("rewards/chosen", chosenRewards / pairs),
            ("rewards/rejected", rejectedRewards / pairs),
            ("rewards/accuracies", correct / pairs),
            ("rewards/margins", (chosenRewards - rejectedRewards) / pairs),
            ("logps/chosen", chosenLogProbs / pairs),
            ("logps/rejected", rejectedLogProbs / pairs),
            ("logits/chosen", chosenTokens > 0 ? chosenLogitSum / chosenTokens : 0),
            ("logits/rejected", rejectedTokens > 0 ? rejectedLogitSum / rejectedTokens : 0),
        ]
    }
}
