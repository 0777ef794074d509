import SeededRandom
import Testing
@testable import Kernels

// Tolerances: forward 1e-5 relative; backward 2e-5 relative against the analytic Double reference
// (the gradient subtracts two row means, losing a few bits); 1e-4 against finite differences (step 1e-5 in Double).

/// Naive Double LayerNorm (biased variance) and its analytic backward.
private struct LayerNormReference {
    let rows: Int, dim: Int
    let epsilon = 1e-5

    func statistics(_ inp: [Double], row r: Int) -> (mean: Double, rstd: Double) {
        let x = inp[(r * dim)..<((r + 1) * dim)]
        let mean = x.reduce(0, +) / Double(dim)
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(dim)
        return (mean, 1 / (variance + epsilon).squareRoot())
    }

    func forward(inp: [Double], weight: [Double], bias: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            let (mean, rstd) = statistics(inp, row: r)
            for i in 0..<dim { out[r * dim + i] = (inp[r * dim + i] - mean) * rstd * weight[i] + bias[i] }
        }
        return out
    }

    func backward(dout: [Double], inp: [Double], weight: [Double]) -> (dinp: [Double], dweight: [Double], dbias: [Double]) {
        var dinp = [Double](repeating: 0, count: rows * dim)
        var dweight = [Double](repeating: 0, count: dim)
        var dbias = [Double](repeating: 0, count: dim)
        for r in 0..<rows {
            let (mean, rstd) = statistics(inp, row: r)
            let normalized = (0..<dim).map { (inp[r * dim + $0] - mean) * rstd }
            let dnormalized = (0..<dim).map { dout[r * dim + $0] * weight[$0] }
            let meanD = dnormalized.reduce(0, +) / Double(dim)
            let meanDN = zip(dnormalized, normalized).reduce(0) { $0 + $1.0 * $1.1 } / Double(dim)
            for i in 0..<dim {
                dinp[r * dim + i] = rstd * (dnormalized[i] - meanD - normalized[i] * meanDN)
                dweight[i] += dout[r * dim + i] * normalized[i]
                dbias[i] += dout[r * dim + i]
            }
        }
        return (dinp, dweight, dbias)
    }
}

private let layerNormShapes: [(rows: Int, dim: Int)] = [(1, 1), (3, 5), (2, 17), (4, 33), (5, 64), (3, 768)]

/// Inputs with a non-zero mean and varied spread per row, like real activations.
private func layerNormInputs(rows: Int, dim: Int, seed: UInt64) -> (inp: [Float], weight: [Float], bias: [Float]) {
    var random = SplitMix64(seed: seed)
    let inp = (0..<(rows * dim)).map { i in random.nextFloat(magnitude: 1 + Float(i / dim)) + 0.5 }
    return (inp, random.floats(dim, magnitude: 1.5), random.floats(dim))
}

@Test(arguments: layerNormShapes.indices)
func layerNormForwardMatchesReference(shapeIndex: Int) {
    let (rows, dim) = layerNormShapes[shapeIndex]
    let (inpValues, weightValues, biasValues) = layerNormInputs(rows: rows, dim: dim, seed: 500 + UInt64(shapeIndex))
    let inp = TestBuffer(inpValues), weight = TestBuffer(weightValues), bias = TestBuffer(biasValues)
    let out = TestBuffer<Float>(zeros: rows * dim), mean = TestBuffer<Float>(zeros: rows), rstd = TestBuffer<Float>(zeros: rows)
    layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer,
                     bias: bias.pointer, rows: rows, dim: dim, epsilon: 1e-5, parallel: Parallel(threads: 2))
    let reference = LayerNormReference(rows: rows, dim: dim)
    expectClose(out.values, reference.forward(inp: inp.doubles, weight: weight.doubles, bias: bias.doubles),
                relative: 1e-5, "out \(layerNormShapes[shapeIndex])")
    let statistics = (0..<rows).map { reference.statistics(inp.doubles, row: $0) }
    expectClose(mean.values, statistics.map(\.mean), relative: 1e-5, "mean")
    expectClose(rstd.values, statistics.map(\.rstd), relative: 1e-5, "rstd")

    let outWithoutStatistics = TestBuffer<Float>(zeros: rows * dim)
    layerNormForward(out: outWithoutStatistics.pointer, mean: nil, rstd: nil, inp: inp.pointer, weight: weight.pointer,
                     bias: bias.pointer, rows: rows, dim: dim, epsilon: 1e-5, parallel: .serial)
    #expect(outWithoutStatistics.values == out.values)
}

/// Runs forward then backward with prefilled gradients; returns the gradient buffers and their starting values.
private func runLayerNormBackward(rows: Int, dim: Int, seed: UInt64, parallel: Parallel)
    -> (inp: [Float], weight: [Float], bias: [Float], dout: [Float], start: [[Float]], result: [[Float]]) {
    let (inpValues, weightValues, biasValues) = layerNormInputs(rows: rows, dim: dim, seed: seed)
    var random = SplitMix64(seed: seed + 1)
    let doutValues = random.floats(rows * dim)
    let start = [random.floats(rows * dim), random.floats(dim), random.floats(dim)]
    let inp = TestBuffer(inpValues), weight = TestBuffer(weightValues), bias = TestBuffer(biasValues), dout = TestBuffer(doutValues)
    let out = TestBuffer<Float>(zeros: rows * dim), mean = TestBuffer<Float>(zeros: rows), rstd = TestBuffer<Float>(zeros: rows)
    layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer,
                     bias: bias.pointer, rows: rows, dim: dim, epsilon: 1e-5, parallel: parallel)
    let dinp = TestBuffer(start[0]), dweight = TestBuffer(start[1]), dbias = TestBuffer(start[2])
    layerNormBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                      weight: weight.pointer, mean: mean.pointer, rstd: rstd.pointer, rows: rows, dim: dim, parallel: parallel)
    return (inpValues, weightValues, biasValues, doutValues, start, [dinp.values, dweight.values, dbias.values])
}

@Test(arguments: layerNormShapes.indices)
func layerNormBackwardAccumulatesReferenceGradients(shapeIndex: Int) {
    let (rows, dim) = layerNormShapes[shapeIndex]
    let run = runLayerNormBackward(rows: rows, dim: dim, seed: 600 + UInt64(shapeIndex), parallel: Parallel(threads: 2))
    let expected = LayerNormReference(rows: rows, dim: dim).backward(dout: doubles(run.dout), inp: doubles(run.inp), weight: doubles(run.weight))
    let label = "\(layerNormShapes[shapeIndex])"
    expectClose(run.result[0], adding(run.start[0], expected.dinp), relative: 2e-5, "dinp \(label)")
    expectClose(run.result[1], adding(run.start[1], expected.dweight), relative: 2e-5, "dweight \(label)")
    expectClose(run.result[2], adding(run.start[2], expected.dbias), relative: 2e-5, "dbias \(label)")
}

@Test func layerNormBackwardMatchesFiniteDifferences() {
    let (rows, dim) = (2, 7)
    let run = runLayerNormBackward(rows: rows, dim: dim, seed: 700, parallel: .serial)
    let reference = LayerNormReference(rows: rows, dim: dim)
    let inp = doubles(run.inp), weight = doubles(run.weight), bias = doubles(run.bias)
    let loss = { (inp: [Double], weight: [Double], bias: [Double]) in weightedSum(reference.forward(inp: inp, weight: weight, bias: bias), run.dout) }
    let dinp = finiteDifferenceGradient(at: inp) { loss($0, weight, bias) }
    let dweight = finiteDifferenceGradient(at: weight) { loss(inp, $0, bias) }
    let dbias = finiteDifferenceGradient(at: bias) { loss(inp, weight, $0) }
    expectClose(increment(run.result[0], from: run.start[0]), dinp, relative: 1e-4, "dinp vs finite differences")
    expectClose(increment(run.result[1], from: run.start[1]), dweight, relative: 1e-4, "dweight vs finite differences")
    expectClose(increment(run.result[2], from: run.start[2]), dbias, relative: 1e-4, "dbias vs finite differences")
}

/// A frozen norm (no parameter gradients) adds the same dinp.
@Test func layerNormBackwardWithoutParameterGradientsGivesTheSameInputGradient() {
    let (rows, dim) = (5, 37)
    let run = runLayerNormBackward(rows: rows, dim: dim, seed: 800, parallel: .serial)
    let (inpValues, weightValues, biasValues) = layerNormInputs(rows: rows, dim: dim, seed: 800)
    let inp = TestBuffer(inpValues), weight = TestBuffer(weightValues), bias = TestBuffer(biasValues), dout = TestBuffer(run.dout)
    let out = TestBuffer<Float>(zeros: rows * dim), mean = TestBuffer<Float>(zeros: rows), rstd = TestBuffer<Float>(zeros: rows)
    layerNormForward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: inp.pointer, weight: weight.pointer,
                     bias: bias.pointer, rows: rows, dim: dim, epsilon: 1e-5, parallel: .serial)
    let dinp = TestBuffer(run.start[0])
    layerNormBackward(dinp: dinp.pointer, dweight: nil, dbias: nil, dout: dout.pointer, inp: inp.pointer,
                      weight: weight.pointer, mean: mean.pointer, rstd: rstd.pointer, rows: rows, dim: dim, parallel: .serial)
    #expect(dinp.values == run.result[0])
}
