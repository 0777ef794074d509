import Distributed
import DPO
import Kernels
import Model
import Optimization
import SeededRandom
import Training

/// What a benchmarked step trains and keeps, besides the shape.
public struct StepVariant: Codable, Sendable {
    /// Keep only each block's input in the training forward and rerun the blocks in backward (`gradient_checkpointing`).
    public var gradientCheckpointing = false
    /// LoRA's rank (alpha 2r, TRL's default ratio), or nil to train the whole model.
    public var loraRank: Int? = nil
    /// Adapt every Linear layer (`all-linear`) rather than PEFT's default for the family (GPT-2's c_attn).
    public var loraAllLinear = false

    public init(gradientCheckpointing: Bool = false, loraRank: Int? = nil, loraAllLinear: Bool = false) {
        self.gradientCheckpointing = gradientCheckpointing
        self.loraRank = loraRank
        self.loraAllLinear = loraAllLinear
    }

    /// How the report's tables name it.
    public var label: String {
        let trains = loraRank.map { "LoRA r\($0)\(loraAllLinear ? " all-linear" : "")" } ?? "full"
        return trains + (gradientCheckpointing ? ", checkpointed" : "")
    }

    /// The adapters of a LoRA step.
    var lora: LoRAConfig? {
        loraRank.map { LoRAConfig(rank: $0, alpha: Double(2 * $0), targets: loraAllLinear ? .allLinear : .familyDefault) }
    }
}

/// Median wall and CPU time of full DPO optimizer steps on one shape.
public struct StepResult: Codable, Sendable {
    public let shape: String
    public let variant: StepVariant
    public let threads: Int
    public let tokensPerStep: Int
    public let medianStepSeconds: Double
    public let medianCPUSeconds: Double
    public let tokensPerSecond: Double
    /// Every timed step, in order.
    public let steps: [Timing]
}

/// Times `steps` optimizer steps (after `warmup` untimed ones) of `RandomDPOTraining` on one rank, without MPI.
public func benchmarkSteps(_ shape: BenchmarkShape, variant: StepVariant, threads: Int, steps: Int,
                           warmup: Int) throws -> StepResult {
    let training = try RandomDPOTraining(shape, variant: variant, threads: threads, ranks: 1)
    for _ in 0 ..< warmup { _ = try training.step(summing: .none) }
    let timings = try (0 ..< steps).map { _ in try time { _ = try training.step(summing: .none) } }
    let seconds = median(timings.map(\.wallSeconds))
    return StepResult(shape: shape.name, variant: variant, threads: threads, tokensPerStep: shape.tokensPerStep, medianStepSeconds: seconds,
                      medianCPUSeconds: median(timings.map(\.cpuSeconds)),
                      tokensPerSecond: Double(shape.tokensPerStep) / seconds, steps: timings)
}

/// What both step benchmarks time: the trainer's `TrainingStep` of DPO (sigmoid loss, β = 0.1, clipping to norm 1,
/// AdamW at 1e-5) on one micro-batch of `shape` per rank — reference forward, policy forward and backward of the
/// chosen+rejected rows (`DPOStep`), the gradient sum, norm, clipping, update. Weights are GPT-2's random
/// initialization and the tokens random; neither affects the time. With LoRA the policy is a frozen base with
/// adapters (dropout off, as in DPO) and the reference the same model with them off, as in training.
final class RandomDPOTraining {
    let policy: any CausalLanguageModel
    let reference: DPOStep.Reference
    let optimizer: AdamW
    /// The ZeRO stage in effect and this rank's shard.
    let zero: ZeroSharding
    let batch: SequenceBatch
    /// Micro-batches per rank and update (gradient accumulation; every one is `batch`).
    let accumulation: Int
    /// The loss is the mean over the pairs of all `ranks` and micro-batches, as in a data-parallel step.
    let normalization: LossNormalization
    let dpo = DPOStep(loss: DPOLoss(beta: 0.1))
    let parallel: Parallel
    /// Updates run so far.
    private(set) var updates = 0

    /// This process is `rank` of `ranks`, which keep the optimizer state (and gradients) as `zeroStage` says. With a
    /// `sharedReferenceOn` topology whose node has several ranks, the node holds one reference in shared memory, as
    /// training's `share_reference` does.
    init(_ shape: BenchmarkShape, variant: StepVariant = StepVariant(), threads: Int, ranks: Int, rank: Int = 0,
         accumulation: Int = 1, zeroStage: ZeroStage = .replicated, sharedReferenceOn topology: NodeTopology? = nil) throws {
        parallel = Parallel(threads: threads)
        let policy = try makeCausalLanguageModel(config: shape.config, trainable: variant.lora == nil, parallel: parallel)
        self.policy = policy
        policy.initializeRandomly(seed: 1)
        policy.gradientCheckpointing = variant.gradientCheckpointing
        if let lora = variant.lora {
            try policy.attachAdapters(lora, seed: 1).disablesDropout = true
            reference = .policyAdapters(.disabled)
        } else if let topology, topology.node.size > 1 {
            let shared = try NodeSharedBuffer(count: policy.parameterCount, topology: topology)
            try shared.writeOnNodeLeader { $0.baseAddress!.update(from: policy.parameters.baseAddress!, count: $0.count) }
            reference = .model(try makeCausalLanguageModel(config: shape.config, sharedParameters: shared.floats,
                                                           owner: shared, parallel: parallel))
        } else {
            let model = try makeCausalLanguageModel(config: shape.config, trainable: false, parallel: parallel)
            model.copyParameters(from: policy)
            reference = .model(model)
        }
        zero = ZeroSharding(zeroStage, parameterCount: policy.trainableParameters.count, rank: rank, ranks: ranks)
        optimizer = AdamW(for: policy.trainableParameters, settings: AdamW.Settings(), range: zero.ownedRange)
        batch = randomPreferenceBatch(shape)
        self.accumulation = accumulation
        let pairs = ranks * accumulation * shape.pairs
        normalization = LossNormalization(pairs: pairs, chosenTokens: pairs * shape.scoredTokensPerRow)
    }

    /// One optimizer update, the ranks' gradients summed as `gradientSum` says.
    func step(summing gradientSum: TrainingStep.GradientSum) throws -> TrainingStep.Outcome<PreferenceMetricSums> {
        updates += 1
        let step = TrainingStep(trainable: policy.trainableParameters, optimizer: optimizer, gradientSum: gradientSum,
                                zero: zero, maxGradNorm: 1,
                                parallel: parallel)
        return try step.run(Array(repeating: batch, count: accumulation), update: updates, learningRate: 1e-5) { batch, gradientsReady in
            dpo.run(policy: policy, reference: reference, batch: batch, normalization: normalization, train: true,
                    gradientsReady: gradientsReady)
        }
    }
}

/// Rows 0..<pairs are prompt+chosen, pairs..<2·pairs prompt+rejected; every row is full length with random tokens
/// and scores the tokens after the prompt.
func randomPreferenceBatch(_ shape: BenchmarkShape) -> SequenceBatch {
    var random = SplitMix64(seed: 2)
    let rows = 2 * shape.pairs
    let tokens = (0 ..< rows * shape.length).map { _ in Int32(random.next() % UInt64(shape.config.vocabSize)) }
    let scoreMask = (0 ..< rows * shape.length).map { UInt8($0 % shape.length >= shape.promptLength ? 1 : 0) }
    return SequenceBatch(count: rows, length: shape.length, tokens: tokens, scoreMask: scoreMask)
}
