import Foundation
import Kernels
import Model
import Testing

@Suite("Scoring (every family)")
struct ScoringTests {
    typealias Kit = ModelTestKit

    /// A config long enough that one batch has more scored rows than one LM-head chunk.
    static let longConfig = ModelConfig.gpt2(vocabSize: 23, maxPositions: 96, layers: 2, heads: 2, channels: 16)
    /// The same for every family.
    static let longConfigs = [longConfig, Kit.long(Kit.tinyLlamaConfig), Kit.long(Kit.tinyQwen2Config)]

    /// Per sequence, over scored positions, from `logits(_:)` in Double: Σ log_softmax(logits[b, t−1])[tokens[b, t]],
    /// the count, Σ of the mean logit, Σ of the entropy, the number of positions whose first largest logit is the
    /// target and Σ of log Σ_v p_v²; and every scored token's log-prob: the definitions `score` must match.
    private func referenceScores(_ model: DecoderModel, _ batch: SequenceBatch)
        -> (logProbs: [Double], counts: [Int], meanLogits: [Double], entropies: [Double], correct: [Int],
            logSumSquares: [Double], tokenLogProbs: [Double]) {
        let logits = model.logits(batch)
        let V = model.config.vocabSize
        let zeros = [Double](repeating: 0, count: batch.count), noCounts = [Int](repeating: 0, count: batch.count)
        var result = (logProbs: zeros, counts: noCounts, meanLogits: zeros, entropies: zeros, correct: noCounts,
                      logSumSquares: zeros, tokenLogProbs: [Double]())
        for b in 0 ..< batch.count {
            for t in 1 ..< batch.length where batch.scoreMask[b * batch.length + t] != 0 {
                let row = logits[((b * batch.length + t - 1) * V) ..< ((b * batch.length + t) * V)].map(Double.init)
                let maximum = row.max()!
                let logSumExp = maximum + log(row.reduce(0) { $0 + exp($1 - maximum) })
                let target = Int(batch.tokens[b * batch.length + t])
                result.logProbs[b] += row[target] - logSumExp
                result.tokenLogProbs.append(row[target] - logSumExp)
                result.counts[b] += 1
                result.meanLogits[b] += row.reduce(0, +) / Double(V)
                result.entropies[b] -= row.reduce(0) { $0 + exp($1 - logSumExp) * ($1 - logSumExp) }
                result.logSumSquares[b] += log(row.reduce(0) { $0 + exp(2 * ($1 - logSumExp)) })
                if row.firstIndex(of: maximum) == target { result.correct[b] += 1 }
            }
        }
        return result
    }

    @Test(arguments: Self.longConfigs.indices)
    func scoresEqualLogSoftmaxOfLogitsGatheredAtScoredPositions(configIndex: Int) {
        let config = Self.longConfigs[configIndex]
        let model = Kit.randomizedModel(config, seed: 11)
        // 3 sequences with 70 + 20 + 60 = 150 scored rows: more than one LM-head chunk.
        let batch = Kit.batch(length: 90, promptLengths: [10, 5, 25], completionLengths: [70, 20, 60],
                              vocab: config.vocabSize, seed: 3)
        let scores = model.score(batch, training: false)
        let reference = referenceScores(model, batch)
        #expect(scores.tokenCounts == [70, 20, 60])
        #expect(scores.tokenCounts == reference.counts)
        #expect(scores.correctTokenCounts == reference.correct)
        for b in 0 ..< batch.count {
            #expect(abs(Double(scores.logProbSums[b]) - reference.logProbs[b]) <= 1e-4 * abs(reference.logProbs[b]),
                    "sequence \(b): \(scores.logProbSums[b]) vs \(reference.logProbs[b])")
            #expect(abs(scores.meanLogitSums[b] - reference.meanLogits[b]) <= 1e-4 * max(1, abs(reference.meanLogits[b])),
                    "sequence \(b): \(scores.meanLogitSums[b]) vs \(reference.meanLogits[b])")
            #expect(abs(scores.entropySums[b] - reference.entropies[b]) <= 1e-4 * reference.entropies[b],
                    "sequence \(b): entropy \(scores.entropySums[b]) vs \(reference.entropies[b])")
            #expect(abs(scores.logSumSquaredProbSums[b] - reference.logSumSquares[b]) <= 1e-4 * abs(reference.logSumSquares[b]),
                    "sequence \(b): Σ log Σ p² \(scores.logSumSquaredProbSums[b]) vs \(reference.logSumSquares[b])")
        }
        #expect(scores.tokenLogProbs.count == reference.tokenLogProbs.count)
        for (index, (actual, expected)) in zip(scores.tokenLogProbs, reference.tokenLogProbs).enumerated() {
            #expect(abs(Double(actual) - expected) <= 1e-4 * max(1, abs(expected)), "token \(index): \(actual) vs \(expected)")
        }
    }

    /// Completions built token by token: where `hit` says so the next token is the model's argmax given the prefix,
    /// elsewhere the argmax + 1; so the correct-token count is known exactly (and clearly nonzero).
    @Test(arguments: Self.longConfigs.indices)
    func correctTokenCountsCountArgmaxHits(configIndex: Int) {
        let config = Self.longConfigs[configIndex]
        let model = Kit.randomizedModel(config, seed: 31)
        let (promptLength, length, V) = (3, 12, config.vocabSize)
        let hits: [[Bool]] = [(0 ..< 9).map { $0 % 3 != 1 }, (0 ..< 9).map { $0 % 4 == 0 }]
        var batch = Kit.batch(length: length, promptLengths: [promptLength, promptLength], completionLengths: [9, 9],
                              vocab: V, seed: 32)
        for t in promptLength ..< length {
            let logits = model.logits(batch)
            for b in 0 ..< batch.count {
                let row = Array(logits[((b * length + t - 1) * V) ..< ((b * length + t) * V)])
                let argmax = row.firstIndex(of: row.max()!)!
                batch.tokens[b * length + t] = Int32(hits[b][t - promptLength] ? argmax : (argmax + 1) % V)
            }
        }
        let scores = model.score(batch, training: false)
        #expect(scores.correctTokenCounts == hits.map { $0.filter { $0 }.count })
        #expect(scores.correctTokenCounts == referenceScores(model, batch).correct)
    }

    @Test func promptAndPaddingAreNotScored() {
        let model = Kit.randomizedModel(Kit.tinyConfig, seed: 2)
        var batch = Kit.batch(length: 6, promptLengths: [2, 3, 1], completionLengths: [2, 3, 0], vocab: 11, seed: 9)
        let scores = model.score(batch, training: false)
        #expect(scores.tokenCounts == [2, 3, 0])
        #expect(scores.logProbSums[2] == 0 && scores.meanLogitSums[2] == 0)
        #expect(scores.logProbSums[0] < 0 && scores.logProbSums[1] < 0)

        // Changing padding tokens changes nothing; changing a prompt token changes only that sequence.
        for index in [4, 5, 13, 14, 15, 16, 17] { batch.tokens[index] = 10 }
        #expect(model.score(batch, training: false) == scores)
        batch.tokens[0] = (batch.tokens[0] + 1) % 11
        let changed = model.score(batch, training: false)
        #expect(changed.logProbSums[0] != scores.logProbSums[0])
        #expect(changed.logProbSums[1] == scores.logProbSums[1])
    }

    @Test(arguments: Self.longConfigs.indices)
    func paddedBatchEqualsSequencesScoredOneAtATime(configIndex: Int) {
        let config = Self.longConfigs[configIndex]
        let model = Kit.randomizedModel(config, seed: 4)
        let prompts = [10, 5, 25], completions = [70, 20, 60]
        let batch = Kit.batch(length: 90, promptLengths: prompts, completionLengths: completions,
                              vocab: config.vocabSize, seed: 8, padToken: 7)
        let weights: [Float] = [0.7, -1.3, 0.4]
        let batched = model.score(batch, training: true)
        model.zeroGradients()
        model.backward(dLogProbSums: weights)
        let batchedGradients = Array(model.gradients)

        var summedGradients = [Float](repeating: 0, count: model.parameterCount)
        for b in 0 ..< batch.count {
            let single = Kit.single(batch, b, length: prompts[b] + completions[b])
            let alone = model.score(single, training: true)
            #expect(alone.tokenCounts[0] == batched.tokenCounts[b])
            #expect(abs(alone.logProbSums[0] - batched.logProbSums[b]) <= 1e-5 * abs(batched.logProbSums[b]),
                    "sequence \(b): \(alone.logProbSums[0]) alone vs \(batched.logProbSums[b]) batched")
            #expect(abs(alone.meanLogitSums[0] - batched.meanLogitSums[b]) <= 1e-5 * max(1, abs(batched.meanLogitSums[b])))
            model.zeroGradients()
            model.backward(dLogProbSums: [weights[b]])
            for index in summedGradients.indices { summedGradients[index] += model.gradients[index] }
        }
        let error = Kit.relativeError(batchedGradients, summedGradients)
        #expect(error < 1e-4, "batched vs summed single-sequence gradients: relative error \(error)")
    }

    @Test func referenceForwardEqualsTrainingForward() {
        let policy = Kit.randomizedModel(Kit.tinyConfig, seed: 6)
        let reference = DecoderModel(config: Kit.tinyConfig, trainable: false, parallel: .serial)
        reference.copyParameters(from: policy)
        let batch = Kit.batch(length: 6, promptLengths: [1, 2, 3], completionLengths: [5, 2, 3], vocab: 11, seed: 1)
        let training = policy.score(batch, training: true)
        #expect(reference.score(batch, training: false) == training)
        #expect(policy.score(batch, training: false) == training)
    }

    @Test func activationsGrowAndShrinkWithTheBatchShape() {
        let model = Kit.randomizedModel(Self.longConfig, seed: 12)
        let small = Kit.batch(length: 8, promptLengths: [3, 2], completionLengths: [5, 4], vocab: 23, seed: 1)
        let large = Kit.batch(length: 40, promptLengths: [3, 9, 1, 4], completionLengths: [30, 20, 39, 10], vocab: 23, seed: 2)
        let smallFirst = model.score(small, training: true)
        let largeScores = model.score(large, training: false)
        #expect(model.score(small, training: false) == smallFirst)
        let fresh = Kit.randomizedModel(Self.longConfig, seed: 12)
        #expect(fresh.score(large, training: true) == largeScores)
    }

    @Test(arguments: Self.longConfigs.indices)
    func multithreadedModelMatchesSerial(configIndex: Int) {
        let serial = Kit.randomizedModel(Self.longConfigs[configIndex], seed: 13)
        let threaded = Kit.randomizedModel(Self.longConfigs[configIndex], seed: 13, parallel: Parallel(threads: 2))
        let batch = Kit.batch(length: 64, promptLengths: [4, 30, 10, 2], completionLengths: [60, 30, 40, 5],
                              vocab: 23, seed: 5)
        let serialScores = serial.score(batch, training: true)
        let threadedScores = threaded.score(batch, training: true)
        #expect(Kit.relativeError(threadedScores.logProbSums, serialScores.logProbSums) < 1e-5)
        serial.backward(dLogProbSums: [1, -1, 0.5, 2])
        threaded.backward(dLogProbSums: [1, -1, 0.5, 2])
        #expect(Kit.relativeError(Array(threaded.gradients), Array(serial.gradients)) < 1e-5)
    }

    @Test func invalidBatchesAreDescribed() {
        let config = Kit.tinyConfig
        let tooLong = SequenceBatch(count: 1, length: 7, tokens: Array(repeating: 0, count: 7), scoreMask: Array(repeating: 0, count: 7))
        #expect(throws: ModelError.invalidBatch("length 7 exceeds the model's 6 positions")) { try tooLong.validate(for: config) }
        var outOfVocabulary = Kit.batch(length: 4, promptLengths: [2, 2], completionLengths: [2, 2], vocab: 11, seed: 1)
        outOfVocabulary.tokens[5] = 11
        #expect(throws: ModelError.invalidBatch("token 11 at sequence 1, position 1 is outside the vocabulary 0..<11")) {
            try outOfVocabulary.validate(for: config)
        }
        var scoresFirst = Kit.batch(length: 4, promptLengths: [2, 2], completionLengths: [2, 2], vocab: 11, seed: 1)
        scoresFirst.scoreMask[4] = 1
        #expect(throws: ModelError.self) { try scoresFirst.validate(for: config) }
        let wrongSize = SequenceBatch(count: 2, length: 3, tokens: [1, 2, 3], scoreMask: [0, 0, 0, 0, 0, 0])
        #expect(throws: ModelError.invalidBatch("3 tokens for count 2 × length 3")) { try wrongSize.validate(for: config) }
    }
}
