import Foundation
import Checkpoint
import Distributed
import PreferenceData
import DPO
import Kernels
import Model
import MPI
import Optimization

/// The training loop: the one place where data, model, loss, optimizer, MPI and checkpoints meet.
///
/// Every rank holds the policy (and for DPO the reference) and runs its share of the micro-batches of each global
/// batch through `TrainingStep`, which sums the flat gradient buffers across ranks before clipping and AdamW; with
/// `zero_stage` 1 or 2 each rank keeps the AdamW moments (and at 2 the gradients) of its own shard only.
/// What is trained — DPO on pairs or SFT on completions — is the `TrainingTask`. Rank 0 alone writes.
public final class Trainer {
    /// The post-training stage a run performs.
    public enum Objective: Sendable {
        case dpo, sft
    }

    public let config: TrainingConfig
    let communicator: Communicator
    let parallel: Parallel
    let source: ModelSource
    let policy: any CausalLanguageModel
    let task: any TrainingTask
    let optimizer: AdamW
    /// Which shard of the optimizer state (and gradients) each rank keeps.
    let zero: ZeroSharding
    let trainingStep: TrainingStep
    let plan: StepPlan
    let schedule: LearningRateSchedule
    let outputDir: URL
    /// Rank 0's lock on `output_dir`, held while the trainer lives.
    private var outputLock: OutputDirectoryLock?
    /// Optimizer updates completed so far.
    private(set) var completedSteps = 0
    /// What a checkpoint must match to be resumed: the data's and the starting weights' fingerprints (the latter on
    /// rank 0 only, which alone writes and checks trainer_state.json).
    private(set) var dataFingerprint = ""
    private(set) var initialWeightsFingerprint = ""
    /// Changed settings of every resume so far (`TrainerState.resumeChanges`).
    var resumeChanges: [String] = []
    /// Ends the job when a phase that waits on other ranks outlives `ddp_timeout`.
    let watchdog: Watchdog
    /// When this process's training loop began, and the step it began at (for the console's elapsed time and ETA).
    private var trainingStart = Date()
    private var firstStepThisRun = 0
    /// Updates skipped for a non-finite gradient (`nonfinite_policy: skip`), logged as `skipped_steps`.
    private(set) var skippedSteps = 0
    /// Non-padding tokens processed by all ranks since the run began (TRL's cumulative `num_tokens`).
    var tokensSeen = 0.0
    let say: (String) -> Void

    /// Loads and tokenizes the data and builds the models. `say` prints on rank 0 only.
    public init(objective: Objective = .dpo, config: TrainingConfig, communicator: Communicator,
                say: @escaping (String) -> Void) throws {
        // Before the thread pool starts, so every thread inherits the unblocked mask.
        StopSignals.install()
        self.config = config
        self.communicator = communicator
        let say = communicator.rank == 0 ? say : { _ in }
        self.say = say
        let precision = MatmulPrecision.resolve(bf16: config.bf16)
        let parallel = Parallel(threads: config.threads > 0 ? config.threads : Self.automaticThreads(),
                                matmulPrecision: precision.precision)
        self.parallel = parallel
        if let message = precision.message { say(message) }
        outputDir = URL(fileURLWithPath: config.outputDir)
        watchdog = Watchdog(timeout: communicator.size > 1 ? config.ddpTimeout : 0, rank: communicator.rank)

        // Which ranks share a node: for the node-shared reference and the hierarchical gradient sum.
        let topology = communicator.size > 1 ? try NodeTopology(world: communicator) : nil
        // Inputs are read by every rank; a failure on any rank (a file missing on one node) ends them all alike.
        let source = try communicator.onEveryRank { try ModelSource(config: config) }
        self.source = source
        let chatTemplate = { try source.chatTemplate(named: config.chatTemplate) }
        let lora = source.loraConfig(config)
        // With LoRA the base gets no gradient buffer: only the adapters train.
        let policy = try makeCausalLanguageModel(config: source.modelConfig, trainable: lora == nil, parallel: parallel)
        policy.gradientCheckpointing = config.gradientCheckpointing
        self.policy = policy
        // Before the first collective that depends on them (the weights' broadcast has the model's size).
        try communicator.checkAgreement([
            ("the resolved config", Fingerprint.of("\(config)")),
            ("the model (config.json and parameter count)", Fingerprint.of("\(source.modelConfig) \(policy.parameterCount)")),
        ])
        try source.load(into: policy, seed: config.seed, communicator: communicator)
        // Only rank 0 writes and checks trainer_state.json, so only it hashes the starting weights.
        let isRankZero = communicator.rank == 0
        initialWeightsFingerprint = isRankZero ? Fingerprint.of(policy.parameters) : ""
        if let lora {
            let adapters = try Self.attachAdapters(lora, to: policy, objective: objective, source: source, config: config,
                                                   communicator: communicator, say: say)
            // A run starts from its base and its adapters.
            if isRankZero {
                initialWeightsFingerprint = Fingerprint.of(initialWeightsFingerprint + " " + Fingerprint.of(adapters.parameters))
            }
        }

        func sayDropped(_ count: Int, _ examples: String) {
            if count > 0 {
                say("dropped \(count) \(examples) whose prompt alone fills max_length \(config.maxLength)")
            }
        }
        switch objective {
        case .dpo:
            let data = try communicator.onEveryRank {
                try TrainingData.pairs(config: config, tokenizer: source.tokenizer, chatTemplate: chatTemplate)
            }
            dataFingerprint = data.fingerprint { [$0.chosen, $0.rejected] }
            try communicator.checkAgreement([("the data (every token id)", dataFingerprint)])
            sayDropped(data.droppedTrainExamples, "training pairs")
            task = try DPOTask(config: config, source: source, policy: policy, data: data,
                               communicator: communicator, topology: topology, parallel: parallel, say: say)
        case .sft:
            let data = try communicator.onEveryRank {
                try TrainingData.completions(config: config, tokenizer: source.tokenizer, chatTemplate: chatTemplate)
            }
            dataFingerprint = data.fingerprint { [$0] }
            try communicator.checkAgreement([("the data (every token id)", dataFingerprint)])
            sayDropped(data.droppedTrainExamples, "examples")
            task = SFTTask(padTokenID: source.tokenizer.padTokenID, policy: policy, data: data)
        }
        let trainable = policy.trainableParameters
        let zero = ZeroSharding(config.zeroStage, parameterCount: trainable.count, rank: communicator.rank,
                                ranks: communicator.size)
        self.zero = zero
        optimizer = AdamW(for: trainable, settings: config.adamW, range: zero.ownedRange)
        // The two-level sum is an all-reduce, which leaves ZeRO-1's shards summed too; ZeRO-2 must reduce-scatter.
        let hierarchical = try topology.flatMap {
            zero.stage != .gradients && config.gradientAllreduce.isHierarchical(on: $0)
                ? try HierarchicalAllReduce(topology: $0) : nil
        }
        let gradientSum: TrainingStep.GradientSum = if let hierarchical {
            .hierarchical(hierarchical)
        } else if config.ddpBucketCapMB > 0 {
            .overlapped(communicator, bucketCapMB: config.ddpBucketCapMB, testsWhileComputing: true)
        } else {
            .blocking(communicator)
        }
        trainingStep = TrainingStep(trainable: trainable, optimizer: optimizer, gradientSum: gradientSum, zero: zero,
                                    maxGradNorm: config.maxGradNorm, parallel: parallel)
        if let topology {
            let flat = zero.stage == .replicated ? "flat (one all-reduce over all ranks)"
                : "flat (a reduce-scatter over all ranks into their shards, zero_stage \(zero.stage.rawValue))"
            say("\(communicator.size) ranks on \(topology.nodeCount) node(s); gradient sum: "
                + (hierarchical == nil ? flat
                    : "hierarchical (shared memory within a node, then among the \(topology.nodeCount) node leaders)"))
        }

        plan = StepPlan(pairCount: task.trainCount, config: config, ranks: communicator.size)
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

    /// Trains to the end of the plan (from the latest checkpoint when `resume`), saving and logging on the way, or
    /// until a stop signal (`StopSignals`): then every rank stops at the same step boundary with a checkpoint.
    public func train(resume: Bool) throws -> TrainingOutcome {
        try prepareOutputDirectory(resume: resume)
        try communicator.runOnRankZero { try startRunFiles() }
        if resume {
            completedSteps = try restoreLatestCheckpoint()
            say("resumed from checkpoint-\(completedSteps) in \(outputDir.path)")
        }
        let log = communicator.rank == 0
            ? try MetricsLog(outputDir: outputDir, keepThroughStep: resume ? completedSteps : nil, reportTo: config.reportTo)
            : nil
        say("training \(trainingStep.trainable.count) parameters on \(communicator.size) rank(s) × \(parallel.threads) thread(s)"
            + (zero.stage == .replicated ? "" : " with zero_stage \(zero.stage.rawValue)")
            + ": \(task.trainCount) examples, global batch \(plan.globalBatchSize), \(plan.totalSteps) steps")
        say("learning_rate \(config.learningRate) (\(config.lrSchedulerType.rawValue)), beta \(config.beta), loss_type "
            + config.lossTypes.map(\.rawValue).joined(separator: ",") + "; every setting is in "
            + outputDir.appendingPathComponent(ConfigLoader.resolvedFileName).path)

        let before = try watchdog.guarding("the evaluation before training") { try evaluateSplits() }
        trainingStart = Date()
        firstStepThisRun = completedSteps
        var window = MetricWindow(names: task.metricNames)
        var windowStart = Date()
        var lastSaved = completedSteps
        while completedSteps < plan.totalSteps {
            let request = try watchdog.guarding("step \(completedSteps + 1): agreeing whether to stop") {
                try communicator.stopRequest()
            }
            if let request {
                // A fresh run stopped before its first update saves checkpoint-0, so there is always one to resume.
                if lastSaved != completedSteps || (!resume && completedSteps == 0) {
                    try watchdog.guarding("step \(completedSteps): saving a checkpoint") { try saveCheckpoint() }
                }
                return .stopped(step: completedSteps, totalSteps: plan.totalSteps, signal: request.signal, ranks: request.ranks,
                                outputDir: outputDir.path)
            }
            let gradNorm = try watchdog.guarding("step \(completedSteps + 1): forward, backward and gradient sum") {
                try runStep(completedSteps, metrics: &window)
            }
            completedSteps += 1
            let isLast = completedSteps == plan.totalSteps
            if completedSteps % config.loggingSteps == 0 || isLast {
                let seconds = Date().timeIntervalSince(windowStart)
                let record = try watchdog.guarding("step \(completedSteps): summing the logged metrics") {
                    try trainRecord(window, gradNorm: gradNorm, seconds: seconds)
                }
                try emit(record, to: log)
                window = MetricWindow(names: task.metricNames)
                windowStart = Date()
            }
            if let every = config.evalSteps, task.evalCount > 0, completedSteps % every == 0 || isLast {
                try emit(try watchdog.guarding("step \(completedSteps): evaluation") { try evaluationRecord() }, to: log)
            }
            if config.saveSteps > 0, completedSteps % config.saveSteps == 0 {
                try watchdog.guarding("step \(completedSteps): saving a checkpoint") { try saveCheckpoint() }
                lastSaved = completedSteps
            }
        }
        if lastSaved != completedSteps || completedSteps == 0 {
            try watchdog.guarding("step \(completedSteps): saving a checkpoint") { try saveCheckpoint() }
        }
        try saveFinalModel()
        let runtime = Date().timeIntervalSince(trainingStart)
        let after = try watchdog.guarding("the evaluation after training") { try evaluateSplits() }
        let steps = completedSteps - firstStepThisRun
        say(String(format: "train_runtime %.1f s", runtime) + " (\(durationText(runtime))) for \(steps) steps, "
            + String(format: "%.2f steps/s", Double(steps) / max(runtime, 1e-9)))
        let report = TrainingReport(steps: completedSteps, before: before, after: after, metrics: task.summaryMetrics)
        try communicator.runOnRankZero { try writeSummary(of: report) }
        return .finished(report)
    }

    /// One optimizer update (`TrainingStep`) on this rank's share of the step's micro-batches. Adds the micro-batches'
    /// metrics to `metrics` and returns the global gradient norm before clipping, or nil when `nonfinite_policy: skip`
    /// skipped the update of a non-finite gradient. Weights that the update made non-finite end the run before anything
    /// is saved, so no checkpoint or final model ever holds them.
    func runStep(_ step: Int, metrics: inout MetricWindow) throws -> Double? {
        let microBatches = plan.microBatches(step: step)
        let outcome: TrainingStep.Outcome<MicroBatchMetrics>
        do {
            // Which rank runs a micro-batch changes nothing: its weight is fixed by the step.
            outcome = try task.train(communicator.share(of: microBatches), ofStep: microBatches, update: step + 1,
                                     learningRate: schedule.rate(at: step), with: trainingStep)
        } catch RunError.diverged(let update, let what) where config.nonfinitePolicy == .skip {
            skippedSteps += 1
            say("step \(update): update skipped (nonfinite_policy: skip, \(skippedSteps) so far): \(what)")
            return nil
        }
        guard allFinite(policy.parameters.baseAddress!, count: policy.parameterCount, parallel: parallel) else {
            throw RunError.diverged(step: step + 1, what: "the update made weights non-finite (±inf or NaN) although "
                + "the gradient was finite: lower `learning_rate` or `weight_decay`; nothing of this step was saved, "
                + "the newest checkpoint in output_dir is intact")
        }
        for microBatchMetrics in outcome.metrics {
            metrics.add(microBatchMetrics)
        }
        try task.didUpdate(step: step + 1)
        return outcome.gradientNorm
    }

    // MARK: Metrics

    private func trainRecord(_ window: MetricWindow, gradNorm: Double?, seconds: Double) throws -> MetricsRecord {
        let global = try window.allReduced(communicator)
        var record = MetricsRecord(global.means)
        if let gradNorm {
            record.fields.append(("grad_norm", gradNorm))
        }
        if config.nonfinitePolicy == .skip {
            record.fields.append(("skipped_steps", Double(skippedSteps)))
        }
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
        var record = MetricsRecord(try evaluate(.eval).evalMeans)
        record.fields.insert(("step", Double(completedSteps)), at: 0)
        record.fields.append(("epoch", Double(completedSteps) / Double(plan.stepsPerEpoch)))
        return record
    }

    /// Writes a record with its wall-clock `time` (seconds since 1970) and prints its console line with the time
    /// since training began and, from the steps run so far, the time left.
    private func emit(_ record: MetricsRecord, to log: MetricsLog?) throws {
        var record = record
        let now = Date()
        record.fields.append(("time", now.timeIntervalSince1970))
        try log?.write(record)
        let elapsed = now.timeIntervalSince(trainingStart)
        let stepsThisRun = completedSteps - firstStepThisRun
        let remaining = stepsThisRun > 0
            ? elapsed / Double(stepsThisRun) * Double(plan.totalSteps - completedSteps) : nil
        say(consoleLine(record, totalSteps: plan.totalSteps, progress: (elapsed, remaining)))
    }

    /// Metrics of the policy on the training or the held-out examples, in micro-batches of
    /// `per_device_eval_batch_size` dealt over all ranks.
    func evaluate(_ split: DataSplit) throws -> MetricWindow {
        try task.metrics(on: split, batchSize: config.perDeviceEvalBatchSize, communicator: communicator)
    }

    private func evaluateSplits() throws -> SplitMetrics {
        SplitMetrics(train: try evaluate(.train), heldOut: task.evalCount == 0 ? nil : try evaluate(.eval))
    }

    // MARK: Output

    /// Creates `output_dir` and locks it for this run (rank 0 holds `OutputDirectoryLock` until the trainer ends).
    /// A fresh run refuses a folder that holds an earlier run — its checkpoints (a later `--resume` would pick those
    /// up), its final model or its metrics — unless `overwrite_output_dir` says to replace it.
    private func prepareOutputDirectory(resume: Bool) throws {
        try communicator.runOnRankZero {
            do {
                try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
            } catch {
                throw RunError.input("`output_dir` \(outputDir.path): cannot create it: \(error.localizedDescription)")
            }
            outputLock = try OutputDirectoryLock(outputDir: outputDir)
            guard !resume else { return }
            let earlier = try CheckpointDirectory(outputDir: outputDir).all()
            let earlierFiles = Self.earlierRunFiles.filter {
                FileManager.default.fileExists(atPath: outputDir.appendingPathComponent($0).path)
            }
            guard !earlier.isEmpty || !earlierFiles.isEmpty else { return }
            guard config.overwriteOutputDir else {
                let what = earlier.last.map { "checkpoint-\($0.step)" } ?? earlierFiles.joined(separator: ", ")
                throw RunError.input("`output_dir` \(outputDir.path) already holds \(what) of an earlier run: "
                    + "continue it with --resume, choose another output_dir, or set overwrite_output_dir: true to replace it")
            }
            for checkpoint in earlier {
                try FileManager.default.removeItem(at: checkpoint.url)
            }
        }
    }

    /// Files in `output_dir` that only a run writes: the final model's weights and config (or adapter), and the metrics log.
    static let earlierRunFiles = ["model.safetensors", "model.safetensors.index.json", "config.json", MetricsLog.fileName,
                                  PEFTAdapterFolder.configFile, PEFTAdapterFolder.weightsFile]
}

extension TrainingConfig.GradientAllreduce {
    /// Whether gradients are summed in two levels on `topology` (`auto`: when that saves network traffic).
    func isHierarchical(on topology: NodeTopology) -> Bool {
        switch self {
        case .auto: topology.benefitsFromHierarchy
        case .flat: false
        case .hierarchical: true
        }
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
    let microBatchSize: Int
    let stepsPerEpoch: Int
    let totalSteps: Int
    let seed: Int
    let sampling: TrainingConfig.Sampling

    init(pairCount: Int, config: TrainingConfig, ranks: Int) {
        self.pairCount = pairCount
        microBatchSize = config.perDeviceTrainBatchSize
        globalBatchSize = config.perDeviceTrainBatchSize * ranks * config.gradientAccumulationSteps
        stepsPerEpoch = (pairCount + globalBatchSize - 1) / globalBatchSize
        totalSteps = config.maxSteps > 0
            ? config.maxSteps : Int((config.numTrainEpochs * Double(stepsPerEpoch)).rounded(.up))
        seed = config.seed
        sampling = config.trainSamplingStrategy
    }

    /// The pair indices of global step `step`, in order.
    func globalBatch(step: Int) -> [Int] {
        let start = (step % stepsPerEpoch) * globalBatchSize
        let positions = start..<min(start + globalBatchSize, pairCount)
        switch sampling {
        case .sequential:
            return Array(positions)
        case .random:
            return Array(order(epoch: step / stepsPerEpoch)[positions])
        }
    }

    /// The epoch's permutation, drawn once per epoch rather than once per step.
    private func order(epoch: Int) -> [Int] {
        if orderCache.epoch != epoch {
            orderCache.order = EpochOrder.permutation(count: pairCount, seed: UInt64(seed), epoch: epoch)
            orderCache.epoch = epoch
        }
        return orderCache.order
    }

    private final class OrderCache {
        var epoch = -1
        var order: [Int] = []
    }
    private let orderCache = OrderCache()

    /// The global batch of `step` cut into micro-batches of `per_device_train_batch_size` (the last may be shorter).
    func microBatches(step: Int) -> [[Int]] {
        chunks(globalBatch(step: step), size: microBatchSize).map(Array.init)
    }
}

/// Consecutive pieces of at most `size` elements.
func chunks<T>(_ items: [T], size: Int) -> [ArraySlice<T>] {
    stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
}

public struct SplitMetrics {
    var train: MetricWindow
    var heldOut: MetricWindow?
}

/// How `Trainer.train` ended.
public enum TrainingOutcome {
    /// The plan ran to its end; the final model is saved.
    case finished(TrainingReport)
    /// A stop signal (`signal`, received by `ranks` ranks) ended the run after `step` of `totalSteps` updates, with
    /// checkpoint-`step` complete in `outputDir`.
    case stopped(step: Int, totalSteps: Int, signal: String, ranks: Int, outputDir: String)

    /// The one line a stopped run ends with: what happened and how to continue.
    public var stopMessage: String? {
        guard case let .stopped(step, totalSteps, signal, ranks, outputDir) = self else { return nil }
        let received = ranks > 1 ? "\(signal) on \(ranks) ranks" : signal
        return "stopped by \(received) after step \(step) of \(totalSteps): checkpoint-\(step) in \(outputDir) is complete; "
            + "continue with the same command and --resume"
    }
}

/// What a finished run reports: metrics on the train and held-out pairs before and after training.
public struct TrainingReport {
    public var steps: Int
    public var before: SplitMetrics
    public var after: SplitMetrics
    /// The metrics the summary shows, with their printf formats.
    var metrics: [(name: String, format: String)]
}
