import DPO
import Kernels
import Model
import MPI
import PreferenceData
import Tokenizers

/// DPO on preference pairs: the policy against a frozen (or TR-DPO-synced, or precomputed) reference.
final class DPOTask: TrainingTask {
    let config: TrainingConfig
    let tokenizer: any Tokenizer
    let policy: any CausalLanguageModel
    let trainPairs: [TokenizedPair]
    let evalPairs: [TokenizedPair]
    /// The frozen reference model; nil when its log-probs were precomputed or the loss is reference-free.
    let referenceModel: (any CausalLanguageModel)?
    /// Reference log-probs of every pair computed before training (`precompute_ref_log_probs`).
    let precomputed: PrecomputedReference?
    let step: DPOStep

    /// Builds the reference from the policy's initial weights (or precomputes its log-probs over all ranks).
    init(config: TrainingConfig, source: ModelSource, policy: any CausalLanguageModel, data: TrainingData,
         communicator: Communicator, parallel: Parallel, say: (String) -> Void) throws {
        self.config = config
        tokenizer = source.tokenizer
        self.policy = policy
        trainPairs = data.train
        evalPairs = data.eval
        step = DPOStep(loss: config.dpoLoss)
        let needsReference = !config.referenceFree
        if needsReference && config.precomputeRefLogProbs {
            let tokenizer = source.tokenizer
            precomputed = try PrecomputedReference.load(
                policy: policy, train: data.train, eval: data.eval, config: config, communicator: communicator,
                batch: { TrainingData.sequenceBatch($0, tokenizer: tokenizer, config: config) }, say: say)
            referenceModel = nil
        } else {
            precomputed = nil
            referenceModel = needsReference
                ? try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: parallel) : nil
            referenceModel?.copyParameters(from: policy)
        }
    }

    let metricNames = MetricWindow.preferenceNames
    let summaryMetrics: [(name: String, format: String)] = [
        ("prefers_chosen", ".3f"), ("rewards/accuracies", ".3f"), ("rewards/margins", ".4f"), ("loss", ".4f"),
    ]
    var trainCount: Int { trainPairs.count }
    var evalCount: Int { evalPairs.count }

    func runMicroBatch(_ indices: [Int], of step: [[Int]], evaluation: Bool, train: Bool,
                       gradientsReady: ((Range<Int>) -> Void)?) -> MicroBatchMetrics {
        let set = evaluation ? evalPairs : trainPairs
        let pairs = indices.map { set[$0] }
        let sums = self.step.run(
            policy: policy, reference: reference(for: indices, evaluation: evaluation),
            batch: TrainingData.sequenceBatch(pairs, tokenizer: tokenizer, config: config),
            normalization: normalization(pairs, microBatchesInStep: step.count), train: train,
            gradientsReady: gradientsReady)
        var means = sums.means.map(\.value)
        means.append(sums.chosenMoreLikely / sums.pairs)
        return MicroBatchMetrics(means: means, processedTokens: Double(TrainingData.tokenCount(pairs, config: config)))
    }

    /// TRL's weighting: each micro-batch's mean loss counts 1/M among the M micro-batches of its step (with the
    /// `sft` term averaged over the micro-batch's chosen tokens). Fixed by the step, not by the rank layout.
    func normalization(_ pairs: [TokenizedPair], microBatchesInStep: Int) -> LossNormalization {
        LossNormalization(pairs: microBatchesInStep * pairs.count,
                          chosenTokens: microBatchesInStep * TrainingData.scoredChosenTokens(pairs, config: config))
    }

    /// The reference log-probs of a micro-batch: the frozen model, or the precomputed values of its pairs
    /// (chosen rows first, then rejected rows, as in the batch).
    func reference(for pairIndices: [Int], evaluation: Bool) -> DPOStep.Reference {
        guard let precomputed else {
            // A reference-free loss never reads it; any model will do.
            return .model(referenceModel ?? policy)
        }
        let table = evaluation ? precomputed.eval : precomputed.train
        return .precomputed(pairIndices.map { table[2 * $0] } + pairIndices.map { table[2 * $0 + 1] })
    }

    func didUpdate(step: Int) {
        if config.syncRefModel, let referenceModel, step % config.refModelSyncSteps == 0 {
            mixReference(referenceModel, towards: policy, alpha: Float(config.refModelMixupAlpha))
        }
    }

    var checkpointBuffers: [(file: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        guard config.syncRefModel, let referenceModel else { return [] }
        return [("reference.safetensors", referenceModel.parameters)]
    }
}

/// TR-DPO's soft update of the reference (Gorbatovski et al. 2024; TRL's `sync_ref_model`):
/// π_ref ← α·π_θ + (1 − α)·π_ref, over the flat parameter buffers.
func mixReference(_ reference: any CausalLanguageModel, towards policy: any CausalLanguageModel, alpha: Float) {
    let target = reference.parameters, current = policy.parameters
    for index in target.indices {
        target[index] = alpha * current[index] + (1 - alpha) * target[index]
    }
}
