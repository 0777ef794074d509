import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 1e-5 relative against the Double reference (one exp per element);
// 1e-4 against finite differences (step 1e-5 in Double).

private func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

/// out[r, i] = silu(gate[r, i])·up[r, i] with inp rows gate | up.
private func referenceSwiGLU(_ inp: [Double], rows: Int, hidden: Int) -> [Double] {
    (0..<(rows * hidden)).map { index in
        let (r, i) = (index / hidden, index % hidden)
        let gate = inp[r * 2 * hidden + i], up = inp[r * 2 * hidden + hidden + i]
        return gate * sigmoid(gate) * up
    }
}

/// (rows, hidden): tiny, odd and above the thread-split threshold.
private let swigluShapes: [(rows: Int, hidden: Int)] = [(1, 1), (3, 5), (2, 17), (9, 2_000)]

private func runSwiGLU(rows: Int, hidden: Int, seed: UInt64, parallel: Parallel)
    -> (inp: [Float], dout: [Float], start: [Float], out: [Float], dinp: [Float]) {
    var random = SplitMix64(seed: seed)
    let inpValues = random.floats(rows * 2 * hidden, magnitude: 6)
    let doutValues = random.floats(rows * hidden)
    let start = random.floats(rows * 2 * hidden)
    let inp = TestBuffer(inpValues), dout = TestBuffer(doutValues)
    let out = TestBuffer(random.floats(rows * hidden)), dinp = TestBuffer(start)
    swigluForward(out: out.pointer, inp: inp.pointer, rows: rows, hidden: hidden, parallel: parallel)
    swigluBackward(dinp: dinp.pointer, inp: inp.pointer, dout: dout.pointer, rows: rows, hidden: hidden, parallel: parallel)
    return (inpValues, doutValues, start, out.values, dinp.values)
}

@Test(arguments: swigluShapes.indices)
func swigluMatchesReference(shapeIndex: Int) {
    let (rows, hidden) = swigluShapes[shapeIndex]
    let run = runSwiGLU(rows: rows, hidden: hidden, seed: 2800 + UInt64(shapeIndex), parallel: Parallel(threads: 2))
    let inp = doubles(run.inp)
    expectClose(run.out, referenceSwiGLU(inp, rows: rows, hidden: hidden), relative: 1e-5, "out \(swigluShapes[shapeIndex])")
    var expected = [Double](repeating: 0, count: inp.count)
    for r in 0..<rows {
        for i in 0..<hidden {
            let (gateIndex, upIndex) = (r * 2 * hidden + i, r * 2 * hidden + hidden + i)
            let (gate, up, g) = (inp[gateIndex], inp[upIndex], Double(run.dout[r * hidden + i]))
            let s = sigmoid(gate)
            expected[gateIndex] = g * up * (s + gate * s * (1 - s))
            expected[upIndex] = g * gate * s
        }
    }
    expectClose(run.dinp, adding(run.start, expected), relative: 1e-5, "dinp \(swigluShapes[shapeIndex])")
}

@Test func swigluBackwardMatchesFiniteDifferences() {
    let (rows, hidden) = (3, 4)
    let run = runSwiGLU(rows: rows, hidden: hidden, seed: 2900, parallel: .serial)
    let numeric = finiteDifferenceGradient(at: doubles(run.inp)) { weightedSum(referenceSwiGLU($0, rows: rows, hidden: hidden), run.dout) }
    expectClose(increment(run.dinp, from: run.start), numeric, relative: 1e-4, "dinp vs finite differences")
}
