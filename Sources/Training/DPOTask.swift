import Distributed
import DPO
import Kernels
import Model
import MPI
import PreferenceData
import Tokenizers

/// DPO on preference pairs: the policy against a frozen (or TR-DPO-synced, or precomputed) reference.
final class DPOTask: TrainingTask {
    let config: TrainingConfig
    let padTokenID: Int32
    let policy: any CausalLanguageModel
    /// Each pair's two rows, already cut to `max_length`.
    let trainPairs: [PreferenceRows]
    let evalPairs: [PreferenceRows]
    /// The frozen reference model; nil when its log-probs were precomputed, the loss is reference-free or the policy
    /// has LoRA adapters (the reference is then the policy with its adapters off or frozen).
    let referenceModel: (any CausalLanguageModel)?
    /// The node-shared memory the reference's parameters live in (`share_reference` with several ranks on the node).
    let sharedReference: NodeSharedBuffer?
    /// Reference log-probs of every pair computed before training (`precompute_ref_log_probs`).
    let precomputed: PrecomputedReference?
    let dpoStep: DPOStep

    /// Builds the reference from the policy's initial weights (or precomputes its log-probs over all ranks). With
    /// `share_reference` and several ranks on a node, the node holds one copy in shared memory, written by its leader.
    init(config: TrainingConfig, source: ModelSource, policy: any CausalLanguageModel, data: TrainingData<PreferenceRows>,
         communicator: Communicator, topology: NodeTopology?, parallel: Parallel, say: (String) -> Void) throws {
        self.config = config
        let padTokenID = source.tokenizer.padTokenID
        self.padTokenID = padTokenID
        self.policy = policy
        trainPairs = data.train
        evalPairs = data.eval
        dpoStep = DPOStep(loss: config.dpoLoss)
        let needsReference = !config.referenceFree
        // With LoRA the reference is the policy itself with its adapters off (or frozen): no model of its own.
        let needsReferenceModel = needsReference && policy.adapters == nil
        if needsReference && config.precomputeRefLogProbs {
            precomputed = try PrecomputedReference.load(
                policy: policy, train: data.train, eval: data.eval, config: config, communicator: communicator,
                batch: { SequenceBatch(pairs: $0, padTokenID: padTokenID) }, say: say)
            referenceModel = nil
            sharedReference = nil
        } else if needsReferenceModel, config.shareReference, let topology, topology.node.size > 1 {
            precomputed = nil
            let shared = try NodeSharedBuffer(count: policy.parameterCount, topology: topology)
            try shared.writeOnNodeLeader { $0.baseAddress!.update(from: policy.parameters.baseAddress!, count: $0.count) }
            referenceModel = try makeCausalLanguageModel(config: source.modelConfig, sharedParameters: shared.floats,
                                                         owner: shared, parallel: parallel)
            sharedReference = shared
            say("reference model: one copy per node in shared memory (\(topology.node.size) ranks on rank 0's node)")
        } else {
            precomputed = nil
            referenceModel = needsReferenceModel
                ? try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: parallel) : nil
            referenceModel?.copyParameters(from: policy)
            sharedReference = nil
        }
    }

    let metricNames = PreferenceMetricSums.metricNames
    let summaryMetrics: [(name: String, format: String)] = [
        ("prefers_chosen", ".3f"), ("rewards/accuracies", ".3f"), ("rewards/margins", ".4f"), ("loss", ".4f"),
    ]
    var trainCount: Int { trainPairs.count }
    var evalCount: Int { evalPairs.count }

    /// TRL's weighting: each micro-batch's mean loss counts 1/M among the M micro-batches of its step, with the `sft`
    /// term averaged over the micro-batch's own chosen tokens. Fixed by the step, not by the rank layout.
    struct StepTotals {
        /// M.
        var microBatches: Int
    }

    func totals(ofStep microBatches: [[Int]]) -> StepTotals {
        StepTotals(microBatches: microBatches.count)
    }

    func runMicroBatch(_ indices: [Int], _ run: MicroBatchRun<StepTotals>) -> MicroBatchMetrics {
        let pairs = indices.map { (run.split == .train ? trainPairs : evalPairs)[$0] }
        // An evaluation accumulates no gradient, so its weight does not matter (the `sft` term's mean is the same).
        let normalization = normalization(pairs, microBatchesInStep: run.totals?.microBatches ?? 1)
        let sums = dpoStep.run(policy: policy, reference: reference(for: indices, of: run.split),
                               batch: SequenceBatch(pairs: pairs, padTokenID: padTokenID), normalization: normalization,
                               train: run.totals != nil, gradientsReady: run.gradientsReady)
        return MicroBatchMetrics(means: sums.means, processedTokens: Double(pairs.reduce(0) { $0 + $1.tokenCount }))
    }

    func normalization(_ pairs: [PreferenceRows], microBatchesInStep: Int) -> LossNormalization {
        LossNormalization(pairs: microBatchesInStep * pairs.count,
                          chosenTokens: microBatchesInStep * pairs.reduce(0) { $0 + $1.chosen.scoredTokens })
    }

    /// The reference log-probs of a micro-batch: the frozen model, or the precomputed values of its pairs
    /// (chosen rows first, then rejected rows, as in the batch).
    func reference(for pairIndices: [Int], of split: DataSplit) -> DPOStep.Reference {
        guard let precomputed else {
            if referenceModel == nil, let adapters = policy.adapters { return .policyAdapters(adapters.referenceSelection) }
            // A reference-free loss never reads it; any model will do.
            return .model(referenceModel ?? policy)
        }
        let table = split == .train ? precomputed.train : precomputed.eval
        return .precomputed(pairIndices.map { table[2 * $0] } + pairIndices.map { table[2 * $0 + 1] })
    }

    /// TR-DPO's sync; a node-shared reference is mixed by the node leader alone, between node barriers — the policy is
    /// the same on every rank, so that is what every rank would have computed.
    func didUpdate(step: Int) throws {
        guard config.syncRefModel, let referenceModel, step % config.refModelSyncSteps == 0 else { return }
        let mix = { mixReference(referenceModel, towards: self.policy, alpha: Float(self.config.refModelMixupAlpha)) }
        if let sharedReference {
            try sharedReference.writeOnNodeLeader { _ in mix() }
        } else {
            mix()
        }
    }

    var checkpointBuffers: [CheckpointBuffer] {
        guard config.syncRefModel, let referenceModel else { return [] }
        return [CheckpointBuffer(file: "reference.safetensors", buffer: referenceModel.parameters, nodeShared: sharedReference)]
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
