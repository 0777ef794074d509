/// One contiguous range of a flat buffer per rank, in rank order: ZeRO's partition of the gradients and the optimizer
/// state. The buffer's blocks of `alignment` elements are dealt out as evenly as possible, so every shard starts on a
/// block boundary and shards differ by at most one block (the last shard ends with the buffer's partial block). The
/// gradient reducer, the optimizer and the checkpoint all use this one split.
public struct BufferShards: Equatable, Sendable {
    /// Rank r's shard is `ranges[r]`; together they cover the buffer in order (some are empty when it has fewer
    /// blocks than there are ranks).
    public let ranges: [Range<Int>]

    public init(count: Int, ranks: Int, alignment: Int) {
        precondition(count >= 0 && ranks >= 1 && alignment >= 1, "BufferShards(count: \(count), ranks: \(ranks), alignment: \(alignment))")
        let blocks = (count + alignment - 1) / alignment
        ranges = (0 ..< ranks).map { rank in
            min(count, blocks * rank / ranks * alignment) ..< min(count, blocks * (rank + 1) / ranks * alignment)
        }
    }

    public subscript(rank: Int) -> Range<Int> { ranges[rank] }

    /// How many elements of `range` each rank owns, in rank order: the counts of a reduce-scatter of that range.
    public func counts(in range: Range<Int>) -> [Int] {
        ranges.map { $0.clamped(to: range).count }
    }
}
