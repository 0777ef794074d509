import SeededRandom
import Testing
@testable import Kernels

// Exact: one fp32 addition per element, which the Double reference reproduces after rounding to Float.

@Test(arguments: [1, 7, 8, 33])
func residualForwardAddsAndBackwardAccumulates(count: Int) {
    var random = SplitMix64(seed: 1100 + UInt64(count))
    let a = TestBuffer(random.floats(count)), b = TestBuffer(random.floats(count))
    let out = TestBuffer(random.floats(count))
    residualForward(out: out.pointer, a: a.pointer, b: b.pointer, count: count)
    #expect(out.values == zip(a.values, b.values).map { $0 + $1 })

    let dout = TestBuffer(random.floats(count))
    let startA = random.floats(count), startB = random.floats(count)
    let da = TestBuffer(startA), db = TestBuffer(startB)
    residualBackward(da: da.pointer, db: db.pointer, dout: dout.pointer, count: count)
    #expect(da.values == zip(startA, dout.values).map { $0 + $1 })
    #expect(db.values == zip(startB, dout.values).map { $0 + $1 })
}
