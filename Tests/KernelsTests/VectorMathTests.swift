import Foundation
import Testing
@testable import Kernels

// Tolerances: exp 4e-7 relative (a few float ulp), tanh 3e-7 absolute — what the GELU parity with PyTorch needs.

/// Eight-lane vectors covering [lower, upper] in `steps` evenly spaced points.
private func lanes(from lower: Float, to upper: Float, steps: Int) -> [Float8] {
    let values = (0..<steps).map { lower + (upper - lower) * Float($0) / Float(steps - 1) }
    return stride(from: 0, to: values.count, by: 8).map { start in
        var vector = Float8()
        for lane in 0..<8 { vector[lane] = values[min(start + lane, values.count - 1)] }
        return vector
    }
}

@Test func vectorExpMatchesDoubleExp() {
    var worst = 0.0
    for x in lanes(from: -87, to: 88, steps: 20_001) {
        let y = exp(x)
        for lane in 0..<8 {
            let expected = Foundation.exp(Double(x[lane]))
            worst = max(worst, abs(Double(y[lane]) - expected) / expected)
        }
    }
    #expect(worst < 4e-7, "worst relative error \(worst)")
    let extremes = exp(Float8(100, -100, 0, 1, -1, .infinity, -.infinity, 88.5))
    #expect(extremes[0] == .infinity && extremes[5] == .infinity)
    #expect(extremes[1] == 0 && extremes[6] == 0)
    #expect(extremes[2] == 1)
}

@Test func vectorTanhMatchesDoubleTanh() {
    var worst = 0.0
    for x in lanes(from: -12, to: 12, steps: 20_001) {
        let y = tanh(x)
        for lane in 0..<8 { worst = max(worst, abs(Double(y[lane]) - Foundation.tanh(Double(x[lane])))) }
    }
    #expect(worst < 3e-7, "worst absolute error \(worst)")
    let saturated = tanh(Float8(50, -50, .infinity, -.infinity, 0, 0, 0, 0))
    #expect(saturated[0] == 1 && saturated[1] == -1 && saturated[2] == 1 && saturated[3] == -1 && saturated[4] == 0)
}
