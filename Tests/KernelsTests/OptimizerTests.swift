import SeededRandom
import Foundation
import Testing
@testable import Kernels

// Tolerances: AdamW 1e-6 relative against the Double formula (a handful of fp32 operations per element);
// gradientNorm 1e-12 relative (Double accumulation); clipping is exact.

/// torch.optim.AdamW written out in Double: decay, moments, bias-corrected step.
private struct AdamWReference {
    var parameters: [Double], firstMoment: [Double], secondMoment: [Double]
    let settings: AdamWSettings

    mutating func step(_ step: Int, gradients: [Float]) {
        let lr = Double(settings.learningRate), beta1 = Double(settings.beta1), beta2 = Double(settings.beta2)
        for i in parameters.indices {
            let g = Double(gradients[i])
            parameters[i] -= lr * Double(settings.weightDecay) * parameters[i]
            firstMoment[i] = beta1 * firstMoment[i] + (1 - beta1) * g
            secondMoment[i] = beta2 * secondMoment[i] + (1 - beta2) * g * g
            let mHat = firstMoment[i] / (1 - pow(beta1, Double(step)))
            let vHat = secondMoment[i] / (1 - pow(beta2, Double(step)))
            parameters[i] -= lr * mHat / (vHat.squareRoot() + Double(settings.epsilon))
        }
    }
}

/// With a constant gradient Adam's bias-corrected step is exactly lr·sign(g) (up to ε), which gives hand-checkable numbers:
/// p=1, g=0.5, lr=0.1, wd=0.01: step 1: 1·(1−0.001) − 0.1 = 0.899; step 2: 0.899·0.999 − 0.1 = 0.798101.
@Test func adamWMatchesHandComputedTwoSteps() {
    let settings = AdamWSettings(learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
    let parameters = TestBuffer<Float>([1]), gradients = TestBuffer<Float>([0.5])
    let m = TestBuffer<Float>(zeros: 1), v = TestBuffer<Float>(zeros: 1)
    var observed = [Float]()
    for step in 1...2 {
        adamWUpdate(parameters: parameters.pointer, gradients: gradients.pointer, firstMoment: m.pointer, secondMoment: v.pointer,
                    count: 1, step: step, settings: settings, parallel: .serial)
        observed.append(parameters.values[0])
    }
    expectClose(observed, [0.899, 0.798101], relative: 1e-6, "parameter after steps 1 and 2")
    expectClose(m.values, [0.095], relative: 1e-6, "first moment after step 2")
    // β2 = 0.999 is not representable in Float: 1 − Float(0.999) is 1.3e-5 larger than 0.001, hence 2e-5 here
    expectClose(v.values, [0.00049975], relative: 2e-5, "second moment after step 2")
}

@Test(arguments: [Float(0), 0.1])
func adamWMatchesReferenceOverTwoSteps(weightDecay: Float) {
    let count = 70_001  // above the thread-split threshold and not a multiple of eight
    var random = SplitMix64(seed: 2000)
    let settings = AdamWSettings(learningRate: 3e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: weightDecay)
    let startParameters = random.floats(count)
    var reference = AdamWReference(parameters: doubles(startParameters), firstMoment: .init(repeating: 0, count: count),
                                   secondMoment: .init(repeating: 0, count: count), settings: settings)
    let parameters = TestBuffer(startParameters)
    let m = TestBuffer<Float>(zeros: count), v = TestBuffer<Float>(zeros: count)
    for step in 1...2 {
        let gradients = random.floats(count, magnitude: 0.01)
        reference.step(step, gradients: gradients)
        // A named buffer: a temporary TestBuffer may be freed (deinit) as soon as its pointer has been read.
        let gradientBuffer = TestBuffer(gradients)
        adamWUpdate(parameters: parameters.pointer, gradients: gradientBuffer.pointer, firstMoment: m.pointer,
                    secondMoment: v.pointer, count: count, step: step, settings: settings, parallel: Parallel(threads: 2))
        withExtendedLifetime(gradientBuffer) {}
    }
    expectClose(parameters.values, reference.parameters, relative: 1e-6, "parameters, weightDecay \(weightDecay)")
    expectClose(m.values, reference.firstMoment, relative: 1e-6, "first moment")
    expectClose(v.values, reference.secondMoment, relative: 1e-6, "second moment")
}

@Test(arguments: [0, 1, 7, 8, 1001, 200_003])
func gradientNormAndClipping(count: Int) {
    var random = SplitMix64(seed: 2100 + UInt64(count))
    let values = random.floats(count, magnitude: 3)
    let expected = values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    // No clipping when the norm is within max_norm (or max_norm ≤ 0): the norm is returned, x is untouched.
    for maxNorm in [0.0, expected + 1] {
        let buffer = TestBuffer(values)
        let norm = clipGradientNorm(buffer.pointer, count: count, maxNorm: maxNorm, parallel: Parallel(threads: 3))
        #expect(abs(norm - expected) <= 1e-12 * max(expected, 1))
        #expect(buffer.values == values)
    }
    guard count > 0 else { return }
    // Clipping scales by max_norm / (norm + 1e-6), as torch.nn.utils.clip_grad_norm_; the same with 1 and 3 threads.
    let serial = TestBuffer(values), threaded = TestBuffer(values)
    let norm = clipGradientNorm(serial.pointer, count: count, maxNorm: 0.5, parallel: .serial)
    #expect(norm == clipGradientNorm(threaded.pointer, count: count, maxNorm: 0.5, parallel: Parallel(threads: 3)))
    let coefficient = Float(0.5 / (norm + 1e-6))
    #expect(serial.values == values.map { $0 * coefficient })
    #expect(threaded.values == serial.values)
}

@Test func gradientNormOfNonFiniteValuesIsNotFiniteAndClipsNothing() {
    let values: [Float] = [1, .nan, 2]
    let buffer = TestBuffer(values)
    #expect(!clipGradientNorm(buffer.pointer, count: 3, maxNorm: 1, parallel: .serial).isFinite)
    #expect(buffer.values[0] == 1 && buffer.values[2] == 2)
}

/// allFinite finds one ±inf or NaN anywhere (vector body, tail, any chunk), for 1 and 2 threads.
@Test func allFiniteFindsEveryNonFiniteValue() {
    for threads in [1, 2] {
        let parallel = Parallel(threads: threads)
        for count in [0, 1, 7, 8, 9, 65_536 + 13, 200_003] {
            var values = (0 ..< count).map { Float($0 % 97) * 1e30 - 4e31 }
            #expect(values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: count, parallel: parallel) })
            for bad in [Float.infinity, -.infinity, .nan] where count > 0 {
                for position in Set([0, count / 2, count - 1]) {
                    let kept = values[position]
                    values[position] = bad
                    #expect(!values.withUnsafeBufferPointer { allFinite($0.baseAddress!, count: count, parallel: parallel) },
                            "count \(count), \(bad) at \(position), \(threads) thread(s)")
                    values[position] = kept
                }
            }
        }
    }
}
