import Kernels
import Testing
@testable import Training

@Suite struct ZeroShardingTests {
    @Test func oneRankHasNothingToShardAndRunsAsStageZero() {
        let single = ZeroSharding(.gradients, parameterCount: 5000, rank: 0, ranks: 1)
        #expect(single.stage == .replicated && single.shards == nil)
        #expect(single.ownedRanges == [0 ..< 5000] && single.ownedRange == 0 ..< 5000)
        let replicated = ZeroSharding(.replicated, parameterCount: 5000, rank: 1, ranks: 3)
        #expect(replicated.ownedRanges == Array(repeating: 0 ..< 5000, count: 3))
    }

    /// Shards start on the gradient norm's blocks, so each rank's block sums are the whole buffer's there.
    @Test func shardsAreBlockAlignedAndEachRankOwnsItsOwn() {
        let count = 10 * gradientNormBlock + 7
        for rank in 0 ..< 4 {
            let sharded = ZeroSharding(.optimizerStates, parameterCount: count, rank: rank, ranks: 4)
            #expect(sharded.stage == .optimizerStates)
            #expect(sharded.ownedRanges.allSatisfy { $0.lowerBound % gradientNormBlock == 0 })
            #expect(sharded.ownedRanges.last?.upperBound == count)
            #expect(sharded.ownedRange == sharded.ownedRanges[rank])
        }
    }
}
