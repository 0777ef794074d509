import Kernels
import Model
import Testing

/// `gradientCheckpointing`: keeping only each block's input and rerunning the block in backward changes no bit.
@Suite("Gradient checkpointing (every family)")
struct GradientCheckpointingTests {
    typealias Kit = ModelTestKit

    /// Scores, gradients and the reported ranges of one training forward/backward, per token weights varying.
    private func run(_ model: DecoderModel, _ batch: SequenceBatch, checkpointing: Bool)
        -> (scores: SequenceScores, gradients: [Float], reported: [Range<Int>]) {
        model.gradientCheckpointing = checkpointing
        let scores = model.score(batch, training: true)
        model.zeroGradients()
        var reported: [Range<Int>] = []
        let weights = scores.tokenLogProbs.indices.map { Float($0 % 5) * 0.3 - 0.5 }
        model.backward(dTokenLogProbs: weights) { reported.append($0) }
        return (scores, Array(model.gradients), reported)
    }

    /// Every tiny family, and a long batch whose scored rows span several LM-head chunks, on two threads.
    @Test(arguments: Kit.tinyConfigs.indices, [false, true])
    func checkpointedGradientsAreBitIdentical(configIndex: Int, long: Bool) {
        let config = long ? Kit.long(Kit.tinyConfigs[configIndex]) : Kit.tinyConfigs[configIndex]
        let model = Kit.randomizedModel(config, seed: 31, parallel: Parallel(threads: 2))
        let length = long ? 96 : 6
        let batch = long
            ? Kit.batch(length: length, promptLengths: [3, 10, 1], completionLengths: [90, 60, 95], vocab: config.vocabSize, seed: 2)
            : Kit.batch(length: length, promptLengths: [1, 3, 2], completionLengths: [5, 2, 3], vocab: config.vocabSize, seed: 2)
        let kept = run(model, batch, checkpointing: false)
        let recomputed = run(model, batch, checkpointing: true)
        #expect(recomputed.scores.tokenLogProbs == kept.scores.tokenLogProbs)
        #expect(recomputed.scores.logProbSums == kept.scores.logProbSums)
        #expect(recomputed.gradients == kept.gradients, "\(config.architecture): gradients differ with checkpointing")
        #expect(recomputed.reported == kept.reported)
        #expect(kept.gradients.contains { $0 != 0 })
    }

    /// A training forward with checkpointing leaves the model usable for inference and for a training pass without it.
    @Test func switchingBetweenPassesKeepsResultsIdentical() {
        let model = Kit.randomizedModel(Kit.tinyLlamaConfig, seed: 4)
        let batch = Kit.batch(length: 6, promptLengths: [2, 1], completionLengths: [4, 5], vocab: 11, seed: 9)
        let inference = model.score(batch, training: false)
        let first = run(model, batch, checkpointing: true)
        #expect(model.score(batch, training: false).tokenLogProbs == inference.tokenLogProbs)
        let second = run(model, batch, checkpointing: false)
        #expect(first.gradients == second.gradients)
    }
}
