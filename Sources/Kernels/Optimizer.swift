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

/// Σ x[i]², accumulated in Double (for gradient-norm clipping of the flat gradient buffer).
public func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
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

/// x[i] *= factor.
public func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    let factors = Float8(repeating: factor)
    var i = 0
    while i + 8 <= count {
        let scaled = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self) * factors
        UnsafeMutableRawPointer(x + i).storeBytes(of: scaled, as: Float8.self)
        i += 8
    }
    while i < count {
        x[i] *= factor
        i += 1
    }
}
