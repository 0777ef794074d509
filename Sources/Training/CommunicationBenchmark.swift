import Foundation
import Distributed
import DPO
import Kernels
import Model
import MPI
import Optimization
import SeededRandom

/// Measures what summing gradients over ranks adds to a training step, and the MPI wrapper's all-reduce against the
/// same call in plain C (tools/bench/allreduce.c times it identically).
///
/// A step is what `Trainer.runStep` does for one micro-batch: reference and policy forward, backward, the gradient
/// sum over ranks, the global norm and AdamW (without clipping), on random tokens. The modes are measured interleaved, step by step, so
/// that load from other processes on the machine affects them alike. Every rank must call `run` (it is collective);
/// the times are rank 0's, each step started after a barrier.
public enum CommunicationBenchmark {
    public struct Settings: Sendable {
        public var model: ModelConfig
        /// Pairs per rank in the step's one micro-batch (2 rows each). With the default length, 2 ranks run the
        /// GPT-2-124M benchmark batch of docs/performance.md (2 pairs × 2 rows × 256 tokens) between them.
        public var pairsPerRank = 1
        /// Tokens per row: the first half prompt, the second half scored completion.
        public var sequenceLength = 256
        /// Measured steps per mode, after one warm-up step of each; 0 measures only the all-reduces.
        public var steps = 5
        public var bucketCapMB = 25.0
        public var threads = 1
        /// Float counts for the all-reduce comparison, and the timed calls of each (after one warm-up call).
        public var allReduceCounts: [Int] = []
        public var allReduceRepetitions = 10

        public init(model: ModelConfig) {
            self.model = model
        }
    }

    /// How the gradients of a measured step are summed.
    public enum Mode: String, CaseIterable, Sendable {
        /// Not at all: the step's compute alone (every rank still runs it, sharing the machine as in training).
        case computeOnly = "no MPI"
        /// One blocking all-reduce of the whole buffer after the backward (`ddp_bucket_cap_mb: 0`).
        case blocking = "blocking"
        /// Buckets started during the backward, with MPI_Test on every progress report (what training does).
        case bucketed = "bucketed"
        /// Buckets started during the backward but never tested before the final wait: shows what the tests add.
        case bucketedUntested = "bucketed, no MPI_Test"
    }

    public struct Result: Sendable {
        public var ranks: Int
        public var parameterCount: Int
        /// Median step seconds of each mode.
        public var medianStepSeconds: [Mode: Double]
        /// Median seconds per step spent inside the gradient sum's MPI calls (the progress reports and the final
        /// wait, or the blocking all-reduce): the exposed communication measured directly, free of the step-to-step
        /// noise that the difference of two step medians carries on a shared machine.
        public var medianSecondsInMPI: [Mode: Double]
        /// Median seconds of one wrapper `allReduceSum` per float count.
        public var medianAllReduceSeconds: [(count: Int, seconds: Double)]

        /// Step time above the compute-only step, as a percentage of the step.
        public func exposedCommunicationPercent(_ mode: Mode) -> Double {
            guard let step = medianStepSeconds[mode], let compute = medianStepSeconds[.computeOnly], step > 0 else { return 0 }
            return 100 * (step - compute) / step
        }

        public var summary: String {
            var lines = ["\(parameterCount) parameters, \(ranks) rank(s); median step seconds:"]
            for mode in Mode.allCases {
                guard let seconds = medianStepSeconds[mode] else { continue }
                let inMPI = medianSecondsInMPI[mode] ?? 0
                let exposed = mode == .computeOnly ? "" : String(
                    format: "  step − no MPI: %.1f%%   in MPI calls: %.3f s = %.1f%%",
                    exposedCommunicationPercent(mode), inMPI, 100 * inMPI / seconds)
                lines.append("  " + mode.rawValue.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + String(format: " %8.3f s", seconds) + exposed)
            }
            for (count, seconds) in medianAllReduceSeconds {
                lines.append(String(format: "allReduceSum count=%d bytes=%d median_s=%.6f", count, 4 * count, seconds))
            }
            return lines.joined(separator: "\n")
        }
    }

    public static func run(_ settings: Settings, communicator: Communicator) throws -> Result {
        let parallel = Parallel(threads: settings.threads)
        let policy = try makeCausalLanguageModel(config: settings.model, trainable: true, parallel: parallel)
        let reference = try makeCausalLanguageModel(config: settings.model, trainable: false, parallel: parallel)
        policy.initializeRandomly(seed: 1)
        reference.copyParameters(from: policy)
        let trainingConfig = TrainingConfig()
        let optimizer = AdamW(for: policy, settings: trainingConfig.adamW)
        let batch = randomBatch(settings, seed: UInt64(communicator.rank))
        let normalization = LossNormalization(pairs: settings.pairsPerRank * communicator.size,
                                              chosenTokens: settings.pairsPerRank * communicator.size * settings.sequenceLength / 2)
        let dpo = DPOStep(loss: trainingConfig.dpoLoss)

        var samples: [Mode: [Double]] = [:]
        var samplesInMPI: [Mode: [Double]] = [:]
        var optimizerStep = 0
        for round in 0 ... settings.steps where settings.steps > 0 {
            for mode in Mode.allCases {
                try communicator.barrier()
                let start = DispatchTime.now().uptimeNanoseconds
                policy.zeroGradients()
                let reducer = mode == .computeOnly ? nil : GradientReducer(
                    communicator: communicator, gradients: policy.gradients,
                    bucketCapMB: mode == .blocking ? 0 : settings.bucketCapMB, testsWhileComputing: mode == .bucketed)
                var secondsInMPI = 0.0
                let timedHook = reducer?.gradientsReady.map { hook in
                    { (range: Range<Int>) in secondsInMPI += seconds { hook(range) } }
                }
                _ = dpo.run(policy: policy, reference: .model(reference), batch: batch, normalization: normalization,
                            train: true, gradientsReady: timedHook)
                secondsInMPI += try seconds { try reducer?.finish() }
                _ = clipGradientNorm(policy.gradients.baseAddress!, count: policy.parameterCount,
                                     maxNorm: trainingConfig.maxGradNorm, parallel: parallel)
                optimizerStep += 1
                optimizer.update(policy, step: optimizerStep, learningRate: trainingConfig.learningRate, parallel: parallel)
                let stepSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if round > 0 {
                    samples[mode, default: []].append(stepSeconds)
                    samplesInMPI[mode, default: []].append(secondsInMPI)
                }
            }
        }

        var allReduceTimes: [(count: Int, seconds: Double)] = []
        for count in settings.allReduceCounts {
            allReduceTimes.append((count, try medianAllReduceSeconds(count: count, repetitions: settings.allReduceRepetitions,
                                                                    communicator: communicator)))
        }
        return Result(ranks: communicator.size, parameterCount: policy.parameterCount,
                      medianStepSeconds: samples.mapValues(median), medianSecondsInMPI: samplesInMPI.mapValues(median),
                      medianAllReduceSeconds: allReduceTimes)
    }

    /// Rows 0..<P chosen, P..<2P rejected: random tokens, the second half of every row scored.
    private static func randomBatch(_ settings: Settings, seed: UInt64) -> SequenceBatch {
        var random = SplitMix64(seed: seed)
        let (rows, length) = (2 * settings.pairsPerRank, settings.sequenceLength)
        let tokens = (0 ..< rows * length).map { _ in Int32.random(in: 0 ..< Int32(settings.model.vocabSize), using: &random) }
        let scoreMask = (0 ..< rows * length).map { UInt8($0 % length >= length / 2 ? 1 : 0) }
        return SequenceBatch(count: rows, length: length, tokens: tokens, scoreMask: scoreMask)
    }

    /// Barrier, then one in-place `allReduceSum` timed; the median over `repetitions` after one warm-up call.
    private static func medianAllReduceSeconds(count: Int, repetitions: Int, communicator: Communicator) throws -> Double {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for index in buffer.indices { buffer[index] = 1e-3 * Float(index % 1000) }
        try communicator.allReduceSum(buffer)
        var times: [Double] = []
        for _ in 0 ..< repetitions {
            try communicator.barrier()
            times.append(try seconds { try communicator.allReduceSum(buffer) })
        }
        return median(times)
    }

    /// Wall-clock seconds `body` takes.
    private static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
