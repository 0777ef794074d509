import SeededRandom

/// Inverted dropout (PyTorch's `nn.Dropout` in training mode): each element is zeroed with probability p and the
/// others are divided by 1 − p. The mask is not stored: element i is kept when the i-th output of
/// `SplitMix64(seed: seed)` is at least p·2⁶⁴, so backward regenerates the mask from the seed alone.

/// out[i] = keep(i) ? inp[i] / (1 − p) : 0.
public func dropoutForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count: Int, probability: Float,
                           seed: UInt64, parallel: Parallel) {
    let keptScale = 1 / (1 - probability)
    let threshold = dropThreshold(probability)
    parallel.forEachChunk(of: count, minimumChunk: 1 << 14) { range in
        for index in range {
            let kept = SplitMix64.value(seed: seed, index: UInt64(index)) >= threshold
            out[index] = kept ? inp[index] * keptScale : 0
        }
    }
}

/// dinp[i] += keep(i) ? dout[i] / (1 − p) : 0, with the mask of `dropoutForward` for the same seed; ACCUMULATES.
public func dropoutBackward(dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, count: Int,
                            probability: Float, seed: UInt64, parallel: Parallel) {
    let keptScale = 1 / (1 - probability)
    let threshold = dropThreshold(probability)
    parallel.forEachChunk(of: count, minimumChunk: 1 << 14) { range in
        for index in range where SplitMix64.value(seed: seed, index: UInt64(index)) >= threshold {
            dinp[index] += dout[index] * keptScale
        }
    }
}

/// p·2⁶⁴ as the smallest kept 64-bit draw (p in [0, 1)).
private func dropThreshold(_ probability: Float) -> UInt64 {
    precondition(probability >= 0 && probability < 1, "dropout probability must lie in [0, 1) (got \(probability))")
    return UInt64(min(Double(probability) * 0x1p64, Double(UInt64.max).nextDown))
}
