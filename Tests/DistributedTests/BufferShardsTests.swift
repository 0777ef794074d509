import Testing
@testable import Distributed

@Suite struct BufferShardsTests {
    @Test func shardsCoverTheBufferInOrderOnBlockBoundariesAndBalanced() {
        for count in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            for ranks in 1...9 {
                let shards = BufferShards(count: count, ranks: ranks, alignment: 8)
                #expect(shards.ranges.count == ranks)
                #expect(shards.ranges.first?.lowerBound == 0 && shards.ranges.last?.upperBound == count)
                for (shard, next) in zip(shards.ranges, shards.ranges.dropFirst()) {
                    #expect(shard.upperBound == next.lowerBound, "count \(count) ranks \(ranks)")
                }
                #expect(shards.ranges.allSatisfy { $0.lowerBound % 8 == 0 })
                let blocks = shards.ranges.map { ($0.count + 7) / 8 }
                #expect(blocks.max()! - blocks.min()! <= 1, "count \(count) ranks \(ranks): \(shards.ranges)")
            }
        }
    }

    @Test func countsAreEachRanksPartOfARange() {
        let shards = BufferShards(count: 100, ranks: 3, alignment: 10)
        #expect(shards.ranges == [0 ..< 30, 30 ..< 60, 60 ..< 100])
        #expect(shards.counts(in: 25 ..< 75) == [5, 30, 15])
        #expect(shards.counts(in: 80 ..< 100) == [0, 0, 20])
        #expect(shards.counts(in: 0 ..< 100) == [30, 30, 40])
        #expect(BufferShards(count: 5, ranks: 4, alignment: 10).ranges == [0 ..< 0, 0 ..< 0, 0 ..< 0, 0 ..< 5])
    }
}
