import Model
import PreferenceData

/// Supervised fine-tuning on prompt/completion data (TRL's `SFTTrainer` with its default completion-only loss): the
/// negative log-likelihood of the completion tokens, averaged over every completion token of the step — as
/// transformers does with `num_items_in_batch` across accumulation steps and devices — so the gradient is the same
/// whatever the split into micro-batches and ranks.
final class SFTTask: TrainingTask {
    let padTokenID: Int32
    let policy: any CausalLanguageModel
    /// Each example's prompt+completion row, already cut to `max_length`.
    let trainExamples: [PreferenceRow]
    let evalExamples: [PreferenceRow]

    init(padTokenID: Int32, policy: any CausalLanguageModel, data: TrainingData<PreferenceRow>) {
        self.padTokenID = padTokenID
        self.policy = policy
        trainExamples = data.train
        evalExamples = data.eval
    }

    let metricNames = ["loss", "entropy", "mean_token_accuracy"]
    let summaryMetrics: [(name: String, format: String)] = [("loss", ".4f"), ("mean_token_accuracy", ".3f")]
    var trainCount: Int { trainExamples.count }
    var evalCount: Int { evalExamples.count }

    func runMicroBatch(_ indices: [Int], of step: [[Int]], evaluation: Bool, train: Bool,
                       gradientsReady: ((Range<Int>) -> Void)?) -> MicroBatchMetrics {
        let set = evaluation ? evalExamples : trainExamples
        let examples = indices.map { set[$0] }
        let batch = SequenceBatch(completions: examples, padTokenID: padTokenID)
        let scores = policy.score(batch, training: train)
        let tokens = Double(scores.tokenCounts.reduce(0, +))
        if train {
            // d(−Σ log p / N_step)/d(log-prob sum of a sequence) = −1/N_step for every sequence.
            let stepTokens = step.joined().reduce(0) { $0 + set[$1].scoredTokens }
            policy.backward(dLogProbSums: [Float](repeating: -1 / Float(max(1, stepTokens)), count: batch.count),
                            gradientsReady: gradientsReady)
        }
        let denominator = max(1, tokens)
        return MicroBatchMetrics(
            means: [-Double(scores.logProbSums.reduce(0, +)) / denominator,
                    scores.entropySums.reduce(0, +) / denominator,
                    Double(scores.correctTokenCounts.reduce(0, +)) / denominator],
            processedTokens: Double(examples.reduce(0) { $0 + $1.tokens.count }))
    }

    func didUpdate(step: Int) {}
    let checkpointBuffers: [(file: String, buffer: UnsafeMutableBufferPointer<Float>)] = []
}
