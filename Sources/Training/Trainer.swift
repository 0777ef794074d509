import Foundation
import Checkpoint
import PreferenceData
import DPO
import Kernels
import Model
import MPI

/// The DPO training loop: the one place where data, model, loss, optimizer, MPI and checkpoints meet.
///
/// Every rank holds the policy and the frozen reference, takes a disjoint shard of each global batch,
/// accumulates the gradient of the global mean loss over its micro-batches, and the flat gradient
/// buffers are summed across ranks with one all-reduce before clipping and AdamW. Rank 0 alone writes.
public final class Trainer {
    public let config: TrainingConfig
    let communicator: Communicator
    let parallel: Parallel
    let source: ModelSource
    let tokenizer: any Tokenizer
    let trainPairs: [TokenizedPair]
    let evalPairs: [TokenizedPair]
    let policy: any CausalLanguageModel
    /// The frozen reference model; nil when its log-probs were precomputed or the loss is reference-free.
    let referenceModel: (any CausalLanguageModel)?
    /// Reference log-probs of every pair computed before training (`precompute_ref_log_probs`).
    let precomputed: PrecomputedReference?
    let optimizer: AdamWState
    let dpo: DPOStep
    let plan: StepPlan
    let schedule: LearningRateSchedule
    let outputDir: URL
    /// Optimizer updates completed so far.
    private(set) var completedSteps = 0
    /// Non-padding tokens processed by all ranks since the run began (TRL's cumulative `num_tokens`).
    var tokensSeen = 0.0
    let say: (String) -> Void

    /// Loads and tokenizes the data and builds both models. `say` prints on rank 0 only.
    public init(config: TrainingConfig, communicator: Communicator, say: @escaping (String) -> Void) throws {
        self.config = config
        self.communicator = communicator
        self.say = communicator.rank == 0 ? say : { _ in }
        parallel = Parallel(threads: config.threads > 0 ? config.threads : Self.automaticThreads())
        outputDir = URL(fileURLWithPath: config.outputDir)

        let source = try ModelSource(config: config)
        self.source = source
        tokenizer = source.tokenizer
        let data = try TrainingData.load(config: config, tokenizer: tokenizer)
        trainPairs = data.train
        evalPairs = data.eval
        if data.droppedTrainPairs > 0 {
            self.say("dropped \(data.droppedTrainPairs) training pairs whose prompt alone fills max_length \(config.maxLength)")
        }

        let policy = try makeCausalLanguageModel(config: source.modelConfig, trainable: true, parallel: parallel)
        self.policy = policy
        try communicator.onRankZero { try source.initialize(policy, seed: config.seed) }
        // Every rank starts from rank 0's weights: only rank 0 needs to read the model folder.
        try communicator.broadcast(UnsafeMutableRawBufferPointer(policy.parameters), root: 0)
        dpo = DPOStep(loss: config.dpoLoss)
        let needsReference = !config.referenceFree
        if needsReference && config.precomputeRefLogProbs {
            precomputed = try PrecomputedReference.load(
                policy: policy, train: data.train, eval: data.eval, config: config, communicator: communicator,
                batch: { TrainingData.sequenceBatch($0, tokenizer: source.tokenizer, config: config) }, say: self.say)
            referenceModel = nil
        } else {
            precomputed = nil
            referenceModel = needsReference
                ? try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: parallel) : nil
            referenceModel?.copyParameters(from: policy)
        }
        optimizer = AdamWState(parameterCount: policy.parameterCount)

        plan = StepPlan(pairCount: trainPairs.count, config: config, ranks: communicator.size)
        let warmup = config.warmupSteps > 0
            ? config.warmupSteps : Int((config.warmupRatio * Double(plan.totalSteps)).rounded(.up))
        schedule = LearningRateSchedule(kind: config.lrSchedulerType, peak: config.learningRate,
                                        warmupSteps: warmup, totalSteps: plan.totalSteps)
    }

    /// Threads per rank when `threads` is 0: `OMP_NUM_THREADS` when the launcher set it (launch/local.sh,
    /// Slurm's cpus-per-task), else the cores of this node shared among the ranks on it.
    static func automaticThreads() -> Int {
        if let requested = ProcessInfo.processInfo.environment["OMP_NUM_THREADS"].flatMap(Int.init), requested > 0 {
            return requested
        }
        let localRanks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localRanks))
    }

    // MARK: Training

    /// Trains to the end of the plan (from the latest checkpoint when `resume`), saving and logging on the way.
    public func train(resume: Bool) throws -> TrainingReport {
        try prepareOutputDirectory(resume: resume)
        if resume {
            completedSteps = try restoreLatestCheckpoint()
            say("resumed from checkpoint-\(completedSteps) in \(outputDir.path)")
        }
        let log = communicator.rank == 0
            ? try MetricsLog(outputDir: outputDir, keepThroughStep: resume ? completedSteps : nil) : nil
        say("training \(policy.parameterCount) parameters on \(communicator.size) rank(s) × \(parallel.threads) thread(s): "
            + "\(trainPairs.count) pairs, global batch \(plan.globalBatchSize), \(plan.totalSteps) steps")

        let before = try evaluateSplits()
        var window = PreferenceMetricSums()
        var windowStart = Date()
        var lastSaved = completedSteps
        while completedSteps < plan.totalSteps {
            let (sums, gradNorm) = try runStep(completedSteps)
            window += sums
            completedSteps += 1
            let isLast = completedSteps == plan.totalSteps
            if completedSteps % config.loggingSteps == 0 || isLast {
                let record = try trainRecord(window, gradNorm: gradNorm, seconds: Date().timeIntervalSince(windowStart))
                try emit(record, to: log)
                window = PreferenceMetricSums()
                windowStart = Date()
            }
            if let every = config.evalSteps, !evalPairs.isEmpty, completedSteps % every == 0 || isLast {
                try emit(try evaluationRecord(), to: log)
            }
            if config.saveSteps > 0, completedSteps % config.saveSteps == 0 {
                try saveCheckpoint()
                lastSaved = completedSteps
            }
        }
        if lastSaved != completedSteps || completedSteps == 0 {
            try saveCheckpoint()
        }
        try saveFinalModel()
        let after = try evaluateSplits()
        return TrainingReport(steps: completedSteps, before: before, after: after)
    }

    /// One optimizer update: micro-batches of this rank's shard, the all-reduce (in buckets overlapping the last
    /// backward), clip, AdamW.
    /// Returns the step's (local) metric sums and the global gradient norm before clipping.
    func runStep(_ step: Int) throws -> (PreferenceMetricSums, Double) {
        let globalBatch = plan.globalBatch(step: step, seed: config.seed)
        let shard = rankShard(of: globalBatch, rank: communicator.rank, ranks: communicator.size)
        policy.zeroGradients()
        var sums = PreferenceMetricSums()
        let normalization = lossNormalization(globalBatch.map { trainPairs[$0] })
        let reducer = GradientReducer(communicator: communicator, gradients: policy.gradients,
                                      bucketCapMB: config.ddpBucketCapMB)
        let microBatches = chunks(Array(shard), size: config.perDeviceTrainBatchSize)
        for (index, microBatch) in microBatches.enumerated() {
            let pairs = microBatch.map { trainPairs[$0] }
            sums += dpo.run(policy: policy, reference: reference(for: microBatch, ofTrainingSet: true),
                            batch: sequenceBatch(pairs), normalization: normalization, train: true,
                            gradientsReady: index == microBatches.count - 1 ? reducer.gradientsReady : nil)
            sums.processedTokens += Double(pairs.map(\.tokenCount).reduce(0, +))
        }
        try reducer.finish()
        let gradNorm = sumOfSquares(policy.gradients.baseAddress!, count: policy.parameterCount).squareRoot()
        // The norm is of the all-reduced gradient, so every rank stops here together.
        guard gradNorm.isFinite else {
            throw ConfigError("step \(step + 1): the gradient is not finite (NaN or infinity); lower `learning_rate` or "
                + "`max_grad_norm`, or check the data — no update was applied, the last checkpoint is intact")
        }
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
        if config.maxGradNorm > 0 {
            let coefficient = config.maxGradNorm / (gradNorm + 1e-6)
            if coefficient < 1 {
                scale(policy.gradients.baseAddress!, count: policy.parameterCount, by: Float(coefficient))
            }
        }
        optimizer.update(policy, step: step + 1, learningRate: schedule.rate(at: step), config: config, parallel: parallel)
        if config.syncRefModel, let referenceModel, (step + 1) % config.refModelSyncSteps == 0 {
            mixReference(referenceModel, towards: policy, alpha: Float(config.refModelMixupAlpha))
        }
        return (sums, gradNorm)
    }

    /// The reference log-probs of a micro-batch: the frozen model, or the precomputed values of its pairs
    /// (chosen rows first, then rejected rows, as in the batch).
    func reference(for pairIndices: ArraySlice<Int>, ofTrainingSet: Bool) -> DPOStep.Reference {
        guard let precomputed else {
            // A reference-free loss never reads it; any model will do.
            return .model(referenceModel ?? policy)
        }
        let table = ofTrainingSet ? precomputed.train : precomputed.eval
        return .precomputed(pairIndices.map { table[2 * $0] } + pairIndices.map { table[2 * $0 + 1] })
    }

    /// The loss of a step (or an evaluation) is averaged over all of `pairs`, on every rank.
    func lossNormalization(_ pairs: [TokenizedPair]) -> LossNormalization {
        LossNormalization(pairs: pairs.count, chosenTokens: pairs.reduce(0) { $0 + $1.chosen.count })
    }

    /// Chosen rows then rejected rows of the pairs, right-padded, as the model takes them.
    func sequenceBatch(_ pairs: [TokenizedPair]) -> SequenceBatch {
        TrainingData.sequenceBatch(pairs, tokenizer: tokenizer, config: config)
    }

    // MARK: Metrics

    private func trainRecord(_ window: PreferenceMetricSums, gradNorm: Double, seconds: Double) throws -> MetricsRecord {
        let global = try allReduced(window)
        var record = MetricsRecord(global.means)
        record.fields.append(("grad_norm", gradNorm))
        // As transformers 5 logs it: the rate this step's update used.
        record.fields.append(("learning_rate", schedule.rate(at: completedSteps - 1)))
        record.fields.append(("epoch", Double(completedSteps) / Double(plan.stepsPerEpoch)))
        tokensSeen += global.processedTokens
        record.fields.append(("num_tokens", tokensSeen))
        record.fields.append(("train_tokens_per_second", global.processedTokens / max(seconds, 1e-9)))
        record.fields.insert(("step", Double(completedSteps)), at: 0)
        return record
    }

    private func evaluationRecord() throws -> MetricsRecord {
        let sums = try evaluate(trainingSet: false)
        var record = MetricsRecord(sums.means.map { ("eval_" + $0.name, $0.value) })
        record.fields.insert(("step", Double(completedSteps)), at: 0)
        record.fields.append(("epoch", Double(completedSteps) / Double(plan.stepsPerEpoch)))
        return record
    }

    private func emit(_ record: MetricsRecord, to log: MetricsLog?) throws {
        try log?.write(record)
        say(consoleLine(record, totalSteps: plan.totalSteps))
    }

    private func allReduced(_ sums: PreferenceMetricSums) throws -> PreferenceMetricSums {
        guard communicator.size > 1 else { return sums }
        var values = sums.values
        try values.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        return PreferenceMetricSums(values: values)
    }

    /// Metric sums of the policy against the reference on the training or the evaluation pairs, sharded over all
    /// ranks and summed.
    func evaluate(trainingSet isTrainingSet: Bool) throws -> PreferenceMetricSums {
        let pairs = isTrainingSet ? trainPairs : evalPairs
        var sums = PreferenceMetricSums()
        let shard = rankShard(of: Array(pairs.indices), rank: communicator.rank, ranks: communicator.size)
        let normalization = lossNormalization(pairs)
        for microBatch in chunks(Array(shard), size: config.perDeviceEvalBatchSize) {
            sums += dpo.run(policy: policy, reference: reference(for: microBatch, ofTrainingSet: isTrainingSet),
                            batch: sequenceBatch(microBatch.map { pairs[$0] }), normalization: normalization, train: false)
        }
        return try allReduced(sums)
    }

    private func evaluateSplits() throws -> SplitMetrics {
        SplitMetrics(train: try evaluate(trainingSet: true), heldOut: evalPairs.isEmpty ? nil : try evaluate(trainingSet: false))
    }

    // MARK: Output

    /// Creates `output_dir`. A fresh run refuses a folder that holds an earlier run's checkpoints — a later
    /// `--resume` would pick those up — unless `overwrite_output_dir` says to delete them.
    private func prepareOutputDirectory(resume: Bool) throws {
        try communicator.onRankZero {
            do {
                try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
            } catch {
                throw ConfigError("`output_dir` \(outputDir.path): cannot create it: \(error.localizedDescription)")
            }
            guard !resume else { return }
            let earlier = try CheckpointDirectory(outputDir: outputDir).all()
            guard let newest = earlier.last else { return }
            guard config.overwriteOutputDir else {
                throw ConfigError("`output_dir` \(outputDir.path) already holds checkpoint-\(newest.step) of an earlier run: "
                    + "continue it with --resume, choose another output_dir, or set overwrite_output_dir: true to delete it")
            }
            for checkpoint in earlier {
                try FileManager.default.removeItem(at: checkpoint.url)
            }
        }
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

/// Which pairs make each global batch, and how many steps the run has.
///
/// Each epoch visits the pairs in a fresh seeded permutation; step k of an epoch takes positions
/// k·G ..< (k+1)·G of it (the last batch of an epoch may be smaller). The plan depends only on the data,
/// the seed and the global batch size G = per-device batch × ranks × accumulation steps, so runs with
/// different rank counts but the same G see the same batches.
struct StepPlan {
    let pairCount: Int
    let globalBatchSize: Int
    let stepsPerEpoch: Int
    let totalSteps: Int

    init(pairCount: Int, config: TrainingConfig, ranks: Int) {
        self.pairCount = pairCount
        globalBatchSize = config.perDeviceTrainBatchSize * ranks * config.gradientAccumulationSteps
        stepsPerEpoch = (pairCount + globalBatchSize - 1) / globalBatchSize
        totalSteps = config.maxSteps > 0
            ? config.maxSteps : Int((config.numTrainEpochs * Double(stepsPerEpoch)).rounded(.up))
    }

    func globalBatch(step: Int, seed: Int) -> [Int] {
        let epoch = step / stepsPerEpoch
        let order = EpochOrder.permutation(count: pairCount, seed: UInt64(seed), epoch: epoch)
        let start = (step % stepsPerEpoch) * globalBatchSize
        return Array(order[start..<min(start + globalBatchSize, pairCount)])
    }
}

extension TokenizedPair {
    /// Tokens of both rows of the pair (the prompt is processed twice: once before each completion).
    var tokenCount: Int { 2 * prompt.count + chosen.count + rejected.count }
}

/// Consecutive pieces of at most `size` elements.
func chunks<T>(_ items: [T], size: Int) -> [ArraySlice<T>] {
    stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
}

public struct SplitMetrics: Sendable {
    public var train: PreferenceMetricSums
    public var heldOut: PreferenceMetricSums?
}

/// What a finished run reports: metrics on the train and held-out pairs before and after training.
public struct TrainingReport: Sendable {
    public var steps: Int
    public var before: SplitMetrics
    public var after: SplitMetrics
}
