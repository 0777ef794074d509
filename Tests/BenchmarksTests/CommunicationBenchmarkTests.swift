import Foundation
import Testing
import Benchmarks
import Model
import MPI

/// Runs `CommunicationBenchmark` and prints its figures; no timing is asserted (the machine is shared).
/// Under `swift test` it runs a tiny model on one rank. The figures of docs/performance.md come from this test run on
/// two ranks with DPO_COMMUNICATION_BENCHMARK=gpt2 (the command is there); DPO_COMMUNICATION_BENCHMARK_LAYERS and
/// DPO_COMMUNICATION_BENCHMARK_STEPS shrink that run (0 steps: only the all-reduce comparison).
@Suite struct CommunicationBenchmarkTests {
    @Test func reportsEveryModeAndEveryAllReduceSize() throws {
        let communicator = try Communicator.world()
        let environment = ProcessInfo.processInfo.environment
        var settings: CommunicationBenchmark.Settings
        if environment["DPO_COMMUNICATION_BENCHMARK"] == "gpt2" {
            var model = ModelConfig.gpt2Small
            model.layers = environment["DPO_COMMUNICATION_BENCHMARK_LAYERS"].flatMap(Int.init) ?? model.layers
            settings = .init(model: model)
            settings.steps = environment["DPO_COMMUNICATION_BENCHMARK_STEPS"].flatMap(Int.init) ?? 5
            settings.allReduceCounts = [ParameterLayout(config: .gpt2Small).parameterCount, 6_553_600, 1_048_576]
        } else {
            settings = .init(model: .gpt2(vocabSize: 50, maxPositions: 16, layers: 2, heads: 2, channels: 16))
            settings.sequenceLength = 16
            settings.steps = 2
            settings.allReduceCounts = [1000, 10]
        }
        let result = try CommunicationBenchmark.run(settings, communicator: communicator)
        if communicator.rank == 0 { print(result.summary) }
        // Alone under mpirun (the measuring run), MPI must be finalized before the process exits.
        if communicator.size > 1 { communicator.finalize() }

        let measuredModes = settings.steps > 0 ? Set(CommunicationBenchmark.Mode.allCases) : []
        #expect(Set(result.medianStepSeconds.keys) == measuredModes)
        #expect(result.medianStepSeconds.values.allSatisfy { $0 > 0 })
        #expect(result.medianAllReduceSeconds.map(\.count) == settings.allReduceCounts)
        #expect(result.medianAllReduceSeconds.allSatisfy { $0.seconds > 0 })
    }
}
