/// What the loss is averaged over: the global batch a micro-batch belongs to (or a whole evaluation set).
///
/// The loss of a step is the mean over the G pairs of the global batch; the `sft` term is a mean over its N chosen
/// tokens. Both counts belong to the global batch, which the trainer fixes before the step, so every rank and
/// micro-batch scales its share identically and the summed gradient does not depend on how the batch was split.
public struct LossNormalization: Sendable, Equatable {
    /// G: pairs in the global batch.
    public var pairs: Int
    /// N: completion tokens of all its chosen completions.
    public var chosenTokens: Int

    public init(pairs: Int, chosenTokens: Int) {
        self.pairs = pairs
        self.chosenTokens = chosenTokens
    }

    /// n̄ = N / G, the `sft` term's per-pair normalizer.
    public var meanChosenTokens: Double {
        Double(chosenTokens) / Double(max(1, pairs))
    }
}
