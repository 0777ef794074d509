import Kernels

/// The three matrix products of a Linear layer out = inp·Wᵀ + b.
public enum LinearProduct: String, Codable, CaseIterable, Sendable {
    /// out = inp · Wᵀ
    case forward
    /// dinp += dout · W
    case inputGradient = "dinp"
    /// dW += doutᵀ · inp
    case weightGradient = "dweight"
}

/// Median time and throughput of one product of one Linear layer.
public struct GEMMResult: Codable, Sendable {
    public let layer: LinearLayerShape
    public let product: LinearProduct
    public let threads: Int
    public let medianSeconds: Double
    public let medianCPUSeconds: Double
    /// FLOP / median wall time.
    public let gflops: Double
    /// FLOP / median CPU time × threads: what the threads achieve while they run, which other processes sharing
    /// the cores do not lower (with one thread per core, CPU time = wall time on an idle machine).
    public let cpuGFLOPS: Double
    /// `cpuGFLOPS` over the peak of the threads used.
    public let fractionOfPeak: Double
}

/// Times every product of every layer `repeats` times (after one untimed warm-up call) with `threads` threads.
/// `peakGFLOPSPerCore` scales the fraction of peak.
public func benchmarkGEMMs(_ layers: [LinearLayerShape], threads: Int, repeats: Int,
                           peakGFLOPSPerCore: Double) -> [GEMMResult] {
    let parallel = Parallel(threads: threads)
    return layers.flatMap { layer in
        let operands = LinearOperands(layer)
        defer { operands.deallocate() }
        return LinearProduct.allCases.map { product in
            _ = time { operands.run(product, parallel: parallel) }
            let timings = (0 ..< max(1, repeats)).map { _ in time { operands.run(product, parallel: parallel) } }
            let (seconds, cpuSeconds) = (median(timings.map(\.wallSeconds)), median(timings.map(\.cpuSeconds)))
            let cpuGFLOPS = layer.flops / cpuSeconds * Double(threads) / 1e9
            return GEMMResult(layer: layer, product: product, threads: threads, medianSeconds: seconds,
                              medianCPUSeconds: cpuSeconds, gflops: layer.flops / seconds / 1e9, cpuGFLOPS: cpuGFLOPS,
                              fractionOfPeak: cpuGFLOPS / (peakGFLOPSPerCore * Double(threads)))
        }
    }
}

/// Inputs, weights and outputs of one Linear layer, filled with a small constant (values do not change the timing).
private struct LinearOperands {
    let layer: LinearLayerShape
    let inp, weight, bias, out, dout, dinp, dweight: UnsafeMutableBufferPointer<Float>

    init(_ layer: LinearLayerShape) {
        self.layer = layer
        let (rows, inDim, outDim) = (layer.rows, layer.inDim, layer.outDim)
        func filled(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            buffer.initialize(repeating: 0.01)
            return buffer
        }
        inp = filled(rows * inDim)
        weight = filled(outDim * inDim)
        bias = filled(outDim)
        out = filled(rows * outDim)
        dout = filled(rows * outDim)
        dinp = filled(rows * inDim)
        dweight = filled(outDim * inDim)
    }

    func run(_ product: LinearProduct, parallel: Parallel) {
        let (rows, inDim, outDim) = (layer.rows, layer.inDim, layer.outDim)
        switch product {
        case .forward:
            matmulForward(out: out.baseAddress!, inp: inp.baseAddress!, weight: weight.baseAddress!, bias: bias.baseAddress!,
                          rows: rows, inDim: inDim, outDim: outDim, parallel: parallel)
        case .inputGradient:
            matmulBackward(dinp: dinp.baseAddress!, dweight: nil, dbias: nil, dout: dout.baseAddress!, inp: inp.baseAddress!,
                           weight: weight.baseAddress!, rows: rows, inDim: inDim, outDim: outDim, parallel: parallel)
        case .weightGradient:
            matmulBackward(dinp: nil, dweight: dweight.baseAddress!, dbias: nil, dout: dout.baseAddress!, inp: inp.baseAddress!,
                           weight: weight.baseAddress!, rows: rows, inDim: inDim, outDim: outDim, parallel: parallel)
        }
    }

    func deallocate() {
        for buffer in [inp, weight, bias, out, dout, dinp, dweight] { buffer.deallocate() }
    }
}
