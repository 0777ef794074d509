#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Hyper-parameters of `adamWUpdate`.
public struct AdamWSettings: Sendable, Equatable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }
}

/// Elements per thread chunk for the whole-buffer loops.
private let elementwiseMinimumChunk = 65_536

/// One AdamW step exactly as torch.optim.AdamW (decoupled weight decay), `step` 1-based:
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr/(1−β1^step) · m / (√v/√(1−β2^step) + ε).
public func adamWUpdate(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                        firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
                        count: Int, step: Int, settings: AdamWSettings, parallel: Parallel) {
    precondition(step >= 1, "adamWUpdate: step is 1-based, got \(step)")
    // scalar factors in Double like PyTorch's Python-side arithmetic
    let biasCorrection1 = 1 - pow(Double(settings.beta1), Double(step))
    let biasCorrection2 = 1 - pow(Double(settings.beta2), Double(step))
    let stepSize = Float(Double(settings.learningRate) / biasCorrection1)
    let inverseSqrtCorrection2 = Float(1 / biasCorrection2.squareRoot())
    let decayFactor = 1 - settings.learningRate * settings.weightDecay
    let beta1 = settings.beta1, beta2 = settings.beta2, epsilon = settings.epsilon
    parallel.forEachChunk(of: count, minimumChunk: elementwiseMinimumChunk) { range in
        for i in range {
            let g = gradients[i]
            let m = beta1 * firstMoment[i] + (1 - beta1) * g
            let v = beta2 * secondMoment[i] + (1 - beta2) * g * g
            firstMoment[i] = m
            secondMoment[i] = v
            let denominator = v.squareRoot() * inverseSqrtCorrection2 + epsilon
            parameters[i] = parameters[i] * decayFactor - stepSize * m / denominator
        }
    }
}

/// Elements per block of the gradient norm: blocks are summed separately and then in order, so the norm does not depend
/// on how many threads share the blocks, and a part of the buffer that starts on a block boundary (a ZeRO shard) has
/// exactly the block sums the whole buffer has there. 1024 floats are one 4 KiB page.
public let gradientNormBlock = 1 << 10

/// Σ x[i]² of each block of `gradientNormBlock` elements (the last may be shorter), accumulated in Double with eight
/// lanes. Threads take contiguous ranges of blocks.
public func blockSumsOfSquares(_ x: UnsafePointer<Float>, count: Int, parallel: Parallel) -> [Double] {
    let blocks = (count + gradientNormBlock - 1) / gradientNormBlock
    return [Double](unsafeUninitializedCapacity: blocks) { sums, initialized in
        let sums = sums.baseAddress!
        parallel.forEachChunk(of: blocks, minimumChunk: elementwiseMinimumChunk / gradientNormBlock) { blockRange in
            for block in blockRange {
                let start = block * gradientNormBlock
                (sums + block).initialize(to: sumOfSquares(x + start, count: min(gradientNormBlock, count - start)))
            }
        }
        initialized = blocks
    }
}

/// ‖x‖₂: the `blockSumsOfSquares` added in order.
public func gradientNorm(_ x: UnsafePointer<Float>, count: Int, parallel: Parallel) -> Double {
    blockSumsOfSquares(x, count: count, parallel: parallel).reduce(0, +).squareRoot()
}

/// Σ x[i]² over a block, eight Double lanes.
private func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var lanes = SIMD8<Double>()
    var i = 0
    while i + 8 <= count {
        let values = SIMD8<Double>(UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self))
        lanes += values * values
        i += 8
    }
    var total = lanes.sum()
    while i < count {
        total += Double(x[i]) * Double(x[i])
        i += 1
    }
    return total
}

/// torch.nn.utils.clip_grad_norm_(max_norm): returns the norm of x before clipping and clips x to it
/// (`clipGradients`).
public func clipGradientNorm(_ x: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double, parallel: Parallel) -> Double {
    let norm = gradientNorm(x, count: count, parallel: parallel)
    clipGradients(x, count: count, norm: norm, maxNorm: maxNorm, parallel: parallel)
    return norm
}

/// The clipping of `clipGradientNorm` for a given norm: when it is finite and maxNorm / (norm + 1e-6) < 1, multiplies
/// x by that coefficient; maxNorm ≤ 0 does nothing. Separate so a shard can be clipped with the norm of all shards.
public func clipGradients(_ x: UnsafeMutablePointer<Float>, count: Int, norm: Double, maxNorm: Double,
                          parallel: Parallel) {
    let coefficient = maxNorm / (norm + 1e-6)
    guard maxNorm > 0, norm.isFinite, coefficient < 1 else { return }
    let factors = Float8(repeating: Float(coefficient))
    parallel.forEachChunk(of: count, minimumChunk: elementwiseMinimumChunk) { range in
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let scaled = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) * factors
            UnsafeMutableRawPointer(x + i).storeBytes(of: scaled, as: Float8.self)
            i += 8
        }
        while i < range.upperBound {
            x[i] *= Float(coefficient)
            i += 1
        }
    }
}

/// Whether every value is finite (no ±inf, no NaN): `x − x` is 0 exactly for finite x and NaN otherwise. Checked after
/// each update so that no checkpoint or final model is ever written with a value training can't continue from.
public func allFinite(_ x: UnsafePointer<Float>, count: Int, parallel: Parallel) -> Bool {
    let chunks = max(1, (count + elementwiseMinimumChunk - 1) / elementwiseMinimumChunk)
    let flags = UnsafeMutableBufferPointer<Bool>.allocate(capacity: chunks)
    defer { flags.deallocate() }
    flags.initialize(repeating: true)
    parallel.forEachChunk(of: chunks, minimumChunk: 1) { chunkRange in
        for chunk in chunkRange {
            let start = chunk * elementwiseMinimumChunk, end = min(count, start + elementwiseMinimumChunk)
            var residue = Float8(repeating: 0)
            var i = start
            while i + 8 <= end {
                let value = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
                residue += value - value
                i += 8
            }
            var tail: Float = 0
            while i < end {
                tail += x[i] - x[i]
                i += 1
            }
            flags[chunk] = residue.sum() == 0 && tail == 0
        }
    }
    return flags.allSatisfy { $0 }
}
