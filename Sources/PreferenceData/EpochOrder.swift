/// The order in which examples are visited in each epoch. Every rank computes the same order from the same
/// (seed, epoch) on its own, so no communication is needed; the generator is our own so the order is identical on
/// every platform, Swift version and run.
public struct EpochOrder {
    /// A permutation of `0..<count`: Fisher–Yates (from the last position down) driven by xoshiro256** whose state is
    /// seeded by SplitMix64 from `seed` and `epoch`.
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        precondition(count >= 0, "EpochOrder.permutation: count must be non-negative, got \(count)")
        var generator = Xoshiro256StarStar(seed: seed, stream: UInt64(bitPattern: Int64(epoch)))
        var order = Array(0..<count)
        var position = count - 1
        while position > 0 {
            let other = Int(generator.next(below: UInt64(position + 1)))
            order.swapAt(position, other)
            position -= 1
        }
        return order
    }
}

/// This rank's contiguous part of a global batch. Parts are disjoint, cover the batch in order, and differ in size by at
/// most one (the first `count % ranks` ranks get one extra element); with fewer elements than ranks some parts are empty.
public func rankShard<T>(of globalBatch: [T], rank: Int, ranks: Int) -> ArraySlice<T> {
    precondition(ranks > 0 && (0..<ranks).contains(rank), "rankShard: rank \(rank) is not in 0..<\(ranks)")
    let baseSize = globalBatch.count / ranks
    let ranksWithExtra = globalBatch.count % ranks
    let start = globalBatch.startIndex + rank * baseSize + min(rank, ranksWithExtra)
    let size = baseSize + (rank < ranksWithExtra ? 1 : 0)
    return globalBatch[start..<(start + size)]
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator used only to expand seeds into xoshiro state.
struct SplitMix64 {
    private var state: UInt64

    init(state: UInt64) { self.state = state }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman, Vigna 2018).
struct Xoshiro256StarStar {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// `stream` selects one of many independent sequences for the same seed (we use the epoch): SplitMix64 seeded by
    /// `seed` yields a key that is mixed with `stream` into a second SplitMix64, which fills the state.
    init(seed: UInt64, stream: UInt64) {
        var seedMixer = SplitMix64(state: seed)
        var stateFiller = SplitMix64(state: seedMixer.next() ^ stream)
        self.init(state: (stateFiller.next(), stateFiller.next(), stateFiller.next(), stateFiller.next()))
    }

    /// Starts from a raw state (must not be all zero); lets tests check the published reference outputs.
    init(state: (UInt64, UInt64, UInt64, UInt64)) {
        self.state = state
    }

    mutating func next() -> UInt64 {
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
    mutating func next(below bound: UInt64) -> UInt64 {
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
