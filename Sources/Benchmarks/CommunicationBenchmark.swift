import Foundation
import Distributed
import DPO
import Model
import MPI
import Training

/// Measures what summing gradients over ranks adds to a training step, and the MPI wrapper's all-reduce against the
/// same call in plain C (tools/bench/allreduce.c times it identically).
///
/// A step is the trainer's `TrainingStep` on one random micro-batch per rank (`RandomDPOTraining`): reference and
/// policy forward, backward, the gradient sum over ranks, the global norm, clipping and AdamW. The modes are measured
/// interleaved, step by step, so that load from other processes on the machine affects them alike. Every rank must
/// call `run` (it is collective); the times are rank 0's, each step started after a barrier.
public enum CommunicationBenchmark {
    public struct Settings: Sendable {
        public var model: ModelConfig
        /// Pairs per rank in the step's one micro-batch (2 rows each). With the default length, 2 ranks run the
        /// GPT-2-124M benchmark batch of docs/performance.md (2 pairs × 2 rows × 256 tokens) between them.
        public var pairsPerRank = 1
        /// Tokens per row: the first half prompt, the second half scored completion.
        public var sequenceLength = 256
        /// Micro-batches per rank and step (gradient accumulation): strong scaling divides a fixed global batch by it.
        public var accumulation = 1
        /// Keep only each block's input and rerun the blocks in backward (training's `gradient_checkpointing`).
        public var gradientCheckpointing = false
        /// Measured steps per mode, after one warm-up step of each; 0 measures only the all-reduces.
        public var steps = 5
        public var bucketCapMB = 25.0
        /// What each rank keeps of the optimizer state and gradients (`zero_stage`).
        public var zeroStage = ZeroStage.replicated
        /// One reference model per node in shared memory (training's `share_reference`) instead of one per rank.
        public var shareReference = false
        /// The gradient sums measured, in this order each round.
        public var modes = Mode.allCases
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
        /// The stage in effect (0 on one rank).
        public var zeroStage: ZeroStage
        /// Median step seconds of each mode.
        public var medianStepSeconds: [Mode: Double]
        /// Median seconds per step spent inside the gradient sum's MPI calls (the progress reports and the final
        /// wait, or the blocking all-reduce): the exposed communication measured directly, free of the step-to-step
        /// noise that the difference of two step medians carries on a shared machine.
        public var medianSecondsInMPI: [Mode: Double]
        /// Median seconds per step of the norm, clipping and AdamW (`TrainingStep.Outcome.secondsInOptimizer`).
        public var medianSecondsInOptimizer: [Mode: Double]
        /// Tokens (chosen and rejected rows) all ranks process in one step.
        public var tokensPerStep: Int
        /// Every rank's peak PSS in KiB over the whole run, and its anonymous, file and shared-memory parts at that
        /// peak, in rank order (empty where /proc/self/smaps_rollup is missing).
        public var peakPSSKiB: [[Int]]
        /// Median seconds of one wrapper `allReduceSum` per float count.
        public var medianAllReduceSeconds: [(count: Int, seconds: Double)]

        /// Step time above the compute-only step, as a percentage of the step.
        public func exposedCommunicationPercent(_ mode: Mode) -> Double {
            guard let step = medianStepSeconds[mode], let compute = medianStepSeconds[.computeOnly], step > 0 else { return 0 }
            return 100 * (step - compute) / step
        }

        public var summary: String {
            var lines = ["\(parameterCount) parameters, \(ranks) rank(s), zero_stage \(zeroStage.rawValue); median step seconds:"]
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
        let shape = BenchmarkShape(name: "communication", config: settings.model, pairs: settings.pairsPerRank,
                                   length: settings.sequenceLength, promptLength: settings.sequenceLength / 2)
        let sampler = PeakPSSSampler()
        let training = try RandomDPOTraining(
            shape, variant: StepVariant(gradientCheckpointing: settings.gradientCheckpointing), threads: settings.threads,
            ranks: communicator.size, rank: communicator.rank, accumulation: settings.accumulation,
            zeroStage: settings.zeroStage, sharedReferenceOn: settings.shareReference ? try NodeTopology(world: communicator) : nil)
        var samples: [Mode: [Double]] = [:]
        var samplesInMPI: [Mode: [Double]] = [:]
        var samplesInOptimizer: [Mode: [Double]] = [:]
        for round in 0 ... settings.steps where settings.steps > 0 {
            for mode in settings.modes {
                try communicator.barrier()
                var outcome: TrainingStep.Outcome<PreferenceMetricSums>?
                let timing = try time {
                    outcome = try training.step(summing: mode.gradientSum(communicator, bucketCapMB: settings.bucketCapMB))
                }
                if round > 0, let outcome {
                    samples[mode, default: []].append(timing.wallSeconds)
                    samplesInMPI[mode, default: []].append(outcome.secondsInMPI)
                    samplesInOptimizer[mode, default: []].append(outcome.secondsInOptimizer)
                }
            }
        }

        var allReduceTimes: [(count: Int, seconds: Double)] = []
        for count in settings.allReduceCounts {
            allReduceTimes.append((count, try medianAllReduceSeconds(count: count, repetitions: settings.allReduceRepetitions,
                                                                    communicator: communicator)))
        }
        let peak = sampler.stop()
        var peaks = [Double](repeating: 0, count: 4 * communicator.size)
        if let peak {
            peaks.replaceSubrange(4 * communicator.rank ..< 4 * communicator.rank + 4,
                                  with: [peak.pss, peak.anonymous, peak.file, peak.shared].map(Double.init))
        }
        try peaks.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        let peakPSS = peaks.allSatisfy { $0 == 0 } ? [] : (0 ..< communicator.size).map { rank in
            peaks[4 * rank ..< 4 * rank + 4].map { Int($0) }
        }
        return Result(ranks: communicator.size, parameterCount: training.policy.parameterCount, zeroStage: training.zero.stage,
                      medianStepSeconds: samples.mapValues(median), medianSecondsInMPI: samplesInMPI.mapValues(median),
                      medianSecondsInOptimizer: samplesInOptimizer.mapValues(median),
                      tokensPerStep: communicator.size * settings.accumulation * shape.tokensPerStep, peakPSSKiB: peakPSS,
                      medianAllReduceSeconds: allReduceTimes)
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
            times.append(try time { try communicator.allReduceSum(buffer) }.wallSeconds)
        }
        return median(times)
    }
}

extension CommunicationBenchmark.Mode {
    /// The training step's gradient sum this mode measures.
    func gradientSum(_ communicator: Communicator, bucketCapMB: Double) -> TrainingStep.GradientSum {
        switch self {
        case .computeOnly: .none
        case .blocking: .blocking(communicator)
        case .bucketed: .overlapped(communicator, bucketCapMB: bucketCapMB, testsWhileComputing: true)
        case .bucketedUntested: .overlapped(communicator, bucketCapMB: bucketCapMB, testsWhileComputing: false)
        }
    }
}
