import Model
import PreferenceData
import ChatTemplate
import Tokenizers

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

    let metricNames = CompletionMetricSums.metricNames
    let summaryMetrics: [(name: String, format: String)] = [("loss", ".4f"), ("mean_token_accuracy", ".3f")]
    var trainCount: Int { trainExamples.count }
    var evalCount: Int { evalExamples.count }

    struct StepTotals {
        /// N: the scored completion tokens of every example of the step.
        var completionTokens: Int
    }

    func totals(ofStep microBatches: [[Int]]) -> StepTotals {
        StepTotals(completionTokens: microBatches.joined().reduce(0) { $0 + trainExamples[$1].scoredTokens })
    }

    func runMicroBatch(_ indices: [Int], _ run: MicroBatchRun<StepTotals>) -> MicroBatchMetrics {
        let examples = indices.map { (run.split == .train ? trainExamples : evalExamples)[$0] }
        let batch = SequenceBatch(completions: examples, padTokenID: padTokenID)
        let scores = policy.score(batch, training: run.totals != nil)
        if let totals = run.totals {
            // d(−Σ log p / N)/d(log-prob sum of a sequence) = −1/N for every sequence.
            policy.backward(dLogProbSums: [Float](repeating: -1 / Float(max(1, totals.completionTokens)), count: batch.count),
                            gradientsReady: run.gradientsReady)
        }
        let sums = CompletionMetricSums(negativeLogLikelihood: -Double(scores.logProbSums.reduce(0, +)),
                                        entropy: scores.entropySums.reduce(0, +),
                                        correctTokens: Double(scores.correctTokenCounts.reduce(0, +)),
                                        tokens: Double(scores.tokenCounts.reduce(0, +)))
        return MicroBatchMetrics(means: sums.means, processedTokens: Double(examples.reduce(0) { $0 + $1.tokens.count }))
    }

    func didUpdate(step: Int) {}
    let checkpointBuffers: [CheckpointBuffer] = []
}

/// Sums behind SFT's metrics over the scored completion tokens of a micro-batch, under TRL's `SFTTrainer` names.
struct CompletionMetricSums {
    var negativeLogLikelihood: Double
    var entropy: Double
    /// Positions whose token is the policy's argmax.
    var correctTokens: Double
    var tokens: Double

    /// Means per scored token (a micro-batch that scores none counts as one token).
    var means: [(name: String, value: Double)] {
        let denominator = max(1, tokens)
        return [("loss", negativeLogLikelihood / denominator), ("entropy", entropy / denominator),
                ("mean_token_accuracy", correctTokens / denominator)]
    }

    /// The names of `means`, in order.
    static let metricNames = CompletionMetricSums(negativeLogLikelihood: 0, entropy: 0, correctTokens: 0, tokens: 0)
        .means.map(\.name)
}
