import Testing
import Benchmarks
import Training

/// The cost model's fit and formulas against values worked out by hand.
@Suite struct CostModelTests {
    @Test func fitRecoversLatencyAndBandwidthOfAnExactLine() throws {
        // t = 20 µs + 2(n−1)/n · S / 5 GB/s at n = 4.
        let sizes: [Int] = [1 << 10, 1 << 16, 1 << 20, 1 << 24]
        let samples: [(bytes: Int, seconds: Double)] = sizes.map { bytes in
            let seconds: Double = 20e-6 + 1.5 * Double(bytes) / 5e9
            return (bytes: bytes, seconds: seconds)
        }
        let link = try #require(CostModel.Link.fit(samples, ranks: 4))
        #expect(abs(link.latencySeconds - 20e-6) < 1e-12)
        #expect(abs(link.bytesPerSecond - 5e9) / 5e9 < 1e-9)
        #expect(link.sumSeconds(bytes: 1e6, ranks: 1) == 0)
        #expect(CostModel.Link.fit([(8, 1e-6)], ranks: 2) == nil)
    }

    @Test func projectionAddsComputeHierarchicalSumAndOptimizerAndCountsShardedMemory() {
        let model = CostModel(intraNode: CostModel.Link(latencySeconds: 1e-5, bytesPerSecond: 1e10),
                              interNodeLatencySeconds: 1e-4, flopsPerSecondPerCore: 1e10,
                              optimizerSecondsPerParameterPerCore: 1e-9, activationBytesPerTokenLayerWidth: 2)
        let shape = CostModel.Shape(name: "t", parameters: 1e8, layers: 10, width: 100)
        var run = CostModel.Run(ranks: 16, linkGbps: 80)  // 2 nodes of 8 ranks, 10 GB/s between them
        let replicated = model.project(shape, run)
        #expect(abs(replicated.computeSeconds - 8 * 1e8 * 8192 / (1e10 * 8)) < 1e-9)
        let intra: Double = 1e-5 + 1.75 * 4e8 / 1e10
        let inter: Double = 1e-4 + 1.0 * 4e8 / 1e10
        #expect(abs(replicated.communicationSeconds - (intra + inter)) < 1e-12)
        #expect(abs(replicated.optimizerSeconds - 1e-9 * 1e8 / 8) < 1e-15)
        let replicatedState: Double = 20 * 1e8
        #expect(abs(replicated.memoryBytesPerRank - (replicatedState + 2 * 1024 * 10 * 100)) < 1e-3)
        run.zero = .gradients
        run.shareReference = true
        let sharded = model.project(shape, run)
        let shardedState: Double = 4e8 + 4e8 / 16 + 8e8 / 16 + 4e8 / 8
        let activations: Double = 2 * 1024 * 10 * 100
        #expect(abs(sharded.memoryBytesPerRank - (shardedState + activations)) < 1e-3)
        #expect(abs(sharded.optimizerSeconds - replicated.optimizerSeconds / 16) < 1e-15)
        #expect(sharded.efficiency > replicated.efficiency)
    }
}
