import Testing
import Benchmarks
import MPI

/// The all-reduce sweep in the test process (one rank): its sizes, its checks and its table; no timing is asserted.
@Suite struct AllReduceBenchmarkTests {
    @Test func sweepsDoublingSizesWithBothPathsAndNoWrongElements() throws {
        var settings = AllReduceBenchmark.Settings()
        settings.minimumBytes = 8
        settings.maximumBytes = 4096
        #expect(settings.sizes == [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
        #expect(AllReduceBenchmark.Settings().sizes.last == 512 << 20)
        #expect(AllReduceBenchmark.Settings().iterations(bytes: 8) == 20)
        #expect(AllReduceBenchmark.Settings().iterations(bytes: 512 << 20) == 2)

        let result = try AllReduceBenchmark.run(settings, communicator: try Communicator.world())
        #expect(result.ranks == 1 && result.nodes == 1)
        #expect(result.rows.map(\.bytes) == settings.sizes.flatMap { [$0, $0] })
        #expect(result.rows.map(\.path) == Array(repeating: [.flat, .hierarchical], count: settings.sizes.count).flatMap { $0 })
        #expect(result.rows.allSatisfy { $0.wrong == 0 && $0.maxRelativeDifference == 0 && $0.seconds > 0 })
        // One rank moves nothing over a link: bus bandwidth 2(n − 1)/n · S / t is 0.
        #expect(result.rows.allSatisfy { $0.busBandwidthGBps == 0 && $0.algorithmBandwidthGBps > 0 })
        let table = result.table()
        #expect(table.contains("busbw GB/s") && table.split(separator: "\n").count == 2 + result.rows.count)
        #expect(result.json().contains("\"busbw_gbps\""))
    }
}
