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

/// Elements per block of `gradientNorm`: blocks are summed separately and then in order, so the norm does not depend
/// on how many threads share the blocks.
private let normBlock = 1 << 16

/// ‖x‖₂, accumulated in Double: Σ x[i]² per block of `normBlock` elements (eight lanes), the blocks' sums added in
/// order. Threads take contiguous ranges of blocks.
public func gradientNorm(_ x: UnsafePointer<Float>, count: Int, parallel: Parallel) -> Double {
    let blocks = (count + normBlock - 1) / normBlock
    var blockSums = [Double](repeating: 0, count: blocks)
    blockSums.withUnsafeMutableBufferPointer { sums in
        let sums = sums.baseAddress!
        parallel.forEachChunk(of: blocks) { blockRange in
            for block in blockRange {
                let start = block * normBlock
                sums[block] = sumOfSquares(x + start, count: min(normBlock, count - start))
            }
        }
    }
    return blockSums.reduce(0, +).squareRoot()
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

/// torch.nn.utils.clip_grad_norm_(max_norm): returns the norm of x before clipping and, when it is finite and
/// maxNorm / (norm + 1e-6) < 1, multiplies x by that coefficient. maxNorm ≤ 0 only measures.
public func clipGradientNorm(_ x: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double, parallel: Parallel) -> Double {
    let norm = gradientNorm(x, count: count, parallel: parallel)
    let coefficient = maxNorm / (norm + 1e-6)
    guard maxNorm > 0, norm.isFinite, coefficient < 1 else { return norm }
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
    return norm
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
