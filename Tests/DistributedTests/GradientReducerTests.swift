import Testing
@testable import Distributed

@Suite struct GradientReducerTests {
    @Test func bucketsCutTheBufferFromItsEndIntoCappedRanges() {
        // 1 MiB holds 262144 floats.
        let buckets = GradientReducer.buckets(count: 600_000, bucketCapMB: 1)
        #expect(buckets == [337_856 ..< 600_000, 75_712 ..< 337_856, 0 ..< 75_712])
        #expect(GradientReducer.buckets(count: 10, bucketCapMB: 25) == [0 ..< 10])
        // A cap below one float still makes progress, one element per bucket.
        #expect(GradientReducer.buckets(count: 3, bucketCapMB: 1e-9) == [2 ..< 3, 1 ..< 2, 0 ..< 1])
        #expect(GradientReducer.buckets(count: 10, bucketCapMB: 0).isEmpty)
    }

    /// The node's ranks split a chunk into consecutive slices on cache-line bounds that cover it exactly once.
    @Test func slicesCoverTheChunkOnCacheLineBounds() {
        for (count, members) in [(1_000, 3), (16, 4), (5, 2), (0, 2), (1 << 20, 8)] {
            let slices = (0 ..< members).map { HierarchicalAllReduce.slice(of: count, member: $0, members: members) }
            #expect(slices.first?.lowerBound == 0 && slices.last?.upperBound == count)
            #expect(zip(slices, slices.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(slices.dropLast().allSatisfy { $0.upperBound % 16 == 0 })
        }
        #expect(HierarchicalAllReduce.slice(of: 1_000, member: 1, members: 3) == 336 ..< 672)
    }

    /// The node sum adds pairwise in rank order, ((s0 + s1) + (s2 + s3)) + s4, the order of recursive doubling: values
    /// chosen so that any other order rounds differently.
    @Test func nodeSumAddsPairwiseInRankOrder() {
        let values: [Float] = [1, 1e8, -1e8, 3, 0.5]
        let slots = values.map { value -> UnsafeMutablePointer<Float> in
            let slot = UnsafeMutablePointer<Float>.allocate(capacity: 2)
            slot.initialize(repeating: value, count: 2)
            return slot
        }
        defer { slots.forEach { $0.deallocate() } }
        HierarchicalAllReduce.sumPairwise(slots, range: 0 ..< 2)
        let expected = ((values[0] + values[1]) + (values[2] + values[3])) + values[4]
        #expect(slots[0][0] == expected && slots[0][1] == expected)
        #expect(expected != values.reduce(0, +))
    }
}
