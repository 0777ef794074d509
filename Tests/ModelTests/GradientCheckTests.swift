import SeededRandom
import Model
import Testing

@Suite("Backward against finite differences (every family)")
struct GradientCheckTests {
    typealias Kit = ModelTestKit

    /// f = Σ_b w_b · logProbSums[b], or with one weight per scored token f = Σ_i w_i · tokenLogProbs[i], evaluated in
    /// Double from the Float forward.
    private func objective(_ model: DecoderModel, _ batch: SequenceBatch, _ weights: [Float], perToken: Bool) -> Double {
        let scores = model.score(batch, training: false)
        return zip(perToken ? scores.tokenLogProbs : scores.logProbSums, weights)
            .reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Tiny models (vocab 11, 2 layers, T 6: GPT-2, Llama with GQA and llama3 rope, Qwen2 with q/k/v biases, Llama with
    /// every bias and a tied head), batch 3 with padding and different masks, weighted per sequence or per token
    /// (`backward(dLogProbSums:)` and `backward(dTokenLogProbs:)`).
    /// For every parameter tensor, up to 20 random entries get a central difference (f(p+ε) − f(p−ε)) / 2ε with ε = 1e-2
    /// in Float. Per tensor the sampled numeric and analytic gradients must agree in relative norm (measured: ≤ 2e-3):
    /// ‖numeric − analytic‖ ≤ 1e-2·‖analytic‖ + 1e-3·√samples. The absolute term covers Float rounding in f
    /// (|f| ≈ 10 with ~1e-6 relative error, divided by 2ε); the relative term covers the O(ε²) truncation.
    /// A wrong backward (missing term, wrong transpose, wrong sign) is off by O(1) in relative norm.
    @Test(arguments: Kit.tinyConfigs.indices, [false, true])
    func analyticGradientsMatchCentralDifferencesForEveryTensor(configIndex: Int, perToken: Bool) {
        let model = Kit.randomizedModel(Kit.tinyConfigs[configIndex], seed: 21)
        let batch = Kit.batch(length: 6, promptLengths: [1, 3, 2], completionLengths: [5, 2, 3], vocab: 11, seed: 17)
        // 5 + 2 + 3 scored tokens; per token, the weights vary within each sequence.
        let weights: [Float] = perToken ? [0.9, -0.2, 1.1, 0.4, -1.3, -0.6, 0.8, 1.4, 0.3, -0.5] : [0.9, -0.6, 1.4]

        _ = model.score(batch, training: true)
        model.zeroGradients()
        if perToken {
            model.backward(dTokenLogProbs: weights, gradientsReady: nil)
        } else {
            model.backward(dLogProbSums: weights)
        }
        let analytic = Array(model.gradients)

        Kit.expectCentralDifferencesMatch(analytic, tensors: model.tensors, parameters: model.parameters, samplesPerTensor: 20,
                                          label: "\(model.config.architecture)") {
            objective(model, batch, weights, perToken: perToken)
        }
    }

    @Test func backwardAccumulatesIntoGradients() {
        let model = Kit.randomizedModel(Kit.tinyConfig, seed: 3)
        let batch = Kit.batch(length: 6, promptLengths: [2, 1], completionLengths: [4, 3], vocab: 11, seed: 4)
        _ = model.score(batch, training: true)
        model.zeroGradients()
        model.backward(dLogProbSums: [1, 2])
        let once = Array(model.gradients)
        model.backward(dLogProbSums: [1, 2])
        #expect(Kit.relativeError(Array(model.gradients), once.map { 2 * $0 }) < 1e-6)
        #expect(once.contains { $0 != 0 })
        model.zeroGradients()
        #expect(model.gradients.allSatisfy { $0 == 0 })
    }

    @Test func sequencesWithoutScoredTokensGetNoGradient() {
        let model = Kit.randomizedModel(Kit.tinyConfig, seed: 3)
        let batch = Kit.batch(length: 6, promptLengths: [2, 4], completionLengths: [0, 0], vocab: 11, seed: 4)
        _ = model.score(batch, training: true)
        model.zeroGradients()
        model.backward(dLogProbSums: [1, 1])
        #expect(model.gradients.allSatisfy { $0 == 0 })
    }
}
