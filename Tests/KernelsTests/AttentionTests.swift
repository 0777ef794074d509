import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 2e-5 relative against the Double reference (fp32 dot products of length headSize ≤ 33 and
// softmax sums of length ≤ 32); 1e-4 against finite differences (step 1e-5 in Double).

/// Plain Double causal attention over qkv [batch, seqLen, 3·channels] (q|k|v, heads contiguous), scale 1/√hs.
private struct AttentionReference {
    let batch: Int, seqLen: Int, channels: Int, heads: Int
    var headSize: Int { channels / heads }

    func index(_ b: Int, _ t: Int, part: Int, _ h: Int, _ i: Int) -> Int {
        (b * seqLen + t) * 3 * channels + part * channels + h * headSize + i
    }

    /// Softmax of the scaled scores of query t against keys 0...t.
    func probabilities(_ qkv: [Double], _ b: Int, _ h: Int, _ t: Int) -> [Double] {
        let scale = 1 / Double(headSize).squareRoot()
        let scores = (0...t).map { t2 in
            (0..<headSize).reduce(0.0) { $0 + qkv[index(b, t, part: 0, h, $1)] * qkv[index(b, t2, part: 1, h, $1)] } * scale
        }
        let maximum = scores.max()!
        let exponentials = scores.map { exp($0 - maximum) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    func forward(_ qkv: [Double]) -> (out: [Double], att: [Double]) {
        var out = [Double](repeating: 0, count: batch * seqLen * channels)
        var att = [Double](repeating: 0, count: batch * heads * seqLen * seqLen)
        for b in 0..<batch {
            for h in 0..<heads {
                for t in 0..<seqLen {
                    let p = probabilities(qkv, b, h, t)
                    for t2 in 0...t {
                        att[((b * heads + h) * seqLen + t) * seqLen + t2] = p[t2]
                        for i in 0..<headSize {
                            out[(b * seqLen + t) * channels + h * headSize + i] += p[t2] * qkv[index(b, t2, part: 2, h, i)]
                        }
                    }
                }
            }
        }
        return (out, att)
    }

    func backward(dout: [Double], qkv: [Double]) -> [Double] {
        let scale = 1 / Double(headSize).squareRoot()
        var dqkv = [Double](repeating: 0, count: qkv.count)
        for b in 0..<batch {
            for h in 0..<heads {
                for t in 0..<seqLen {
                    let p = probabilities(qkv, b, h, t)
                    let g = (0..<headSize).map { dout[(b * seqLen + t) * channels + h * headSize + $0] }
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

/// (batch, seqLen, channels, heads): seqLen 1, head sizes 4, 5, 17, 33 and 16.
private let attentionShapes: [(batch: Int, seqLen: Int, channels: Int, heads: Int)] = [
    (1, 1, 4, 1), (2, 3, 8, 2), (1, 5, 20, 4), (2, 7, 34, 2), (1, 17, 66, 2), (2, 32, 64, 4),
]

/// Runs forward and backward (dqkv prefilled with `start`, scratch filled with garbage) and returns out, att, dqkv.
private func runAttention(_ shape: (batch: Int, seqLen: Int, channels: Int, heads: Int), qkv: [Float], dout: [Float],
                          start: [Float], parallel: Parallel) -> (out: [Float], att: [Float], dqkv: [Float]) {
    let (batch, seqLen, channels, heads) = shape
    var random = SplitMix64(seed: 1)
    let attCount = batch * heads * seqLen * seqLen
    let qkvBuffer = TestBuffer(qkv), doutBuffer = TestBuffer(dout)
    let out = TestBuffer(random.floats(batch * seqLen * channels)), att = TestBuffer(random.floats(attCount))
    attentionForward(out: out.pointer, att: att.pointer, qkv: qkvBuffer.pointer,
                     batch: batch, seqLen: seqLen, channels: channels, heads: heads, parallel: parallel)
    let dqkv = TestBuffer(start), scratch = TestBuffer(random.floats(attCount))
    attentionBackward(dqkv: dqkv.pointer, scratch: scratch.pointer, dout: doutBuffer.pointer, qkv: qkvBuffer.pointer, att: att.pointer,
                      batch: batch, seqLen: seqLen, channels: channels, heads: heads, parallel: parallel)
    return (out.values, att.values, dqkv.values)
}

@Test(arguments: attentionShapes.indices)
func attentionMatchesReference(shapeIndex: Int) {
    let shape = attentionShapes[shapeIndex]
    var random = SplitMix64(seed: 1400 + UInt64(shapeIndex))
    let qkv = random.floats(shape.batch * shape.seqLen * 3 * shape.channels, magnitude: 2)
    let dout = random.floats(shape.batch * shape.seqLen * shape.channels)
    let start = random.floats(qkv.count)
    let result = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: Parallel(threads: 2))
    let reference = AttentionReference(batch: shape.batch, seqLen: shape.seqLen, channels: shape.channels, heads: shape.heads)
    let expected = reference.forward(doubles(qkv))
    expectClose(result.out, expected.out, relative: 2e-5, "out \(shape)")
    expectClose(result.att, expected.att, relative: 2e-5, "att \(shape)")
    #expect(zip(result.att, expected.att).allSatisfy { $1 != 0 || $0 == 0 }, "att above the diagonal must be exactly 0")
    expectClose(result.dqkv, adding(start, reference.backward(dout: doubles(dout), qkv: doubles(qkv))), relative: 2e-5, "dqkv \(shape)")
}

@Test func attentionBackwardMatchesFiniteDifferences() {
    let shape = (batch: 2, seqLen: 3, channels: 6, heads: 2)
    var random = SplitMix64(seed: 1500)
    let qkv = random.floats(shape.batch * shape.seqLen * 3 * shape.channels, magnitude: 2)
    let dout = random.floats(shape.batch * shape.seqLen * shape.channels)
    let result = runAttention(shape, qkv: qkv, dout: dout, start: [Float](repeating: 0, count: qkv.count), parallel: .serial)
    let reference = AttentionReference(batch: shape.batch, seqLen: shape.seqLen, channels: shape.channels, heads: shape.heads)
    let numeric = finiteDifferenceGradient(at: doubles(qkv)) { weightedSum(reference.forward($0).out, dout) }
    expectClose(result.dqkv, numeric, relative: 1e-4, "dqkv vs finite differences")
}

/// Threads split (batch, head) pairs whose outputs are disjoint, so results must agree bit for bit.
@Test func attentionIsIdenticalWithOneAndTwoThreads() {
    let shape = (batch: 3, seqLen: 9, channels: 24, heads: 3)
    var random = SplitMix64(seed: 1600)
    let qkv = random.floats(shape.batch * shape.seqLen * 3 * shape.channels, magnitude: 2)
    let dout = random.floats(shape.batch * shape.seqLen * shape.channels)
    let start = random.floats(qkv.count)
    let serial = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: .serial)
    let threaded = runAttention(shape, qkv: qkv, dout: dout, start: start, parallel: Parallel(threads: 2))
    #expect(serial.out == threaded.out)
    #expect(serial.att == threaded.att)
    #expect(serial.dqkv == threaded.dqkv)
}
