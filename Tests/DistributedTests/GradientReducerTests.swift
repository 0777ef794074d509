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
}
