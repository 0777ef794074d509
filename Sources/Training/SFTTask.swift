import Model
import PreferenceData
import ChatTemplate
import Tokenizers

/// Supervised fine-tuning on prompt/completion data (TRL's `SFTTrainer` with its default completion-only loss): the
/// negative log-likelihood of the completion tokens, averaged over every completion token of the step — as
/// transformers does with `num_items_in_batch` across accumulation steps and devices — so the gradient is the same
/// whatever the split into micro-batches and ranks.
final class SFTTask: TrainingTask {
    let config: TrainingConfig
    let tokenizer: any Tokenizer
    let policy: any CausalLanguageModel
    /// Each example as a pair whose chosen completion is the SFT target (`PreferenceDataset.loadCompletions`).
    let trainExamples: [TokenizedPair]
    let evalExamples: [TokenizedPair]

    init(config: TrainingConfig, source: ModelSource, policy: any CausalLanguageModel,
         chatTemplate: @escaping () throws -> ChatTemplate, say: (String) -> Void) throws {
        self.config = config
        tokenizer = source.tokenizer
        self.policy = policy
        let data = try TrainingData.load(config: config, tokenizer: source.tokenizer, chatTemplate: chatTemplate,
                                         completions: true)
        if data.droppedTrainPairs > 0 {
            say("dropped \(data.droppedTrainPairs) examples whose prompt alone fills max_length \(config.maxLength)")
        }
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
        let batch = completionBatch(examples)
        let scores = policy.score(batch, training: train)
        let tokens = Double(scores.tokenCounts.reduce(0, +))
        if train {
            // d(−Σ log p / N_step)/d(log-prob sum of a sequence) = −1/N_step for every sequence.
            let stepTokens = step.joined().reduce(0) { $0 + scoredTokens(set[$1]) }
            policy.backward(dLogProbSums: [Float](repeating: -1 / Float(max(1, stepTokens)), count: batch.count),
                            gradientsReady: gradientsReady)
        }
        let denominator = max(1, tokens)
        return MicroBatchMetrics(
            means: [-Double(scores.logProbSums.reduce(0, +)) / denominator,
                    scores.entropySums.reduce(0, +) / denominator,
                    Double(scores.correctTokenCounts.reduce(0, +)) / denominator],
            processedTokens: Double(examples.reduce(0) { $0 + $1.rows(maxLength: config.maxLength,
                                                                       truncationMode: config.truncationMode).chosen.tokens.count }))
    }

    /// The prompt+completion rows of the examples, cut to `max_length` and right-padded (the chosen half of the
    /// preference layout).
    func completionBatch(_ examples: [TokenizedPair]) -> SequenceBatch {
        let pairs = TrainingData.sequenceBatch(examples, tokenizer: tokenizer, config: config)
        let rows = examples.count * pairs.length
        return SequenceBatch(count: examples.count, length: pairs.length,
                             tokens: Array(pairs.tokens[..<rows]), scoreMask: Array(pairs.scoreMask[..<rows]))
    }

    private func scoredTokens(_ example: TokenizedPair) -> Int {
        TrainingData.scoredChosenTokens([example], config: config)
    }

    func didUpdate(step: Int) {}
    let checkpointBuffers: [(file: String, buffer: UnsafeMutableBufferPointer<Float>)] = []
}
