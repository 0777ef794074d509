import Foundation
import Kernels
import Model
import Testing
@testable import DPO

/// The DPO loss differentiated end to end — loss → per-sequence log-probs → every parameter of the policy —
/// against central finite differences of the loss itself.
@Suite struct DPOGradientCheckTests {
    /// A tiny model whose every parameter (LayerNorm gains and biases included) is perturbed away from its
    /// initial value, so no tensor sits at a special point where a wrong backward could still look right.
    private func model(seed: UInt64, trainable: Bool) -> DecoderModel {
        let model = DecoderModel(config: .gpt2(vocabSize: 13, maxPositions: 8, layers: 2, heads: 2, channels: 8),
                              trainable: trainable, parallel: .serial)
        model.initializeRandomly(seed: seed)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for index in model.parameters.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            model.parameters[index] += Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 5000  // ±0.2
        }
        return model
    }

    /// 2 pairs: rows 0–1 prompt+chosen, rows 2–3 prompt+rejected; different prompt lengths, padding at the end.
    private let batch = SequenceBatch(
        count: 4, length: 8,
        tokens: [3, 7, 1, 9, 4, 12, 0, 0,
                 5, 2, 8, 8, 6, 0, 0, 0,
                 3, 7, 1, 2, 2, 0, 0, 0,
                 5, 2, 11, 10, 3, 1, 4, 0],
        scoreMask: [0, 0, 0, 1, 1, 1, 0, 0,
                    0, 0, 1, 1, 1, 0, 0, 0,
                    0, 0, 0, 1, 1, 0, 0, 0,
                    0, 0, 1, 1, 1, 1, 1, 0])

    /// Both chosen completions score 3 tokens.
    private let normalization = LossNormalization(pairs: 2, chosenTokens: 6)

    /// Conservative DPO; a reference-free mix whose terms use the token counts (ipo, sft) and single log-ratios;
    /// the losses that match the pairs of the micro-batch by rank, with DiscoPOP on Jensen–Shannon scores; and LD-DPO,
    /// whose verbose tails (one chosen token of pair 0, two rejected tokens of pair 1) weigh 0.3.
    static let losses = [
        DPOLoss(beta: 1.0, labelSmoothing: 0.1),
        DPOLoss(beta: 0.5, terms: [WeightedLossTerm(.sigmoid), WeightedLossTerm(.sft, weight: 0.5)], verboseTailWeight: 0.3),
        DPOLoss(beta: 0.5, terms: [WeightedLossTerm(.ipo), WeightedLossTerm(.sft, weight: 0.5), WeightedLossTerm(.ncaPair)],
                referenceFree: true),
        DPOLoss(beta: 1.0, labelSmoothing: 0.1, terms: [WeightedLossTerm(.aot), WeightedLossTerm(.aotUnpaired),
                                                        WeightedLossTerm(.discopop, weight: 0.5)],
                divergence: .jsDivergence),
    ]

    @Test(arguments: losses)
    func lossGradientMatchesFiniteDifferencesForEveryTensor(_ loss: DPOLoss) {
        let policy = model(seed: 5, trainable: true)
        let reference = model(seed: 6, trainable: false)
        let step = DPOStep(loss: loss)
        let pairs = Double(batch.count / 2)
        func meanLoss() -> Double {
            step.run(policy: policy, reference: .model(reference), batch: batch, normalization: normalization, train: false).loss / pairs
        }

        policy.zeroGradients()
        let sums = step.run(policy: policy, reference: .model(reference), batch: batch, normalization: normalization, train: true)
        #expect(sums.pairs == 2 && sums.loss > 0.1)
        let analytic = Array(policy.gradients)

        // ε = 1e-2 in Float: truncation O(ε²) and rounding (|loss| ≈ 1, Float log-probs ~1e-6) are both far below
        // the tolerance, while a missing term, sign or transpose is off by O(1) in relative norm.
        let epsilon: Float = 1e-2
        for tensor in policy.tensors {
            let stride = max(1, tensor.count / 12)
            let samples = Array(Swift.stride(from: tensor.offset, to: tensor.offset + tensor.count, by: stride))
            var numeric: [Double] = []
            for index in samples {
                let original = policy.parameters[index]
                policy.parameters[index] = original + epsilon
                let plus = meanLoss()
                policy.parameters[index] = original - epsilon
                let minus = meanLoss()
                policy.parameters[index] = original
                numeric.append((plus - minus) / Double(2 * epsilon))
            }
            let expected = samples.map { Double(analytic[$0]) }
            let analyticNorm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let errorNorm = zip(numeric, expected).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let tolerance = 1e-2 * analyticNorm + 1e-4 * Double(samples.count).squareRoot()
            #expect(analyticNorm > 3 * tolerance, "\(tensor.name): gradient ‖\(analyticNorm)‖ too small to check")
            #expect(errorNorm <= tolerance, "\(tensor.name): ‖numeric − analytic‖ = \(errorNorm), ‖analytic‖ = \(analyticNorm)")
        }
    }

    /// The rows of one pair of `batch`, as a micro-batch of its own.
    private func pairBatch(_ pair: Int) -> SequenceBatch {
        let rows = [pair, pair + 2].map { row in batch.length * row ..< batch.length * (row + 1) }
        return SequenceBatch(count: 2, length: batch.length, tokens: rows.flatMap { Array(batch.tokens[$0]) },
                             scoreMask: rows.flatMap { Array(batch.scoreMask[$0]) })
    }

    /// Exact averaging: the global batch processed whole or one pair per micro-batch accumulates the same gradient
    /// and loss, the `sft` term included, because both use the global batch's normalization.
    @Test func splittingTheGlobalBatchIntoMicroBatchesGivesTheSameGradient() {
        let policy = model(seed: 5, trainable: true)
        let reference = model(seed: 6, trainable: false)
        let step = DPOStep(loss: DPOLoss(beta: 0.5, terms: [WeightedLossTerm(.sigmoid), WeightedLossTerm(.sft, weight: 0.5)]))

        policy.zeroGradients()
        let whole = step.run(policy: policy, reference: .model(reference), batch: batch, normalization: normalization, train: true)
        let wholeGradient = Array(policy.gradients)
        policy.zeroGradients()
        var split = PreferenceMetricSums()
        for pair in 0..<2 {
            split += step.run(policy: policy, reference: .model(reference), batch: pairBatch(pair), normalization: normalization,
                              train: true)
        }
        let splitGradient = Array(policy.gradients)

        #expect(abs(whole.loss - split.loss) < 1e-5 * abs(whole.loss))
        let norm = wholeGradient.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        let difference = zip(wholeGradient, splitGradient).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        #expect(norm > 0.01)
        #expect(difference <= 1e-5 * norm, "‖whole − split‖ = \(difference), ‖whole‖ = \(norm)")
    }

    /// WPO's weight of a pair, w(y_w)·w(y_l) with w(y) = exp(mean over y's tokens of log p(token) − log Σ_v p_v²),
    /// computed here from the policy's full logits, is the ratio of the weighted to the unweighted loss.
    @Test func wpoWeightsComeFromThePolicysTokenDistributions() {
        let policy = model(seed: 5, trainable: false)
        let reference = model(seed: 6, trainable: false)
        let (V, T) = (policy.config.vocabSize, batch.length)
        let logits = policy.logits(batch).map(Double.init)
        func rowWeight(_ row: Int) -> Double {
            let positions = (1..<T).filter { batch.scoreMask[row * T + $0] != 0 }
            let aligned = positions.reduce(0.0) { total, t in
                let values = logits[((row * T + t - 1) * V)..<((row * T + t) * V)]
                let logSumExp = log(values.reduce(0) { $0 + exp($1) })
                let logSumSquares = log(values.reduce(0) { $0 + exp(2 * ($1 - logSumExp)) })
                return total + values[values.startIndex + Int(batch.tokens[row * T + t])] - logSumExp - logSumSquares
            }
            return exp(aligned / Double(positions.count))
        }
        let plain = DPOStep(loss: DPOLoss(beta: 0.5))
        let weighted = DPOStep(loss: DPOLoss(beta: 0.5, wpoWeighting: true))
        for pair in 0..<2 {
            let single = LossNormalization(pairs: 1, chosenTokens: 3)
            let unweightedLoss = plain.run(policy: policy, reference: .model(reference), batch: pairBatch(pair),
                                           normalization: single, train: false).loss
            let weightedLoss = weighted.run(policy: policy, reference: .model(reference), batch: pairBatch(pair),
                                            normalization: single, train: false).loss
            let expected = rowWeight(pair) * rowWeight(pair + 2)
            #expect(abs(weightedLoss / unweightedLoss - expected) <= 1e-5 * expected, "pair \(pair)")
        }
    }

    /// Reference-free runs never look at the reference model: any reference gives the same loss and gradient.
    @Test func referenceFreeIgnoresTheReferenceModel() {
        let policy = model(seed: 5, trainable: true)
        let step = DPOStep(loss: DPOLoss(beta: 0.5, referenceFree: true))
        var results: [(PreferenceMetricSums, [Float])] = []
        for referenceSeed: UInt64 in [6, 7] {
            policy.zeroGradients()
            let sums = step.run(policy: policy, reference: .model(model(seed: referenceSeed, trainable: false)), batch: batch,
                                normalization: normalization, train: true)
            results.append((sums, Array(policy.gradients)))
        }
        #expect(results[0].0 == results[1].0)
        #expect(results[0].1 == results[1].1)
        #expect(results[0].0.chosenRewards == 0.5 * results[0].0.chosenLogProbs)
    }
}
