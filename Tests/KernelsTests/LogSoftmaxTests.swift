import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 1e-5 relative for log-probs, log-sum-exp and logit sums (Double sums, one fp32 exp per element) and for
// dlogits against the Double reference; 1e-4 against finite differences (step 1e-5 in Double).

private func referenceLogSumExp(_ row: ArraySlice<Double>) -> Double {
    let maximum = row.max()!
    return maximum + log(row.reduce(0) { $0 + exp($1 - maximum) })
}

private struct LogSoftmaxCase {
    let rows: Int, vocab: Int
    let logits: [Float], targets: [Int32], dLogProbs: [Float]

    init(rows: Int, vocab: Int, seed: UInt64, offset: Float = 0) {
        var random = SplitMix64(seed: seed)
        self.rows = rows
        self.vocab = vocab
        logits = random.floats(rows * vocab, magnitude: 8).map { $0 + offset }
        targets = random.tokens(rows, below: vocab)
        // every third row gets no gradient, as padding rows do
        dLogProbs = (0..<rows).map { $0 % 3 == 2 ? 0 : random.nextFloat() }
    }

    func row(_ r: Int, of values: [Double]) -> ArraySlice<Double> { values[(r * vocab)..<((r + 1) * vocab)] }

    func referenceLogProbs(_ logits: [Double]) -> [Double] {
        (0..<rows).map { r in logits[r * vocab + Int(targets[r])] - referenceLogSumExp(row(r, of: logits)) }
    }

    func referenceDlogits() -> [Double] {
        let logits = doubles(self.logits)
        return (0..<(rows * vocab)).map { index in
            let r = index / vocab
            let probability = exp(logits[index] - referenceLogSumExp(row(r, of: logits)))
            return Double(dLogProbs[r]) * ((index % vocab == Int(targets[r]) ? 1 : 0) - probability)
        }
    }

    /// Runs forward then backward; dlogits starts as garbage, which the backward must overwrite.
    func run(parallel: Parallel) -> (logProbs: [Float], logSumExp: [Float], logitSums: [Float], dlogits: [Float]) {
        var random = SplitMix64(seed: 7)
        let logitsBuffer = TestBuffer(logits), targetsBuffer = TestBuffer(targets), dLogProbsBuffer = TestBuffer(dLogProbs)
        let logProbs = TestBuffer(random.floats(rows)), logSumExp = TestBuffer(random.floats(rows)), logitSums = TestBuffer(random.floats(rows))
        logSoftmaxGatherForward(logProbs: logProbs.pointer, logSumExp: logSumExp.pointer, logitSums: logitSums.pointer,
                                logits: logitsBuffer.pointer, targets: targetsBuffer.pointer, rows: rows, vocab: vocab, parallel: parallel)
        let dlogits = TestBuffer(random.floats(rows * vocab))
        logSoftmaxGatherBackward(dlogits: dlogits.pointer, dLogProbs: dLogProbsBuffer.pointer, logits: logitsBuffer.pointer,
                                 logSumExp: logSumExp.pointer, targets: targetsBuffer.pointer, rows: rows, vocab: vocab, parallel: parallel)
        return (logProbs.values, logSumExp.values, logitSums.values, dlogits.values)
    }
}

private let logSoftmaxShapes: [(rows: Int, vocab: Int)] = [(1, 1), (3, 5), (2, 17), (4, 33), (3, 257), (5, 1000)]

@Test(arguments: logSoftmaxShapes.indices)
func logSoftmaxGatherMatchesReference(shapeIndex: Int) {
    let (rows, vocab) = logSoftmaxShapes[shapeIndex]
    let testCase = LogSoftmaxCase(rows: rows, vocab: vocab, seed: 1700 + UInt64(shapeIndex))
    let result = testCase.run(parallel: Parallel(threads: 2))
    let logits = doubles(testCase.logits)
    let label = "\(logSoftmaxShapes[shapeIndex])"
    expectClose(result.logProbs, testCase.referenceLogProbs(logits), relative: 1e-5, "logProbs \(label)")
    expectClose(result.logSumExp, (0..<rows).map { referenceLogSumExp(testCase.row($0, of: logits)) }, relative: 1e-5, "logSumExp \(label)")
    expectClose(result.logitSums, (0..<rows).map { testCase.row($0, of: logits).reduce(0, +) }, relative: 1e-5, "logitSums \(label)")
    expectClose(result.dlogits, testCase.referenceDlogits(), relative: 1e-5, "dlogits \(label)")
    for r in 0..<rows where testCase.dLogProbs[r] == 0 {
        #expect(result.dlogits[(r * vocab)..<((r + 1) * vocab)].allSatisfy { $0 == 0 }, "row \(r) without gradient must be all 0")
    }
}

/// Logits around 1000 overflow exp in Float unless the row max is subtracted.
@Test func logSoftmaxGatherIsStableForLargeLogits() {
    let testCase = LogSoftmaxCase(rows: 3, vocab: 40, seed: 1800, offset: 1000)
    let result = testCase.run(parallel: .serial)
    expectClose(result.logProbs, testCase.referenceLogProbs(doubles(testCase.logits)), relative: 1e-4, "logProbs")
    expectClose(result.dlogits, testCase.referenceDlogits(), relative: 1e-4, "dlogits")
}

@Test func logSoftmaxGatherSkipsNilLogitSums() {
    let testCase = LogSoftmaxCase(rows: 2, vocab: 9, seed: 1850)
    let logits = TestBuffer(testCase.logits), targets = TestBuffer(testCase.targets)
    let logProbs = TestBuffer<Float>(zeros: 2), logSumExp = TestBuffer<Float>(zeros: 2)
    logSoftmaxGatherForward(logProbs: logProbs.pointer, logSumExp: logSumExp.pointer, logitSums: nil, logits: logits.pointer,
                            targets: targets.pointer, rows: 2, vocab: 9, parallel: .serial)
    #expect(logProbs.values == testCase.run(parallel: .serial).logProbs)
}

@Test func logSoftmaxGatherBackwardMatchesFiniteDifferences() {
    let testCase = LogSoftmaxCase(rows: 4, vocab: 6, seed: 1900)
    let result = testCase.run(parallel: .serial)
    let numeric = finiteDifferenceGradient(at: doubles(testCase.logits)) { weightedSum(testCase.referenceLogProbs($0), testCase.dLogProbs) }
    expectClose(result.dlogits, numeric, relative: 1e-4, "dlogits vs finite differences")
}

/// Entropy −Σ p·log p of each row's softmax, log Σ p² and the first index of its largest logit, next to the log-probs.
@Test(arguments: logSoftmaxShapes.indices)
func logSoftmaxGatherReportsEntropyArgmaxAndSquaredProbabilities(shapeIndex: Int) {
    let (rows, vocab) = logSoftmaxShapes[shapeIndex]
    let testCase = LogSoftmaxCase(rows: rows, vocab: vocab, seed: 1950 + UInt64(shapeIndex))
    let logits = TestBuffer(testCase.logits), targets = TestBuffer(testCase.targets)
    let logProbs = TestBuffer<Float>(zeros: rows), logSumExp = TestBuffer<Float>(zeros: rows)
    let entropies = TestBuffer<Float>(zeros: rows), argmaxes = TestBuffer([Int32](repeating: -1, count: rows))
    let logSumSquaredProbs = TestBuffer<Float>(zeros: rows)
    logSoftmaxGatherForward(logProbs: logProbs.pointer, logSumExp: logSumExp.pointer, logitSums: nil,
                            entropies: entropies.pointer, argmaxes: argmaxes.pointer,
                            logSumSquaredProbs: logSumSquaredProbs.pointer, logits: logits.pointer,
                            targets: targets.pointer, rows: rows, vocab: vocab, parallel: Parallel(threads: 2))
    let values = doubles(testCase.logits)
    let expectedEntropies = (0..<rows).map { r -> Double in
        let row = testCase.row(r, of: values)
        let logSumExp = referenceLogSumExp(row)
        return -row.reduce(0) { $0 + exp($1 - logSumExp) * ($1 - logSumExp) }
    }
    expectClose(entropies.values, expectedEntropies, relative: 1e-5, "entropy \(logSoftmaxShapes[shapeIndex])")
    let expectedLogSumSquares = (0..<rows).map { r -> Double in
        let row = testCase.row(r, of: values)
        let logSumExp = referenceLogSumExp(row)
        return log(row.reduce(0) { $0 + exp(2 * ($1 - logSumExp)) })
    }
    expectClose(logSumSquaredProbs.values, expectedLogSumSquares, relative: 1e-5,
                "log Σ p² \(logSoftmaxShapes[shapeIndex])")
    let expectedArgmaxes = (0..<rows).map { r in
        let row = Array(testCase.row(r, of: values))
        return Int32(row.firstIndex(of: row.max()!)!)
    }
    #expect(argmaxes.values == expectedArgmaxes)
    #expect(logProbs.values == testCase.run(parallel: .serial).logProbs, "the extra outputs must not change the log-probs")
}

/// A tie keeps the first index (as torch.argmax), and a one-hot row has entropy 0 while a uniform row has log(vocab).
@Test func logSoftmaxGatherArgmaxTiesAndEntropyExtremes() {
    let logits = TestBuffer<Float>([1, 5, 5, 2, /**/ 0, 0, 0, 0, /**/ -200, 300, -200, -200])
    let targets = TestBuffer<Int32>([0, 1, 1])
    let logProbs = TestBuffer<Float>(zeros: 3), logSumExp = TestBuffer<Float>(zeros: 3), entropies = TestBuffer<Float>(zeros: 3)
    let argmaxes = TestBuffer([Int32](repeating: -1, count: 3))
    logSoftmaxGatherForward(logProbs: logProbs.pointer, logSumExp: logSumExp.pointer, logitSums: nil,
                            entropies: entropies.pointer, argmaxes: argmaxes.pointer, logits: logits.pointer,
                            targets: targets.pointer, rows: 3, vocab: 4, parallel: .serial)
    #expect(argmaxes.values == [1, 0, 1])
    #expect(abs(entropies.values[1] - Float(log(4.0))) <= 1e-6)
    #expect(entropies.values[2] == 0)
}
