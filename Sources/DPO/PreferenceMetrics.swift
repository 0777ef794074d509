/// Running sums behind TRL's DPO metrics over a set of pairs (one micro-batch, or several added with `+=`).
///
/// `means` turns them into TRL's per-pair and per-token means; the trainer averages those micro-batch means over a
/// logging window and over all ranks, as TRL does.
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
    /// Σ of the policy's next-token entropy over the completion positions of both rows (TRL's `entropy`).
    public var entropySum: Double = 0
    /// Chosen completion positions whose token is the policy's argmax (TRL's `mean_token_accuracy`).
    public var chosenCorrectTokens: Double = 0

    public init() {}

    /// Every sum, in the fixed order of `values`.
    private static let fields: [WritableKeyPath<PreferenceMetricSums, Double>] = [
        \.pairs, \.loss, \.chosenRewards, \.rejectedRewards, \.correct, \.chosenLogProbs, \.rejectedLogProbs,
        \.chosenLogitSum, \.chosenTokens, \.rejectedLogitSum, \.rejectedTokens, \.processedTokens, \.chosenMoreLikely,
        \.entropySum, \.chosenCorrectTokens,
    ]

    public mutating func add(_ pair: PairLoss) {
        pairs += 1
        loss += pair.loss
        chosenRewards += pair.chosenReward
        rejectedRewards += pair.rejectedReward
        if pair.chosenReward > pair.rejectedReward { correct += 1 }
        chosenLogProbs += pair.chosenLogProb
        rejectedLogProbs += pair.rejectedLogProb
    }

    /// The sums in a fixed order.
    public var values: [Double] {
        Self.fields.map { self[keyPath: $0] }
    }

    public init(values: [Double]) {
        precondition(values.count == Self.fields.count, "PreferenceMetricSums needs \(Self.fields.count) values")
        for (field, value) in zip(Self.fields, values) {
            self[keyPath: field] = value
        }
    }

    public static func += (lhs: inout PreferenceMetricSums, rhs: PreferenceMetricSums) {
        lhs = PreferenceMetricSums(values: zip(lhs.values, rhs.values).map(+))
    }

    /// Means under TRL's metric names, in TRL's order, then ours: `prefers_chosen`, the share of pairs whose chosen
    /// completion the policy finds more likely per token (informative before training, when every reward is zero).
    /// Empty when no pair was seen.
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
            ("entropy", chosenTokens + rejectedTokens > 0 ? entropySum / (chosenTokens + rejectedTokens) : 0),
            ("mean_token_accuracy", chosenTokens > 0 ? chosenCorrectTokens / chosenTokens : 0),
            ("prefers_chosen", chosenMoreLikely / pairs),
        ]
    }

    /// The names of `means`, in order, known before any pair is seen.
    public static let metricNames: [String] = {
        var sums = PreferenceMetricSums()
        sums.pairs = 1
        return sums.means.map(\.name)
    }()
}
