import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 2e-5 relative against the Double reference (fp32 dot products of length headSize ≤ 33 and
// softmax sums of length ≤ 101); 1e-4 against finite differences (step 1e-5 in Double).

/// Plain Double causal attention over qkv [batch, seqLen, (heads + 2·kvHeads)·hs] (q|k|v, heads contiguous),
/// scale 1/√hs; query head h uses key/value head h / (heads/kvHeads).
private struct AttentionReference {
    let shape: AttentionShape
    var headSize: Int { shape.headSize }
    var outputWidth: Int { shape.heads * headSize }

    /// Index of element i of head h of part 0 (q, head h), 1 (k, kv head of h) or 2 (v, kv head of h) at (b, t).
    func index(_ b: Int, _ t: Int, part: Int, _ h: Int, _ i: Int) -> Int {
        let group = h / (shape.heads / shape.keyValueHeads)
        let column = part == 0 ? h * headSize
            : (shape.heads + (part - 1) * shape.keyValueHeads + group) * headSize
        return (b * shape.seqLen + t) * shape.qkvWidth + column + i
    }

    /// The scaled scores of query t against keys 0...t.
    func scores(_ qkv: [Double], _ b: Int, _ h: Int, _ t: Int) -> [Double] {
        let scale = 1 / Double(headSize).squareRoot()
        return (0...t).map { t2 in
            (0..<headSize).reduce(0.0) { $0 + qkv[index(b, t, part: 0, h, $1)] * qkv[index(b, t2, part: 1, h, $1)] } * scale
        }
    }

    /// Softmax of the scaled scores of query t against keys 0...t.
    func probabilities(_ qkv: [Double], _ b: Int, _ h: Int, _ t: Int) -> [Double] {
        let scores = scores(qkv, b, h, t)
        let maximum = scores.max()!
        let exponentials = scores.map { exp($0 - maximum) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    func forward(_ qkv: [Double]) -> (out: [Double], logSumExp: [Double]) {
        let (batch, seqLen, heads) = (shape.batch, shape.seqLen, shape.heads)
        var out = [Double](repeating: 0, count: batch * seqLen * outputWidth)
        var logSumExp = [Double](repeating: 0, count: shape.logSumExpCount)
        for b in 0..<batch {
            for h in 0..<heads {
                for t in 0..<seqLen {
                    let p = probabilities(qkv, b, h, t)
                    logSumExp[(b * heads + h) * seqLen + t] = log(scores(qkv, b, h, t).reduce(0) { $0 + exp($1) })
                    for t2 in 0...t {
                        for i in 0..<headSize {
                            out[(b * seqLen + t) * outputWidth + h * headSize + i] += p[t2] * qkv[index(b, t2, part: 2, h, i)]
                        }
                    }
                }
            }
        }
        return (out, logSumExp)
    }

    func backward(dout: [Double], qkv: [Double]) -> [Double] {
        let scale = 1 / Double(headSize).squareRoot()
        var dqkv = [Double](repeating: 0, count: qkv.count)
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                for t in 0..<shape.seqLen {
                    let p = probabilities(qkv, b, h, t)
                    let g = (0..<headSize).map { dout[(b * shape.seqLen + t) * outputWidth + h * headSize + $0] }
                    let dp = (0...t).map { t2 in (0..<headSize).reduce(0.0) { $0 + g[$1] * qkv[index(b, t2, part: 2, h, $1)] } }
                    let weighted = zip(p, dp).reduce(0) { $0 + $1.0 * $1.1 }
                    for t2 in 0...t {
                        let dscore = p[t2] * (dp[t2] - weighted) * scale
                        for i in 0..<headSize {
                            dqkv[index(b, t2, part: 2, h, i)] += p[t2] * g[i]
                            dqkv[index(b, t, part: 0, h, i)] += dscore * qkv[index(b, t2, part: 1, h, i)]
                            dqkv[index(b, t2, part: 1, h, i)] += dscore * qkv[index(b, t, part: 0, h, i)]
                        }
                    }
                }
            }
        }
        return dqkv
    }
}

/// seqLen 1 to 101, head sizes 4, 5, 17, 33 and 16, multi-head and grouped-query (2 and 3 query heads per key/value
/// head, and one key/value head for all).
private let attentionShapes: [AttentionShape] = [
    AttentionShape(batch: 1, seqLen: 1, heads: 1, keyValueHeads: 1, headSize: 4),
    AttentionShape(batch: 2, seqLen: 3, heads: 2, keyValueHeads: 2, headSize: 4),
    AttentionShape(batch: 1, seqLen: 5, heads: 4, keyValueHeads: 4, headSize: 5),
    AttentionShape(batch: 2, seqLen: 7, heads: 2, keyValueHeads: 2, headSize: 17),
    AttentionShape(batch: 1, seqLen: 17, heads: 2, keyValueHeads: 2, headSize: 33),
    AttentionShape(batch: 2, seqLen: 32, heads: 4, keyValueHeads: 4, headSize: 16),
    AttentionShape(batch: 2, seqLen: 6, heads: 4, keyValueHeads: 2, headSize: 5),
    AttentionShape(batch: 1, seqLen: 9, heads: 6, keyValueHeads: 2, headSize: 8),
    AttentionShape(batch: 2, seqLen: 5, heads: 3, keyValueHeads: 1, headSize: 6),
    // more than two query blocks (attentionQueryBlock = 48), the last one partial
    AttentionShape(batch: 1, seqLen: 101, heads: 4, keyValueHeads: 2, headSize: 16),
]

/// Runs forward (outputs prefilled with garbage) and backward (dqkv prefilled with `start`) and returns out,
/// logSumExp, dqkv.
private func runAttention(_ shape: AttentionShape, qkv: [Float], dout: [Float],
                          start: [Float], parallel: Parallel) -> (out: [Float], logSumExp: [Float], dqkv: [Float]) {
    var random = SplitMix64(seed: 1)
    let qkvBuffer = TestBuffer(qkv), doutBuffer = TestBuffer(dout)
    let out = TestBuffer(random.floats(shape.batch * shape.seqLen * shape.outputWidth))
    let logSumExp = TestBuffer(random.floats(shape.logSumExpCount))
    attentionForward(out: out.pointer, logSumExp: logSumExp.pointer, qkv: qkvBuffer.pointer, shape: shape, parallel: parallel)
    let dqkv = TestBuffer(start)
    attentionBackward(dqkv: dqkv.pointer, dout: doutBuffer.pointer, qkv: qkvBuffer.pointer, logSumExp: logSumExp.pointer,
                      shape: shape, parallel: parallel)
    return (out.values, logSumExp.values, dqkv.values)
}

/// Random q|k|v and output gradient for `shape`.
private func attentionInputs(_ shape: AttentionShape, seed: UInt64) -> (qkv: [Float], dout: [Float], start: [Float]) {
    var random = SplitMix64(seed: seed)
    let rows = shape.batch * shape.seqLen
    let qkv = random.floats(rows * shape.qkvWidth, magnitude: 2)
    return (qkv, random.floats(rows * shape.outputWidth), random.floats(qkv.count))
}

@Test(arguments: attentionShapes.indices)
func attentionMatchesReference(shapeIndex: Int) {
    let shape = attentionShapes[shapeIndex]
    let (qkv, dout, start) = attentionInputs(shape, seed: 1400 + UInt64(shapeIndex))
    let result = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: Parallel(threads: 2))
    let reference = AttentionReference(shape: shape)
    let expected = reference.forward(doubles(qkv))
    expectClose(result.out, expected.out, relative: 2e-5, "out \(shape)")
    expectClose(result.logSumExp, expected.logSumExp, relative: 2e-5, "logSumExp \(shape)")
    expectClose(result.dqkv, adding(start, reference.backward(dout: doubles(dout), qkv: doubles(qkv))), relative: 2e-5, "dqkv \(shape)")
}

@Test(arguments: [AttentionShape(batch: 2, seqLen: 3, heads: 2, keyValueHeads: 2, headSize: 3),
                  AttentionShape(batch: 2, seqLen: 3, heads: 4, keyValueHeads: 2, headSize: 3)])
func attentionBackwardMatchesFiniteDifferences(shape: AttentionShape) {
    let (qkv, dout, _) = attentionInputs(shape, seed: 1500)
    let result = runAttention(shape, qkv: qkv, dout: dout, start: [Float](repeating: 0, count: qkv.count), parallel: .serial)
    let reference = AttentionReference(shape: shape)
    let numeric = finiteDifferenceGradient(at: doubles(qkv)) { weightedSum(reference.forward($0).out, dout) }
    expectClose(result.dqkv, numeric, relative: 1e-4, "dqkv vs finite differences \(shape)")
}

/// Threads split (batch, head) pairs in forward and (batch, key/value head) pairs in backward, whose outputs are
/// disjoint, so results must agree bit for bit.
@Test(arguments: [AttentionShape(batch: 3, seqLen: 9, heads: 3, keyValueHeads: 3, headSize: 8),
                  AttentionShape(batch: 3, seqLen: 9, heads: 6, keyValueHeads: 2, headSize: 8)])
func attentionIsIdenticalWithOneAndTwoThreads(shape: AttentionShape) {
    let (qkv, dout, start) = attentionInputs(shape, seed: 1600)
    let serial = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: .serial)
    let threaded = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: Parallel(threads: 2))
    #expect(serial.out == threaded.out)
    #expect(serial.logSumExp == threaded.logSumExp)
    #expect(serial.dqkv == threaded.dqkv)
}

/// The last `rows` positions of a random sequence, attended through a cache that holds the k|v part of every qkv row:
/// (shape, rows). Single rows (a decode step) and several (a multi-token continuation), multi-head and grouped-query.
private let cachedAttentionCases: [(shape: AttentionShape, rows: Int)] = [
    (AttentionShape(batch: 1, seqLen: 1, heads: 1, keyValueHeads: 1, headSize: 4), 1),
    (AttentionShape(batch: 1, seqLen: 7, heads: 2, keyValueHeads: 2, headSize: 17), 1),
    (AttentionShape(batch: 1, seqLen: 9, heads: 6, keyValueHeads: 2, headSize: 8), 3),
    (AttentionShape(batch: 1, seqLen: 60, heads: 4, keyValueHeads: 1, headSize: 16), 2),
]

/// cachedAttentionForward's output for `rows` final positions of `qkv` [seqLen, qkvWidth], keys and values read in
/// place from the qkv rows (cacheStride = qkvWidth), queries from the last rows.
private func runCachedAttention(_ shape: AttentionShape, rows: Int, qkv: [Float], parallel: Parallel) -> [Float] {
    let qkvBuffer = TestBuffer(qkv)
    var random = SplitMix64(seed: 2)
    let out = TestBuffer(random.floats(rows * shape.outputWidth))
    let firstPosition = shape.seqLen - rows
    cachedAttentionForward(out: out.pointer, queries: qkvBuffer.pointer + firstPosition * shape.qkvWidth,
                           queryStride: shape.qkvWidth, keys: qkvBuffer.pointer + shape.keyOffset(0),
                           values: qkvBuffer.pointer + shape.valueOffset(0), cacheStride: shape.qkvWidth,
                           firstPosition: firstPosition, rows: rows, heads: shape.heads,
                           keyValueHeads: shape.keyValueHeads, headSize: shape.headSize, parallel: parallel)
    return out.values
}

@Test(arguments: cachedAttentionCases.indices)
func cachedAttentionMatchesTheLastRowsOfTheReference(caseIndex: Int) {
    let (shape, rows) = cachedAttentionCases[caseIndex]
    let (qkv, _, _) = attentionInputs(shape, seed: 1700 + UInt64(caseIndex))
    let expected = AttentionReference(shape: shape).forward(doubles(qkv)).out
    let lastRows = Array(expected[((shape.seqLen - rows) * shape.outputWidth)...])
    expectClose(runCachedAttention(shape, rows: rows, qkv: qkv, parallel: Parallel(threads: 2)), lastRows,
                relative: 2e-5, "cached attention \(shape), \(rows) rows")
}

/// Threads split (row, head) pairs, whose outputs are disjoint.
@Test func cachedAttentionIsIdenticalWithOneAndTwoThreads() {
    let shape = AttentionShape(batch: 1, seqLen: 30, heads: 6, keyValueHeads: 2, headSize: 8)
    let (qkv, _, _) = attentionInputs(shape, seed: 1800)
    #expect(runCachedAttention(shape, rows: 4, qkv: qkv, parallel: .serial)
            == runCachedAttention(shape, rows: 4, qkv: qkv, parallel: Parallel(threads: 2)))
}
