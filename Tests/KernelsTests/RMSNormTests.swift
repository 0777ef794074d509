import SeededRandom
import Testing
@testable import Kernels

// Tolerances: forward 1e-5 relative; backward 2e-5 relative against the analytic Double reference;
// 1e-4 against finite differences (step 1e-5 in Double).

/// Naive Double RMSNorm and its analytic backward.
private struct RMSNormReference {
    let rows: Int, dim: Int
    let epsilon = 1e-6

    func rstd(_ inp: [Double], row r: Int) -> Double {
        let x = inp[(r * dim)..<((r + 1) * dim)]
        return 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(dim) + epsilon).squareRoot()
    }

    func forward(inp: [Double], weight: [Double]) -> [Double] {
        (0..<(rows * dim)).map { index in inp[index] * rstd(inp, row: index / dim) * weight[index % dim] }
    }

    func backward(dout: [Double], inp: [Double], weight: [Double]) -> (dinp: [Double], dweight: [Double]) {
        var dinp = [Double](repeating: 0, count: rows * dim)
        var dweight = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            let s = rstd(inp, row: r)
            let normalized = (0..<dim).map { inp[r * dim + $0] * s }
            let dnormalized = (0..<dim).map { dout[r * dim + $0] * weight[$0] }
            let meanDN = zip(dnormalized, normalized).reduce(0) { $0 + $1.0 * $1.1 } / Double(dim)
            for i in 0..<dim {
                dinp[r * dim + i] = s * (dnormalized[i] - normalized[i] * meanDN)
                dweight[i] += dout[r * dim + i] * normalized[i]
            }
        }
        return (dinp, dweight)
    }
}

private let rmsNormShapes: [(rows: Int, dim: Int)] = [(1, 1), (3, 5), (2, 17), (4, 33), (5, 64), (3, 576)]

/// Inputs with a non-zero mean and varied spread per row, like real activations.
private func rmsNormInputs(rows: Int, dim: Int, seed: UInt64) -> (inp: [Float], weight: [Float]) {
    var random = SplitMix64(seed: seed)
    let inp = (0..<(rows * dim)).map { i in random.nextFloat(magnitude: 1 + Float(i / dim)) + 0.5 }
    return (inp, random.floats(dim, magnitude: 1.5))
}

@Test(arguments: rmsNormShapes.indices)
func rmsNormForwardMatchesReference(shapeIndex: Int) {
    let (rows, dim) = rmsNormShapes[shapeIndex]
    let (inpValues, weightValues) = rmsNormInputs(rows: rows, dim: dim, seed: 2500 + UInt64(shapeIndex))
    let inp = TestBuffer(inpValues), weight = TestBuffer(weightValues)
    let out = TestBuffer<Float>(zeros: rows * dim), rstd = TestBuffer<Float>(zeros: rows)
    rmsNormForward(out: out.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer, rows: rows, dim: dim,
                   epsilon: 1e-6, parallel: Parallel(threads: 2))
    let reference = RMSNormReference(rows: rows, dim: dim)
    expectClose(out.values, reference.forward(inp: inp.doubles, weight: weight.doubles), relative: 1e-5,
                "out \(rmsNormShapes[shapeIndex])")
    expectClose(rstd.values, (0..<rows).map { reference.rstd(inp.doubles, row: $0) }, relative: 1e-5, "rstd")

    let outWithoutStatistics = TestBuffer<Float>(zeros: rows * dim)
    rmsNormForward(out: outWithoutStatistics.pointer, rstd: nil, inp: inp.pointer, weight: weight.pointer, rows: rows,
                   dim: dim, epsilon: 1e-6, parallel: .serial)
    #expect(outWithoutStatistics.values == out.values)
}

/// Runs forward then backward with prefilled gradients; returns the gradient buffers and their starting values.
private func runRMSNormBackward(rows: Int, dim: Int, seed: UInt64, parallel: Parallel)
    -> (inp: [Float], weight: [Float], dout: [Float], start: [[Float]], result: [[Float]]) {
    let (inpValues, weightValues) = rmsNormInputs(rows: rows, dim: dim, seed: seed)
    var random = SplitMix64(seed: seed + 1)
    let doutValues = random.floats(rows * dim)
    let start = [random.floats(rows * dim), random.floats(dim)]
    let inp = TestBuffer(inpValues), weight = TestBuffer(weightValues), dout = TestBuffer(doutValues)
    let out = TestBuffer<Float>(zeros: rows * dim), rstd = TestBuffer<Float>(zeros: rows)
    rmsNormForward(out: out.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer, rows: rows, dim: dim,
                   epsilon: 1e-6, parallel: parallel)
    let dinp = TestBuffer(start[0]), dweight = TestBuffer(start[1])
    rmsNormBackward(dinp: dinp.pointer, dweight: dweight.pointer, dout: dout.pointer, inp: inp.pointer, weight: weight.pointer,
                    rstd: rstd.pointer, rows: rows, dim: dim, parallel: parallel)
    return (inpValues, weightValues, doutValues, start, [dinp.values, dweight.values])
}

@Test(arguments: rmsNormShapes.indices)
func rmsNormBackwardAccumulatesReferenceGradients(shapeIndex: Int) {
    let (rows, dim) = rmsNormShapes[shapeIndex]
    let run = runRMSNormBackward(rows: rows, dim: dim, seed: 2600 + UInt64(shapeIndex), parallel: Parallel(threads: 2))
    let expected = RMSNormReference(rows: rows, dim: dim).backward(dout: doubles(run.dout), inp: doubles(run.inp),
                                                                   weight: doubles(run.weight))
    let label = "\(rmsNormShapes[shapeIndex])"
    expectClose(run.result[0], adding(run.start[0], expected.dinp), relative: 2e-5, "dinp \(label)")
    expectClose(run.result[1], adding(run.start[1], expected.dweight), relative: 2e-5, "dweight \(label)")
}

@Test func rmsNormBackwardMatchesFiniteDifferences() {
    let (rows, dim) = (2, 7)
    let run = runRMSNormBackward(rows: rows, dim: dim, seed: 2700, parallel: .serial)
    let reference = RMSNormReference(rows: rows, dim: dim)
    let inp = doubles(run.inp), weight = doubles(run.weight)
    let loss = { (inp: [Double], weight: [Double]) in weightedSum(reference.forward(inp: inp, weight: weight), run.dout) }
    let dinp = finiteDifferenceGradient(at: inp) { loss($0, weight) }
    let dweight = finiteDifferenceGradient(at: weight) { loss(inp, $0) }
    expectClose(increment(run.result[0], from: run.start[0]), dinp, relative: 1e-4, "dinp vs finite differences")
    expectClose(increment(run.result[1], from: run.start[1]), dweight, relative: 1e-4, "dweight vs finite differences")
}

/// A frozen norm (no weight gradient) adds the same dinp.
@Test func rmsNormBackwardWithoutWeightGradientGivesTheSameInputGradient() {
    let (rows, dim) = (5, 37)
    let run = runRMSNormBackward(rows: rows, dim: dim, seed: 2800, parallel: .serial)
    let inp = TestBuffer(run.inp), weight = TestBuffer(run.weight), dout = TestBuffer(run.dout)
    let out = TestBuffer<Float>(zeros: rows * dim), rstd = TestBuffer<Float>(zeros: rows)
    rmsNormForward(out: out.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer, rows: rows, dim: dim,
                   epsilon: 1e-6, parallel: .serial)
    let dinp = TestBuffer(run.start[0])
    rmsNormBackward(dinp: dinp.pointer, dweight: nil, dout: dout.pointer, inp: inp.pointer, weight: weight.pointer,
                    rstd: rstd.pointer, rows: rows, dim: dim, parallel: .serial)
    #expect(dinp.values == run.result[0])
}
