import SeededRandom
import Testing
@testable import Kernels

// Tolerance: 1e-5 relative (plus the rms floor of expectClose) — fp32 products of length ≤ 300 against Double references.

/// Naive Double reference of LoRA's path out[:, offset ..< offset + outDim] += scale·(inp·Aᵀ)·Bᵀ and its gradients.
private struct LowRankReference {
    let rows: Int, inDim: Int, rank: Int, outDim: Int, scale: Double

    func hidden(inp: [Double], a: [Double]) -> [Double] {
        (0 ..< rows * rank).map { index in
            let (r, k) = (index / rank, index % rank)
            return scale * (0 ..< inDim).reduce(0) { $0 + inp[r * inDim + $1] * a[k * inDim + $1] }
        }
    }

    /// Σ_k hidden[r,k]·B[o,k] for every row and output.
    func delta(inp: [Double], a: [Double], b: [Double]) -> [Double] {
        let h = hidden(inp: inp, a: a)
        return (0 ..< rows * outDim).map { index in
            let (r, o) = (index / outDim, index % outDim)
            return (0 ..< rank).reduce(0) { $0 + h[r * rank + $1] * b[o * rank + $1] }
        }
    }

    func backward(dout: [Double], inp: [Double], a: [Double], b: [Double])
        -> (dinp: [Double], da: [Double], db: [Double]) {
        let h = hidden(inp: inp, a: a)
        var dinp = [Double](repeating: 0, count: rows * inDim)
        var da = [Double](repeating: 0, count: rank * inDim)
        var db = [Double](repeating: 0, count: outDim * rank)
        for r in 0 ..< rows {
            var dh = [Double](repeating: 0, count: rank)
            for o in 0 ..< outDim {
                for k in 0 ..< rank {
                    db[o * rank + k] += dout[r * outDim + o] * h[r * rank + k]
                    dh[k] += scale * dout[r * outDim + o] * b[o * rank + k]
                }
            }
            for k in 0 ..< rank {
                for i in 0 ..< inDim {
                    da[k * inDim + i] += dh[k] * inp[r * inDim + i]
                    dinp[r * inDim + i] += dh[k] * a[k * inDim + i]
                }
            }
        }
        return (dinp, da, db)
    }
}

/// Shapes with ranks below and above one register tile, and a 300-row reduction for dA and dB.
private let lowRankShapes: [(rows: Int, inDim: Int, rank: Int, outDim: Int)] = [
    (1, 3, 1, 2), (5, 17, 4, 9), (13, 24, 8, 40), (300, 20, 16, 33), (7, 64, 19, 48),
]

/// The column block [offset, offset + outDim) of a row `stride` wide, with `stride − outDim` columns around it.
private let padding = (before: 3, after: 5)

/// One shape's seeded inputs and adapter, with the stream that draws what else a test needs.
private struct LowRankCase {
    let rows: Int, inDim: Int, rank: Int, outDim: Int
    /// Row stride of the fused output the adapter adds into.
    let stride: Int
    let inp: TestBuffer<Float>, a: TestBuffer<Float>, b: TestBuffer<Float>
    var random: SplitMix64

    init(_ shapeIndex: Int, seed: UInt64) {
        (rows, inDim, rank, outDim) = lowRankShapes[shapeIndex]
        stride = padding.before + outDim + padding.after
        random = SplitMix64(seed: seed + UInt64(shapeIndex))
        inp = TestBuffer(random.floats(rows * inDim))
        a = TestBuffer(random.floats(rank * inDim))
        b = TestBuffer(random.floats(outDim * rank))
    }

    var reference: LowRankReference {
        LowRankReference(rows: rows, inDim: inDim, rank: rank, outDim: outDim, scale: 0.75)
    }
}

@Test(arguments: GEMMKernel.available, lowRankShapes.indices)
func lowRankForwardAddsTheReferenceIntoAColumnBlock(kernel: GEMMKernel, shapeIndex: Int) {
    var test = LowRankCase(shapeIndex, seed: 700)
    let (rows, inDim, rank, outDim, stride, inp, a, b) = (test.rows, test.inDim, test.rank, test.outDim, test.stride,
                                                           test.inp, test.a, test.b)
    let start = test.random.floats(rows * stride)
    let out = TestBuffer(start), hidden = TestBuffer<Float>(zeros: rows * rank)
    lowRankForward(out: out.pointer + padding.before, outStride: stride, hidden: hidden.pointer, inp: inp.pointer,
                   a: a.pointer, b: b.pointer, scale: 0.75, rows: rows, inDim: inDim, rank: rank, outDim: outDim,
                   parallel: .serial, kernel: kernel)
    let reference = test.reference
    let delta = reference.delta(inp: inp.doubles, a: a.doubles, b: b.doubles)
    var expected = start.map(Double.init)
    for r in 0 ..< rows {
        for o in 0 ..< outDim { expected[r * stride + padding.before + o] += delta[r * outDim + o] }
    }
    expectClose(out.values, expected, relative: 1e-5, "out \(kernel) \(lowRankShapes[shapeIndex])")
    expectClose(hidden.values, reference.hidden(inp: inp.doubles, a: a.doubles), relative: 1e-5, "hidden")
}

@Test(arguments: GEMMKernel.available, lowRankShapes.indices)
func lowRankBackwardAccumulatesReferenceGradients(kernel: GEMMKernel, shapeIndex: Int) {
    let test = LowRankCase(shapeIndex, seed: 800)
    let (rows, inDim, rank, outDim, stride, inp, a, b) = (test.rows, test.inDim, test.rank, test.outDim, test.stride,
                                                           test.inp, test.a, test.b)
    var random = test.random
    let fullDout = random.floats(rows * stride)
    let startDinp = random.floats(rows * inDim), startDA = random.floats(rank * inDim), startDB = random.floats(outDim * rank)
    let dinp = TestBuffer(startDinp), da = TestBuffer(startDA), db = TestBuffer(startDB)
    let hidden = TestBuffer(random.floats(rows * rank)), dHidden = TestBuffer(random.floats(rows * rank))
    let dout = TestBuffer(fullDout)
    lowRankBackward(dinp: dinp.pointer, da: da.pointer, db: db.pointer, hidden: hidden.pointer, dHidden: dHidden.pointer,
                    dout: dout.pointer + padding.before, doutStride: stride, inp: inp.pointer, a: a.pointer, b: b.pointer,
                    scale: 0.75, rows: rows, inDim: inDim, rank: rank, outDim: outDim, parallel: .serial, kernel: kernel)
    let block = (0 ..< rows * outDim).map { Double(fullDout[($0 / outDim) * stride + padding.before + $0 % outDim]) }
    let expected = test.reference.backward(dout: block, inp: inp.doubles, a: a.doubles, b: b.doubles)
    let label = "\(kernel) \(lowRankShapes[shapeIndex])"
    expectClose(dinp.values, adding(startDinp, expected.dinp), relative: 1e-5, "dinp \(label)")
    expectClose(da.values, adding(startDA, expected.da), relative: 1e-5, "dA \(label)")
    expectClose(db.values, adding(startDB, expected.db), relative: 1e-5, "dB \(label)")
}

/// f = Σ w ⊙ out as a function of A, B and inp; central differences in Double of the Float forward.
@Test func lowRankBackwardMatchesCentralDifferences() {
    let (rows, inDim, rank, outDim) = (4, 6, 3, 5)
    var random = SplitMix64(seed: 900)
    var inp = random.floats(rows * inDim), a = random.floats(rank * inDim), b = random.floats(outDim * rank)
    let weights = random.floats(rows * outDim)
    func objective(_ inp: [Float], _ a: [Float], _ b: [Float]) -> Double {
        let out = TestBuffer<Float>(zeros: rows * outDim), hidden = TestBuffer<Float>(zeros: rows * rank)
        let (x, aa, bb) = (TestBuffer(inp), TestBuffer(a), TestBuffer(b))
        lowRankForward(out: out.pointer, outStride: outDim, hidden: hidden.pointer, inp: x.pointer, a: aa.pointer,
                       b: bb.pointer, scale: 1.5, rows: rows, inDim: inDim, rank: rank, outDim: outDim, parallel: .serial)
        return zip(out.values, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let dinp = TestBuffer<Float>(zeros: rows * inDim), da = TestBuffer<Float>(zeros: rank * inDim)
    let db = TestBuffer<Float>(zeros: outDim * rank)
    let scratch = (TestBuffer<Float>(zeros: rows * rank), TestBuffer<Float>(zeros: rows * rank))
    let (x, aa, bb, w) = (TestBuffer(inp), TestBuffer(a), TestBuffer(b), TestBuffer(weights))
    lowRankBackward(dinp: dinp.pointer, da: da.pointer, db: db.pointer, hidden: scratch.0.pointer, dHidden: scratch.1.pointer,
                    dout: w.pointer, doutStride: outDim, inp: x.pointer, a: aa.pointer, b: bb.pointer, scale: 1.5,
                    rows: rows, inDim: inDim, rank: rank, outDim: outDim, parallel: .serial)
    let epsilon: Float = 1e-2
    func numeric(_ values: inout [Float], _ index: Int, _ f: ([Float]) -> Double) -> Double {
        let original = values[index]
        values[index] = original + epsilon
        let plus = f(values)
        values[index] = original - epsilon
        let minus = f(values)
        values[index] = original
        return (plus - minus) / Double(2 * epsilon)
    }
    for index in inp.indices {
        let expected = numeric(&inp, index) { objective($0, a, b) }
        #expect(abs(Double(dinp.values[index]) - expected) <= 1e-3 * max(1, abs(expected)), "dinp[\(index)]")
    }
    for index in a.indices {
        let expected = numeric(&a, index) { objective(inp, $0, b) }
        #expect(abs(Double(da.values[index]) - expected) <= 1e-3 * max(1, abs(expected)), "dA[\(index)]")
    }
    for index in b.indices {
        let expected = numeric(&b, index) { objective(inp, a, $0) }
        #expect(abs(Double(db.values[index]) - expected) <= 1e-3 * max(1, abs(expected)), "dB[\(index)]")
    }
}

@Test(arguments: GEMMKernel.available)
func lowRankMergeAddsTheScaledProductToTheWeight(kernel: GEMMKernel) {
    let (inDim, rank, outDim) = (37, 5, 29)
    var random = SplitMix64(seed: 950)
    let a = TestBuffer(random.floats(rank * inDim)), b = TestBuffer(random.floats(outDim * rank))
    let start = random.floats(outDim * inDim)
    let weight = TestBuffer(start), scratch = TestBuffer<Float>(zeros: outDim * rank)
    lowRankMerge(weight: weight.pointer, scaledB: scratch.pointer, a: a.pointer, b: b.pointer, scale: 2.5, inDim: inDim,
                 rank: rank, outDim: outDim, parallel: .serial, kernel: kernel)
    let (av, bv) = (a.doubles, b.doubles)
    let expected = (0 ..< outDim * inDim).map { index -> Double in
        let (o, i) = (index / inDim, index % inDim)
        return Double(start[index]) + 2.5 * (0 ..< rank).reduce(0) { $0 + bv[o * rank + $1] * av[$1 * inDim + i] }
    }
    expectClose(weight.values, expected, relative: 1e-5, "merged weight \(kernel)")
}

/// The low-rank path gives the same bits on any thread count.
@Test func lowRankIsIdenticalForEveryThreadCount() {
    let (rows, inDim, rank, outDim) = (300, 200, 16, 260)
    var random = SplitMix64(seed: 990)
    let inp = TestBuffer(random.floats(rows * inDim)), a = TestBuffer(random.floats(rank * inDim))
    let b = TestBuffer(random.floats(outDim * rank)), dout = TestBuffer(random.floats(rows * outDim))
    func run(_ parallel: Parallel) -> [[Float]] {
        let out = TestBuffer<Float>(zeros: rows * outDim), hidden = TestBuffer<Float>(zeros: rows * rank)
        let dHidden = TestBuffer<Float>(zeros: rows * rank), dinp = TestBuffer<Float>(zeros: rows * inDim)
        let da = TestBuffer<Float>(zeros: rank * inDim), db = TestBuffer<Float>(zeros: outDim * rank)
        lowRankForward(out: out.pointer, outStride: outDim, hidden: hidden.pointer, inp: inp.pointer, a: a.pointer,
                       b: b.pointer, scale: 0.5, rows: rows, inDim: inDim, rank: rank, outDim: outDim, parallel: parallel)
        lowRankBackward(dinp: dinp.pointer, da: da.pointer, db: db.pointer, hidden: hidden.pointer, dHidden: dHidden.pointer,
                        dout: dout.pointer, doutStride: outDim, inp: inp.pointer, a: a.pointer, b: b.pointer, scale: 0.5,
                        rows: rows, inDim: inDim, rank: rank, outDim: outDim, parallel: parallel)
        return [out.values, dinp.values, da.values, db.values]
    }
    let serial = run(.serial)
    #expect(serial == run(Parallel(threads: 2)))
    #expect(serial == run(Parallel(threads: 3)))
}
