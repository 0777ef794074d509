import DPO
import Kernels
import Model
import Optimization
import SeededRandom

/// Median wall and CPU time of full DPO optimizer steps on one shape.
public struct StepResult: Codable, Sendable {
    public let shape: String
    public let threads: Int
    public let tokensPerStep: Int
    public let medianStepSeconds: Double
    public let medianCPUSeconds: Double
    public let tokensPerSecond: Double
    /// Every timed step, in order.
    public let steps: [Timing]
}

/// Times `steps` optimizer steps (after `warmup` untimed ones) exactly as the trainer runs one on a single rank
/// (Trainer.runStep without MPI): zero the gradients, reference forward + policy forward/backward of the
/// chosen+rejected batch (`DPOStep`), gradient norm, clipping to norm 1, AdamW over the flat parameter buffer.
/// Weights are GPT-2's random initialization and the tokens random; neither affects the time.
public func benchmarkSteps(_ shape: BenchmarkShape, threads: Int, steps: Int, warmup: Int) -> StepResult {
    let parallel = Parallel(threads: threads)
    let policy = DecoderModel(config: shape.config, trainable: true, parallel: parallel)
    policy.initializeRandomly(seed: 1)
    let reference = DecoderModel(config: shape.config, trainable: false, parallel: parallel)
    reference.copyParameters(from: policy)
    let optimizer = AdamW(for: policy, settings: AdamW.Settings())
    let batch = randomPreferenceBatch(shape)
    let dpo = DPOStep(loss: DPOLoss(beta: 0.1))

    func step(_ number: Int) {
        policy.zeroGradients()
        _ = dpo.run(policy: policy, reference: .model(reference), batch: batch,
                    normalization: LossNormalization(pairs: shape.pairs, chosenTokens: shape.pairs * shape.scoredTokensPerRow),
                    train: true)
        _ = clipGradientNorm(policy.gradients.baseAddress!, count: policy.parameterCount, maxNorm: 1, parallel: parallel)
        optimizer.update(policy, step: number, learningRate: 1e-5, parallel: parallel)
    }

    for number in 0 ..< warmup { step(number + 1) }
    let timings = (0 ..< steps).map { number in time { step(warmup + number + 1) } }
    let seconds = median(timings.map(\.wallSeconds))
    return StepResult(shape: shape.name, threads: threads, tokensPerStep: shape.tokensPerStep, medianStepSeconds: seconds,
                      medianCPUSeconds: median(timings.map(\.cpuSeconds)),
                      tokensPerSecond: Double(shape.tokensPerStep) / seconds, steps: timings)
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
