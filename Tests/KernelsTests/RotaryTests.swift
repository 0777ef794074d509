import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: 1e-5 relative against the Double reference (one rotation per pair, cos/sin rounded to Float);
// 1e-4 against finite differences (step 1e-5 in Double).

/// Rotates `heads` head vectors of size 2·frequencies.count at the start of each row of x [batch, seqLen, rowStride]
/// by (firstPosition + t)·frequency (pairs i and i + half), in Double; `sign` −1 rotates backwards.
private func referenceRotary(_ x: [Double], frequencies: [Double], batch: Int, seqLen: Int, heads: Int, rowStride: Int,
                             firstPosition: Int = 0, sign: Double = 1) -> [Double] {
    var out = x
    let half = frequencies.count
    for row in 0..<(batch * seqLen) {
        let t = Double(firstPosition + row % seqLen)
        for h in 0..<heads {
            for i in 0..<half {
                let (first, second) = (row * rowStride + h * 2 * half + i, row * rowStride + h * 2 * half + half + i)
                let (c, s) = (cos(t * frequencies[i]), sign * sin(t * frequencies[i]))
                out[first] = x[first] * c - x[second] * s
                out[second] = x[second] * c + x[first] * s
            }
        }
    }
    return out
}

/// (batch, seqLen, heads, headSize, extra columns after the rotated heads that must stay untouched).
private let rotaryShapes: [(batch: Int, seqLen: Int, heads: Int, headSize: Int, extra: Int)] = [
    (1, 1, 1, 2, 0), (2, 5, 3, 4, 8), (2, 9, 6, 8, 16), (3, 40, 5, 64, 128),
]

@Test(arguments: rotaryShapes.indices)
func rotaryForwardAndBackwardMatchReference(shapeIndex: Int) {
    let (batch, seqLen, heads, headSize, extra) = rotaryShapes[shapeIndex]
    let rowStride = heads * headSize + extra
    let frequencies = RotaryTable.standardInverseFrequencies(headSize: headSize, theta: 500)
    let table = RotaryTable(inverseFrequencies: frequencies, positions: seqLen + 3)
    var random = SplitMix64(seed: 3000 + UInt64(shapeIndex))
    let values = random.floats(batch * seqLen * rowStride, magnitude: 2)
    let x = TestBuffer(values)
    rotaryForward(x.pointer, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride,
                  parallel: Parallel(threads: 2))
    let label = "\(rotaryShapes[shapeIndex])"
    expectClose(x.values, referenceRotary(doubles(values), frequencies: frequencies, batch: batch, seqLen: seqLen,
                                          heads: heads, rowStride: rowStride), relative: 1e-5, "forward \(label)")
    #expect((0..<(batch * seqLen)).allSatisfy { row in
        (heads * headSize ..< rowStride).allSatisfy { x.values[row * rowStride + $0] == values[row * rowStride + $0] }
    }, "columns after the rotated heads must not change")

    // The backward is the transpose: the rotation by −angle, which also undoes the forward.
    let gradient = TestBuffer(values)
    rotaryBackward(gradient.pointer, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride,
                   parallel: Parallel(threads: 2))
    expectClose(gradient.values, referenceRotary(doubles(values), frequencies: frequencies, batch: batch, seqLen: seqLen,
                                                 heads: heads, rowStride: rowStride, sign: -1), relative: 1e-5, "backward \(label)")
    rotaryBackward(x.pointer, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride, parallel: .serial)
    expectClose(x.values, doubles(values), relative: 1e-5, "backward undoes forward \(label)")
}

/// Continuing a cached sequence: rows at positions firstPosition..., read from the same table.
@Test(arguments: [0, 1, 6])
func rotaryForwardFromAFirstPositionMatchesReference(firstPosition: Int) {
    let (batch, seqLen, heads, headSize) = (1, 3, 3, 8)
    let frequencies = RotaryTable.standardInverseFrequencies(headSize: headSize, theta: 10_000)
    let table = RotaryTable(inverseFrequencies: frequencies, positions: 9)
    var random = SplitMix64(seed: 3200 + UInt64(firstPosition))
    let values = random.floats(batch * seqLen * heads * headSize, magnitude: 2)
    let x = TestBuffer(values)
    rotaryForward(x.pointer, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: heads * headSize,
                  firstPosition: firstPosition, parallel: .serial)
    expectClose(x.values, referenceRotary(doubles(values), frequencies: frequencies, batch: batch, seqLen: seqLen,
                                          heads: heads, rowStride: heads * headSize, firstPosition: firstPosition),
                relative: 1e-5, "forward from position \(firstPosition)")
}

@Test func rotaryBackwardMatchesFiniteDifferences() {
    let (batch, seqLen, heads, headSize) = (2, 4, 2, 6)
    let frequencies = RotaryTable.standardInverseFrequencies(headSize: headSize, theta: 10_000)
    let table = RotaryTable(inverseFrequencies: frequencies, positions: seqLen)
    var random = SplitMix64(seed: 3100)
    let count = batch * seqLen * heads * headSize
    let (values, dout) = (random.floats(count), random.floats(count))
    let gradient = TestBuffer(dout)
    rotaryBackward(gradient.pointer, table: table, batch: batch, seqLen: seqLen, heads: heads, rowStride: heads * headSize,
                   parallel: .serial)
    let numeric = finiteDifferenceGradient(at: doubles(values)) {
        weightedSum(referenceRotary($0, frequencies: frequencies, batch: batch, seqLen: seqLen, heads: heads,
                                    rowStride: heads * headSize), dout)
    }
    expectClose(gradient.values, numeric, relative: 1e-4, "dx vs finite differences")
}

@Test func standardFrequenciesAreThetaToTheMinusTwoIOverD() {
    let frequencies = RotaryTable.standardInverseFrequencies(headSize: 8, theta: 10_000)
    #expect(frequencies.count == 4)
    for (i, frequency) in frequencies.enumerated() {
        #expect(abs(frequency - pow(10_000, -Double(2 * i) / 8)) <= 1e-15)
    }
}
