import SeededRandom
import Testing
@testable import Kernels

// Tolerance: 1e-5 relative (plus the rms floor of expectClose) — fp32 dot products of length ≤ 1024 against Double references.

/// Naive Double reference of out = inp · weightᵀ + bias and its three gradients.
private struct MatmulReference {
    let rows: Int, inDim: Int, outDim: Int

    func forward(inp: [Double], weight: [Double], bias: [Double]?) -> [Double] {
        var out = [Double](repeating: 0, count: rows * outDim)
        for r in 0..<rows {
            for o in 0..<outDim {
                var total = bias?[o] ?? 0
                for i in 0..<inDim { total += inp[r * inDim + i] * weight[o * inDim + i] }
                out[r * outDim + o] = total
            }
        }
        return out
    }

    func backward(dout: [Double], inp: [Double], weight: [Double]) -> (dinp: [Double], dweight: [Double], dbias: [Double]) {
        var dinp = [Double](repeating: 0, count: rows * inDim)
        var dweight = [Double](repeating: 0, count: outDim * inDim)
        var dbias = [Double](repeating: 0, count: outDim)
        for r in 0..<rows {
            for o in 0..<outDim {
                let g = dout[r * outDim + o]
                dbias[o] += g
                for i in 0..<inDim {
                    dinp[r * inDim + i] += g * weight[o * inDim + i]
                    dweight[o * inDim + i] += g * inp[r * inDim + i]
                }
            }
        }
        return (dinp, dweight, dbias)
    }
}

/// Includes rows and dims that are not multiples of the 6 × 16 (12 × 32 with AVX-512) register tile; (300, 20, 260),
/// whose reductions in both backward products exceed one 256-long packed block; and (97, 260, 1030), which crosses
/// every blocking boundary of the GEMM at once: two 96-row blocks with a 1-row edge, two 256-long reduction blocks, two
/// 1024-column blocks with a 6-column edge panel. Single rows take the matrix-vector product instead.
private let matmulShapes: [(rows: Int, inDim: Int, outDim: Int)] = [
    (1, 1, 1), (3, 5, 17), (4, 33, 9), (7, 64, 48), (13, 100, 70), (2, 1024, 3), (37, 48, 129), (300, 20, 260),
    (97, 260, 1030), (1, 37, 70), (1, 1024, 3),
]

/// Every test runs on each GEMM path this CPU supports: AVX2 and AVX-512 where it has AVX-512, only AVX2 elsewhere.
private let kernels = GEMMKernel.available

@Test(arguments: kernels, matmulShapes.indices)
func matmulForwardMatchesReference(kernel: GEMMKernel, shapeIndex: Int) {
    let (rows, inDim, outDim) = matmulShapes[shapeIndex]
    var random = SplitMix64(seed: 100 + UInt64(shapeIndex))
    let inp = TestBuffer(random.floats(rows * inDim))
    let weight = TestBuffer(random.floats(outDim * inDim))
    let bias = TestBuffer(random.floats(outDim))
    let reference = MatmulReference(rows: rows, inDim: inDim, outDim: outDim)
    for withBias in [true, false] {
        let out = TestBuffer(random.floats(rows * outDim))  // garbage: forward must overwrite
        matmulForward(out: out.pointer, inp: inp.pointer, weight: weight.pointer, bias: withBias ? bias.pointer : nil,
                      rows: rows, inDim: inDim, outDim: outDim, parallel: .serial, kernel: kernel)
        let expected = reference.forward(inp: inp.doubles, weight: weight.doubles, bias: withBias ? bias.doubles : nil)
        expectClose(out.values, expected, relative: 1e-5, "out \(kernel) \(matmulShapes[shapeIndex]) bias \(withBias)")
    }
}

@Test(arguments: kernels, matmulShapes.indices)
func matmulBackwardAccumulatesReferenceGradients(kernel: GEMMKernel, shapeIndex: Int) {
    let (rows, inDim, outDim) = matmulShapes[shapeIndex]
    var random = SplitMix64(seed: 200 + UInt64(shapeIndex))
    let inp = TestBuffer(random.floats(rows * inDim))
    let weight = TestBuffer(random.floats(outDim * inDim))
    let dout = TestBuffer(random.floats(rows * outDim))
    let startDinp = random.floats(rows * inDim), startDweight = random.floats(outDim * inDim), startDbias = random.floats(outDim)
    let dinp = TestBuffer(startDinp), dweight = TestBuffer(startDweight), dbias = TestBuffer(startDbias)
    matmulBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                   weight: weight.pointer, rows: rows, inDim: inDim, outDim: outDim, parallel: .serial, kernel: kernel)
    let expected = MatmulReference(rows: rows, inDim: inDim, outDim: outDim)
        .backward(dout: dout.doubles, inp: inp.doubles, weight: weight.doubles)
    let label = "\(kernel) \(matmulShapes[shapeIndex])"
    expectClose(dinp.values, adding(startDinp, expected.dinp), relative: 1e-5, "dinp \(label)")
    expectClose(dweight.values, adding(startDweight, expected.dweight), relative: 1e-5, "dweight \(label)")
    expectClose(dbias.values, adding(startDbias, expected.dbias), relative: 1e-5, "dbias \(label)")
}

@Test(arguments: kernels)
func matmulBackwardSkipsNilOutputs(kernel: GEMMKernel) {
    let (rows, inDim, outDim) = (5, 17, 9)
    var random = SplitMix64(seed: 300)
    let inp = TestBuffer(random.floats(rows * inDim))
    let weight = TestBuffer(random.floats(outDim * inDim))
    let dout = TestBuffer(random.floats(rows * outDim))
    let expected = MatmulReference(rows: rows, inDim: inDim, outDim: outDim)
        .backward(dout: dout.doubles, inp: inp.doubles, weight: weight.doubles)
    let dweight = TestBuffer<Float>(zeros: outDim * inDim)
    matmulBackward(dinp: nil, dweight: dweight.pointer, dbias: nil, dout: dout.pointer, inp: inp.pointer,
                   weight: weight.pointer, rows: rows, inDim: inDim, outDim: outDim, parallel: .serial, kernel: kernel)
    expectClose(dweight.values, expected.dweight, relative: 1e-5, "dweight only")
    let dinp = TestBuffer<Float>(zeros: rows * inDim)
    matmulBackward(dinp: dinp.pointer, dweight: nil, dbias: nil, dout: dout.pointer, inp: inp.pointer,
                   weight: weight.pointer, rows: rows, inDim: inDim, outDim: outDim, parallel: .serial, kernel: kernel)
    expectClose(dinp.values, expected.dinp, relative: 1e-5, "dinp only")
}

/// Threads split independent outputs and every output is summed in the same order, so any thread count must agree
/// bit for bit. The first shape splits the columns of C in all three products, the second its rows (forward, dinp);
/// both are large enough that every product really runs on several threads; the third is a matrix-vector product whose
/// threads split the outputs. (The two GEMM paths may round differently from each other; each must agree with itself.)
@Test(arguments: kernels, [(200, 300, 260), (300, 200, 100), (1, 1000, 5000)])
func matmulIsIdenticalForEveryThreadCount(kernel: GEMMKernel, shape: (rows: Int, inDim: Int, outDim: Int)) {
    let (rows, inDim, outDim) = shape
    var random = SplitMix64(seed: 400)
    let inp = TestBuffer(random.floats(rows * inDim))
    let weight = TestBuffer(random.floats(outDim * inDim))
    let bias = TestBuffer(random.floats(outDim))
    let dout = TestBuffer(random.floats(rows * outDim))
    func run(_ parallel: Parallel) -> [[Float]] {
        let out = TestBuffer<Float>(zeros: rows * outDim)
        let dinp = TestBuffer<Float>(zeros: rows * inDim), dweight = TestBuffer<Float>(zeros: outDim * inDim), dbias = TestBuffer<Float>(zeros: outDim)
        matmulForward(out: out.pointer, inp: inp.pointer, weight: weight.pointer, bias: bias.pointer,
                      rows: rows, inDim: inDim, outDim: outDim, parallel: parallel, kernel: kernel)
        matmulBackward(dinp: dinp.pointer, dweight: dweight.pointer, dbias: dbias.pointer, dout: dout.pointer, inp: inp.pointer,
                       weight: weight.pointer, rows: rows, inDim: inDim, outDim: outDim, parallel: parallel, kernel: kernel)
        return [out.values, dinp.values, dweight.values, dbias.values]
    }
    let serial = run(.serial)
    #expect(serial == run(Parallel(threads: 2)))
    #expect(serial == run(Parallel(threads: 3)))
}

/// An empty reduction (inDim 0) still writes the forward output: the bias, or zeros.
@Test(arguments: kernels)
func matmulForwardWithEmptyReductionWritesBias(kernel: GEMMKernel) {
    let (rows, outDim) = (3, 21)
    var random = SplitMix64(seed: 500)
    let bias = TestBuffer(random.floats(outDim))
    let unusedInput = TestBuffer<Float>(zeros: 1), unusedWeight = TestBuffer<Float>(zeros: 1)
    let out = TestBuffer(random.floats(rows * outDim))
    matmulForward(out: out.pointer, inp: unusedInput.pointer, weight: unusedWeight.pointer, bias: bias.pointer,
                  rows: rows, inDim: 0, outDim: outDim, parallel: .serial, kernel: kernel)
    #expect(out.values == Array((0 ..< rows).map { _ in bias.values }.joined()))
    matmulForward(out: out.pointer, inp: unusedInput.pointer, weight: unusedWeight.pointer, bias: nil,
                  rows: rows, inDim: 0, outDim: outDim, parallel: .serial, kernel: kernel)
    #expect(out.values == [Float](repeating: 0, count: rows * outDim))
}

/// The path the process runs by default is one this CPU supports, and AVX-512 is among them exactly when the CPU and OS
/// support it (on a CPU without AVX-512 only AVX2 is tested above).
@Test func selectedGEMMKernelIsAvailable() {
    #expect(GEMMKernel.available.contains(GEMMKernel.selected))
    #expect(GEMMKernel.available.first.map { [.avx2, .avx512].contains($0) } == true)
}

/// DPO_DIST_GEMM: unset or empty picks the fastest available path, a known one is honoured if available, and anything
/// else is an error that names the variable.
@Test func gemmKernelSelectionFollowsTheEnvironmentVariable() throws {
    let both: [GEMMKernel] = [.avx2, .avx512]
    #expect(try GEMMKernel.select(requested: nil, available: both).get() == .avx512)
    #expect(try GEMMKernel.select(requested: "", available: [.avx2]).get() == .avx2)
    #expect(try GEMMKernel.select(requested: "avx2", available: both).get() == .avx2)
    #expect(try GEMMKernel.select(requested: "AVX512", available: both).get() == .avx512)
    for (requested, available, mentions) in [("avx512", [GEMMKernel.avx2], "does not support AVX-512"),
                                             ("avx2", [.avx512], "only GEMM path is avx512"), ("sse", both, "avx2 or avx512")] {
        guard case .failure(let error) = GEMMKernel.select(requested: requested, available: available) else {
            Issue.record("DPO_DIST_GEMM=\(requested) was accepted with \(available)")
            continue
        }
        #expect(error.message.contains("DPO_DIST_GEMM=\(requested)"))
        #expect(error.message.contains(mentions), "\(error.message)")
    }
}

/// Each path's FMA probe runs at its vector width: 2 ports × lanes × 2 FLOP per cycle, a micro-tile row being 2 vectors.
@Test(arguments: kernels)
func peakProbeMatchesTheKernelsVectorWidth(kernel: GEMMKernel) {
    let lanes = kernel.microTile.columns / 2
    #expect(kernel.fmaFLOPsPerCycle == 2 * lanes * 2)
    #expect(lanes == (kernel == .avx512 ? 16 : 8))
    #expect(kernel.measurePeakGFLOPS(iterations: 10_000) > 0)
}
