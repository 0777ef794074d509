import SeededRandom
import Testing

/// Seeded test inputs: every test sees the same "random" values on every run and platform.
extension SplitMix64 {
    /// Uniform in [-magnitude, magnitude).
    mutating func nextFloat(magnitude: Float = 1) -> Float {
        let unit = Float(next() >> 40) / Float(1 << 24)
        return (2 * unit - 1) * magnitude
    }

    mutating func floats(_ count: Int, magnitude: Float = 1) -> [Float] {
        (0..<count).map { _ in nextFloat(magnitude: magnitude) }
    }

    mutating func tokens(_ count: Int, below limit: Int) -> [Int32] {
        (0..<count).map { _ in Int32(next() % UInt64(limit)) }
    }
}

/// Heap memory handed to the kernels as raw pointers; values are copied in and read back as arrays.
final class TestBuffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(_ values: [Element]) {
        count = values.count
        pointer = .allocate(capacity: max(1, count))
        pointer.initialize(from: values, count: count)
    }

    var values: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { pointer.deallocate() }
}

extension TestBuffer where Element == Float {
    convenience init(zeros count: Int) { self.init([Float](repeating: 0, count: count)) }
    var doubles: [Double] { values.map(Double.init) }
}

/// Element-wise a + b in Double (expected value of an accumulating backward: prefilled gradient + new gradient).
func adding(_ start: [Float], _ increment: [Double]) -> [Double] {
    zip(start, increment).map { Double($0) + $1 }
}

/// What an accumulating backward added: result − start.
func increment(_ result: [Float], from start: [Float]) -> [Float] {
    zip(result, start).map { $0 - $1 }
}

/// Checks |actual − expected| ≤ relative·(|expected| + rms(expected)) for every element.
/// The rms term keeps the bound meaningful for elements that are near zero through cancellation.
func expectClose(_ actual: [Float], _ expected: [Double], relative: Double, _ label: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(label): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
    let rms = (expected.reduce(0) { $0 + $1 * $1 } / Double(max(1, expected.count))).squareRoot()
    var worstRatio = 0.0
    var worstIndex = 0
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        let ratio = abs(Double(a) - e) / (relative * (abs(e) + rms) + Double.leastNormalMagnitude)
        if !(ratio <= worstRatio) {
            worstRatio = ratio
            worstIndex = index
        }
    }
    #expect(worstRatio <= 1, "\(label): worst element \(worstIndex) is \(actual.isEmpty ? 0 : actual[worstIndex]), expected \(expected.isEmpty ? 0 : expected[worstIndex]) (tolerance \(relative) relative)",
            sourceLocation: sourceLocation)
}

/// Central finite differences of a scalar function in Double: ∂f/∂x[i] ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h.
func finiteDifferenceGradient(at point: [Double], step: Double = 1e-5, of function: ([Double]) -> Double) -> [Double] {
    var x = point
    return point.indices.map { i in
        x[i] = point[i] + step
        let above = function(x)
        x[i] = point[i] - step
        let below = function(x)
        x[i] = point[i]
        return (above - below) / (2 * step)
    }
}

/// Σ weights[i]·values[i] in Double: turns a vector output into the scalar loss whose gradient the backward computes.
func weightedSum(_ values: [Double], _ weights: [Float]) -> Double {
    zip(values, weights).reduce(0) { $0 + $1.0 * Double($1.1) }
}

/// Converts a Float array to Double.
func doubles(_ values: [Float]) -> [Double] { values.map(Double.init) }
