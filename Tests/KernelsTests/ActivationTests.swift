import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 1e-5 relative against the Double reference (one tanh per element);
// 1e-4 against finite differences (step 1e-5 in Double).

private let sqrtTwoOverPi = (2 / Double.pi).squareRoot()

private func referenceGelu(_ x: Double) -> Double {
    0.5 * x * (1 + tanh(sqrtTwoOverPi * (x + 0.044715 * x * x * x)))
}

private func referenceGeluDerivative(_ x: Double) -> Double {
    let t = tanh(sqrtTwoOverPi * (x + 0.044715 * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * sqrtTwoOverPi * (1 + 3 * 0.044715 * x * x)
}

/// Counts below and above the thread-split threshold, and not multiples of eight.
private let geluCounts = [1, 5, 17, 33, 40_001]

@Test(arguments: geluCounts)
func geluForwardMatchesReference(count: Int) {
    var random = SplitMix64(seed: 800 + UInt64(count))
    let inp = TestBuffer(random.floats(count, magnitude: 6))
    let out = TestBuffer(random.floats(count))
    geluForward(out: out.pointer, inp: inp.pointer, count: count, parallel: Parallel(threads: 2))
    expectClose(out.values, inp.doubles.map(referenceGelu), relative: 1e-5, "gelu(\(count))")
}

@Test(arguments: geluCounts)
func geluBackwardAccumulatesReferenceGradient(count: Int) {
    var random = SplitMix64(seed: 900 + UInt64(count))
    let inp = TestBuffer(random.floats(count, magnitude: 6))
    let dout = TestBuffer(random.floats(count))
    let start = random.floats(count)
    let dinp = TestBuffer(start)
    geluBackward(dinp: dinp.pointer, inp: inp.pointer, dout: dout.pointer, count: count, parallel: Parallel(threads: 2))
    let expected = zip(inp.doubles, dout.doubles).map { referenceGeluDerivative($0) * $1 }
    expectClose(dinp.values, adding(start, expected), relative: 1e-5, "dgelu(\(count))")
}

@Test func geluBackwardMatchesFiniteDifferences() {
    var random = SplitMix64(seed: 1000)
    let inp = TestBuffer(random.floats(11, magnitude: 4))
    let dout = TestBuffer(random.floats(11))
    let dinp = TestBuffer<Float>(zeros: 11)
    geluBackward(dinp: dinp.pointer, inp: inp.pointer, dout: dout.pointer, count: 11, parallel: .serial)
    let numeric = finiteDifferenceGradient(at: inp.doubles) { weightedSum($0.map(referenceGelu), dout.values) }
    expectClose(dinp.values, numeric, relative: 1e-4, "dgelu vs finite differences")
}
