import SeededRandom
import Testing
@testable import Kernels

/// Naive reference: element i is kept when SplitMix64(seed)'s i-th draw is at least p·2⁶⁴.
private func keptMask(count: Int, probability: Double, seed: UInt64) -> [Bool] {
    var stream = SplitMix64(seed: seed)
    let threshold = UInt64(Double(Float(probability)) * 0x1p64)
    return (0 ..< count).map { _ in stream.next() >= threshold }
}

@Test(arguments: [0.0, 0.1, 0.5, 0.9])
func dropoutForwardZeroesTheDrawnElementsAndRescalesTheRest(probability: Double) {
    let count = 20_000
    var random = SplitMix64(seed: 60)
    let inp = TestBuffer(random.floats(count)), out = TestBuffer(random.floats(count))
    dropoutForward(out: out.pointer, inp: inp.pointer, count: count, probability: Float(probability), seed: 7,
                   parallel: Parallel(threads: 2))
    let kept = keptMask(count: count, probability: probability, seed: 7)
    let scale = 1 / (1 - Float(probability))
    #expect(out.values == zip(inp.values, kept).map { $1 ? $0 * scale : 0 })
    let fraction = Double(kept.filter { !$0 }.count) / Double(count)
    #expect(abs(fraction - probability) < 0.02, "dropped \(fraction) of the elements for p = \(probability)")
}

@Test func dropoutBackwardAccumulatesThroughTheSameMask() {
    let count = 1000
    var random = SplitMix64(seed: 61)
    let dout = TestBuffer(random.floats(count)), start = random.floats(count)
    let dinp = TestBuffer(start)
    dropoutBackward(dinp: dinp.pointer, dout: dout.pointer, count: count, probability: 0.25, seed: 99, parallel: .serial)
    let kept = keptMask(count: count, probability: 0.25, seed: 99)
    let expected = (0 ..< count).map { start[$0] + (kept[$0] ? dout.values[$0] * (1 / Float(0.75)) : 0) }
    #expect(dinp.values == expected)
    // Another seed draws another mask.
    let other = TestBuffer(start)
    dropoutBackward(dinp: other.pointer, dout: dout.pointer, count: count, probability: 0.25, seed: 100, parallel: .serial)
    #expect(other.values != dinp.values)
}

@Test func splitMixValueIsTheStreamsElement() {
    var stream = SplitMix64(seed: 123)
    let drawn = (0 ..< 10).map { _ in stream.next() }
    #expect(drawn == (0 ..< 10).map { SplitMix64.value(seed: 123, index: UInt64($0)) })
}
