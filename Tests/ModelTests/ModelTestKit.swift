import Kernels
import Testing
import Model
import SeededRandom

/// Shared helpers of the model tests (one namespace, so the parity tests in this target can use their own names).
enum ModelTestKit {
    /// Deterministic stream for test data.
    typealias Random = SplitMix64

    /// The tiny architecture of the finite-difference check: vocab 11, C 8, 2 layers, 2 heads, 6 positions.
    static let tinyConfig = ModelConfig.gpt2(vocabSize: 11, maxPositions: 6, layers: 2, heads: 2, channels: 8)

    /// A tiny Llama: grouped-query attention (4 query heads on 2 key/value heads), head size 4 ≠ C/heads, an untied
    /// LM head and llama3 rope scaling (wavelengths 6.3 and 44: one interpolated, one stretched).
    static let tinyLlamaConfig = ModelConfig.llama(
        vocabSize: 11, maxPositions: 6, layers: 2, heads: 4, keyValueHeads: 2, channels: 12, intermediateSize: 10,
        headSize: 4, ropeTheta: 50,
        ropeScaling: Llama3RopeScaling(factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 16))

    /// A tiny Qwen2: q/k/v biases, 4 query heads sharing one key/value head, untied head.
    static let tinyQwen2Config = ModelConfig.qwen2(vocabSize: 11, maxPositions: 6, layers: 2, heads: 4, keyValueHeads: 1,
                                                   channels: 8, intermediateSize: 10)

    /// A tiny Llama with every optional bias (attention_bias, mlp_bias) and a tied LM head.
    static let tinyBiasedLlamaConfig = ModelConfig.llama(
        vocabSize: 11, maxPositions: 6, layers: 2, heads: 2, keyValueHeads: 2, channels: 8, intermediateSize: 12,
        attentionBias: true, mlpBias: true, tiedEmbeddings: true)

    /// One tiny config of every family and option combination.
    static let tinyConfigs = [tinyConfig, tinyLlamaConfig, tinyQwen2Config, tinyBiasedLlamaConfig]

    /// `config` with 96 positions and a vocabulary of 23, so one batch can have more scored rows than one LM-head chunk.
    static func long(_ config: ModelConfig) -> ModelConfig {
        var long = config
        long.vocabSize = 23
        long.maxPositions = 96
        return long
    }

    /// A model whose every parameter is random and of order one (unlike the 0.02 init), so that attention,
    /// the activations and the norms all operate away from their trivial regimes and every gradient is clearly nonzero.
    static func randomizedModel(_ config: ModelConfig, seed: UInt64, trainable: Bool = true,
                                parallel: Parallel = .serial) -> DecoderModel {
        let model = DecoderModel(config: config, trainable: trainable, parallel: parallel)
        var random = Random(seed: seed)
        for tensor in model.tensors {
            let isNormGain = tensor.shape.count == 1 && tensor.name.hasSuffix(".weight")
            let isBias = tensor.shape.count == 1 && !isNormGain
            for index in tensor.range {
                model.parameters[index] = isNormGain ? random.uniform(0.7, 1.3)
                    : isBias ? random.uniform(-0.2, 0.2) : random.uniform(-0.6, 0.6)
            }
        }
        return model
    }

    /// A right-padded batch: sequence b has `promptLengths[b]` unscored tokens, then `completionLengths[b]` scored ones,
    /// then `padToken` up to `length`.
    static func batch(length: Int, promptLengths: [Int], completionLengths: [Int], vocab: Int, seed: UInt64,
                      padToken: Int32 = 0) -> SequenceBatch {
        var random = Random(seed: seed)
        let count = promptLengths.count
        var tokens = [Int32](repeating: padToken, count: count * length)
        var mask = [UInt8](repeating: 0, count: count * length)
        for b in 0 ..< count {
            for t in 0 ..< promptLengths[b] + completionLengths[b] {
                tokens[b * length + t] = Int32(random.int(below: vocab))
                if t >= promptLengths[b] { mask[b * length + t] = 1 }
            }
        }
        return SequenceBatch(count: count, length: length, tokens: tokens, scoreMask: mask)
    }

    /// Sequence `b` of `batch` alone, cut to `length` tokens.
    static func single(_ batch: SequenceBatch, _ b: Int, length: Int) -> SequenceBatch {
        let start = b * batch.length
        return SequenceBatch(count: 1, length: length, tokens: Array(batch.tokens[start ..< start + length]),
                             scoreMask: Array(batch.scoreMask[start ..< start + length]))
    }

    /// For every tensor of `tensors` (in `parameters`), up to `samplesPerTensor` random entries get a central difference
    /// (f(p+ε) − f(p−ε)) / 2ε of `objective` with ε = 1e-2 in Float. Per tensor the sampled numeric and analytic
    /// gradients must agree in relative norm: ‖numeric − analytic‖ ≤ 1e-2·‖analytic‖ + 1e-3·√samples (the absolute
    /// term covers Float rounding in f, the relative one the O(ε²) truncation), and ‖analytic‖ must be large enough
    /// for that to mean something.
    static func expectCentralDifferencesMatch(_ analytic: [Float], tensors: [ParameterTensor],
                                              parameters: UnsafeMutableBufferPointer<Float>, samplesPerTensor: Int,
                                              label: String, objective: () -> Double) {
        let epsilon: Float = 1e-2
        var random = Random(seed: 99)
        for tensor in tensors {
            let samples = tensor.count <= samplesPerTensor ? Array(tensor.range)
                : (0 ..< samplesPerTensor).map { _ in tensor.offset + random.int(below: tensor.count) }
            var numeric: [Float] = []
            for index in samples {
                let original = parameters[index]
                parameters[index] = original + epsilon
                let plus = objective()
                parameters[index] = original - epsilon
                let minus = objective()
                parameters[index] = original
                numeric.append(Float((plus - minus) / Double(2 * epsilon)))
            }
            let expected = samples.map { analytic[$0] }
            let analyticNorm = expected.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            let errorNorm = zip(numeric, expected).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let tolerance = 1e-2 * analyticNorm + 1e-3 * Double(samples.count).squareRoot()
            let name = "\(label) \(tensor.name)"
            #expect(analyticNorm > 3 * tolerance, "\(name): analytic gradient ‖\(analyticNorm)‖ is too small for a meaningful check")
            #expect(errorNorm <= tolerance,
                    "\(name): ‖numeric − analytic‖ = \(errorNorm), ‖analytic‖ = \(analyticNorm), tolerance \(tolerance)")
        }
    }

    /// ‖a − b‖ / max(‖b‖, tiny), in Double.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var difference = 0.0, norm = 0.0
        for (x, y) in zip(a, b) {
            difference += Double(x - y) * Double(x - y)
            norm += Double(y) * Double(y)
        }
        return (difference / max(norm, 1e-30)).squareRoot()
    }
}

extension SplitMix64 {
    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(Double(next() >> 11) * 0x1p-53)
    }

    mutating func int(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
