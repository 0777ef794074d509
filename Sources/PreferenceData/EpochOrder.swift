import SeededRandom

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
