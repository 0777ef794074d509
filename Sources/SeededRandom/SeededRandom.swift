import Foundation

// Seeded generators of our own, so every random choice (data order, initial weights, test inputs) is
// identical on every platform, Swift version and run.

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast generator. Expands seeds into xoshiro state, draws the
/// model's initial weights and the tests' inputs.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// The `index`-th output (0-based) of `SplitMix64(seed: seed)` without drawing the ones before: the state is a
    /// counter, so any element of the stream is one mix away (dropout masks regenerated in backward use this).
    public static func value(seed: UInt64, index: UInt64) -> UInt64 {
        mix(seed &+ (index &+ 1) &* increment)
    }

    private static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15

    private static func mix(_ state: UInt64) -> UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018).
public struct Xoshiro256StarStar: RandomNumberGenerator {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// `stream` selects one of many independent sequences for the same seed (we use the epoch): SplitMix64 seeded by
    /// `seed` yields a key that is mixed with `stream` into a second SplitMix64, which fills the state.
    public init(seed: UInt64, stream: UInt64) {
        var seedMixer = SplitMix64(seed: seed)
        var stateFiller = SplitMix64(seed: seedMixer.next() ^ stream)
        self.init(state: (stateFiller.next(), stateFiller.next(), stateFiller.next(), stateFiller.next()))
    }

    /// Starts from a raw state (must not be all zero); lets tests check the published reference outputs.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.state = state
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, by: 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotateLeft(state.3, by: 45)
        return result
    }

    /// Uniform in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }

    private func rotateLeft(_ value: UInt64, by amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }
}

/// Standard normal samples: SplitMix64 uniforms through the Box–Muller transform. Own generator so that
/// initialization is reproducible across platforms and Swift versions.
public struct NormalGenerator {
    private var uniforms: SplitMix64
    private var spare: Double?

    public init(seed: UInt64) { uniforms = SplitMix64(seed: seed) }

    /// Uniform in (0, 1]: never 0, so the logarithm below is finite.
    private mutating func nextUniform() -> Double {
        Double((uniforms.next() >> 11) + 1) * 0x1p-53
    }

    public mutating func next() -> Double {
        if let value = spare {
            spare = nil
            return value
        }
        let radius = (-2 * log(nextUniform())).squareRoot()
        let angle = 2 * Double.pi * nextUniform()
        spare = radius * sin(angle)
        return radius * cos(angle)
    }
}
