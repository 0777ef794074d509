import Dispatch
import Distributed
import Kernels
import Model
import MPI
import Optimization

/// One optimizer update of the policy's trainable buffers (the whole model, or its LoRA adapters): zero the gradients,
/// forward and backward over this rank's micro-batches, sum the gradients over ranks, clip their global norm, AdamW.
/// The one code path that training (`Trainer.runStep`), `dpo-dist bench` and `dpo-dist bench --communication` run.
///
/// With ZeRO (`zero`) the sum is a reduce-scatter that leaves each rank the summed gradients of its own shard; the
/// global norm is assembled from the shards' block sums (bit for bit the replicated norm), each rank clips and updates
/// its shard, and an all-gather gives every rank all the updated parameters.
public struct TrainingStep {
    /// How the ranks' gradients are summed before clipping.
    public enum GradientSum {
        /// Not at all: a single process, or the step's compute measured alone.
        case none
        /// One blocking all-reduce of the whole buffer after the last backward (`ddp_bucket_cap_mb: 0`).
        case blocking(Communicator)
        /// Buckets of at most `bucketCapMB` MiB, each started once the last backward has finished it
        /// (`GradientReducer`); `testsWhileComputing` also drives the started ones with MPI_Test at every report of
        /// the backward, which Open MPI needs to progress them (training always does; off only to measure that).
        case overlapped(Communicator, bucketCapMB: Double, testsWhileComputing: Bool)
        /// Within each node through shared memory, then among the node leaders, after the last backward
        /// (`HierarchicalAllReduce`; blocking: nothing overlaps the backward). An all-reduce, so with ZeRO-1 each rank
        /// then uses its shard of it; not with ZeRO-2, which must reduce-scatter.
        case hierarchical(HierarchicalAllReduce)

        var communicator: Communicator? {
            switch self {
            case .none: nil
            case .blocking(let communicator), .overlapped(let communicator, _, _): communicator
            case .hierarchical(let hierarchical): hierarchical.topology.world
            }
        }
    }

    /// What one update reports.
    public struct Outcome<Metrics> {
        /// ‖g‖₂ of the summed gradient before clipping, the same on every rank.
        public var gradientNorm: Double
        /// What each micro-batch's forward/backward returned, in order.
        public var metrics: [Metrics]
        /// Seconds this rank spent inside the gradient sum's MPI calls (0 without one).
        public var secondsInMPI: Double
        /// Seconds of the global norm's own arithmetic, clipping and AdamW (MPI calls excluded): the optimizer phase
        /// of the step, which ZeRO shrinks to the rank's shard.
        public var secondsInOptimizer: Double
    }

    /// What is updated; the forward/backward closure accumulates into its gradients.
    public let trainable: TrainableParameters
    public let optimizer: AdamW
    public let gradientSum: GradientSum
    /// The ZeRO stage and shards; nil or stage 0: every rank sums, clips and updates everything.
    public let zero: ZeroSharding?
    /// `max_grad_norm`; 0 or less only measures the norm.
    public let maxGradNorm: Double
    public let parallel: Parallel

    /// `optimizer` must cover `zero`'s shard of this rank (all parameters without sharding).
    public init(trainable: TrainableParameters, optimizer: AdamW, gradientSum: GradientSum, zero: ZeroSharding? = nil,
                maxGradNorm: Double, parallel: Parallel) {
        let owned = zero?.ownedRange ?? 0 ..< trainable.count
        precondition(optimizer.range == owned, "the optimizer covers \(optimizer.range), this rank owns \(owned)")
        self.trainable = trainable
        self.optimizer = optimizer
        self.gradientSum = gradientSum
        self.zero = zero
        self.maxGradNorm = maxGradNorm
        self.parallel = parallel
    }

    /// Update number `update` (counted from 1) at `learningRate`. `forwardBackward` runs one of this rank's
    /// `microBatches`, accumulating its gradients into `trainable`'s, and passes `gradientsReady` to its backward: the
    /// gradient sum's progress hook, given for the last micro-batch only (earlier backwards still add to every
    /// gradient), or with ZeRO-2 for every one, each of which is reduced on its own. Throws, before anything is
    /// updated, when the summed gradient is not finite; every rank then throws.
    public func run<MicroBatch, Metrics>(
        _ microBatches: [MicroBatch], update: Int, learningRate: Double,
        forwardBackward: (MicroBatch, _ gradientsReady: ((Range<Int>) -> Void)?) -> Metrics
    ) throws -> Outcome<Metrics> {
        var metrics: [Metrics] = []
        var secondsInMPI = 0.0
        if zero?.stage == .gradients {
            // Every micro-batch is reduce-scattered as its backward finishes buckets, and only this rank's shard is
            // kept. Ranks with fewer micro-batches join the remaining reductions with zero gradients.
            trainable.releaseGradients(0 ..< trainable.count)
            for round in 0 ..< (try reductionRounds(microBatches.count, secondsInMPI: &secondsInMPI)) {
                let reducer = makeReducer()
                if round < microBatches.count {
                    metrics.append(forwardBackward(microBatches[round], reducer?.gradientsReady))
                }
                try reducer?.finish()
                secondsInMPI += reducer?.secondsInMPI ?? 0
            }
        } else {
            trainable.zeroGradients(parallel: parallel)
            let reducer = makeReducer()
            for (index, microBatch) in microBatches.enumerated() {
                metrics.append(forwardBackward(microBatch, index == microBatches.count - 1 ? reducer?.gradientsReady : nil))
            }
            try reducer?.finish()
            secondsInMPI += reducer?.secondsInMPI ?? 0
        }
        let owned = optimizer.range
        let ownGradients = trainable.gradients.baseAddress! + owned.lowerBound
        let secondsInMPIBeforeOptimizer = secondsInMPI
        var secondsInOptimizer = 0.0
        var gradientNorm = 0.0
        try timing(&secondsInOptimizer) {
            gradientNorm = try globalNorm(secondsInMPI: &secondsInMPI)
            clipGradients(ownGradients, count: owned.count, norm: gradientNorm, maxNorm: maxGradNorm, parallel: parallel)
            guard gradientNorm.isFinite else {
                throw RunError.diverged(step: update, what: "the gradient is not finite (NaN or infinity); lower `learning_rate` or "
                    + "`max_grad_norm`, or check the data — no update was applied, the last checkpoint is intact")
            }
            optimizer.update(trainable, step: update, learningRate: learningRate, parallel: parallel)
        }
        secondsInOptimizer -= secondsInMPI - secondsInMPIBeforeOptimizer
        if let shards = zero?.shards, let communicator = gradientSum.communicator {
            try timing(&secondsInMPI) { try communicator.allGather(trainable.parameters, ranges: shards.ranges) }
        }
        return Outcome(gradientNorm: gradientNorm, metrics: metrics, secondsInMPI: secondsInMPI,
                       secondsInOptimizer: secondsInOptimizer)
    }

    /// A fresh reducer for one gradient sum; nil when gradients are not summed.
    private func makeReducer() -> GradientReducer? {
        let result: GradientReducer.Result = zero?.shards.map { shards in
            .sharded(shards, release: zero?.stage == .gradients ? trainable.releaseGradients : nil)
        } ?? .replicated
        switch gradientSum {
        case .none:
            return nil
        case .blocking(let communicator):
            return GradientReducer(communicator: communicator, gradients: trainable.gradients, bucketCapMB: 0, result: result)
        case .overlapped(let communicator, let bucketCapMB, let testsWhileComputing):
            return GradientReducer(communicator: communicator, gradients: trainable.gradients, bucketCapMB: bucketCapMB,
                                   result: result, testsWhileComputing: testsWhileComputing)
        case .hierarchical(let hierarchical):
            precondition(zero?.stage != .gradients, "ZeRO-2 reduce-scatters; the hierarchical sum is an all-reduce")
            return GradientReducer(communicator: hierarchical.topology.world, gradients: trainable.gradients, bucketCapMB: 0,
                                   hierarchical: hierarchical)
        }
    }

    /// How many reductions ZeRO-2 runs: the most micro-batches any rank has this update (ranks learn each other's
    /// counts from an all-reduce, since the last step of an epoch can leave some ranks fewer or none).
    private func reductionRounds(_ ownCount: Int, secondsInMPI: inout Double) throws -> Int {
        guard let communicator = gradientSum.communicator, communicator.size > 1 else { return ownCount }
        var counts = [Double](repeating: 0, count: communicator.size)
        counts[communicator.rank] = Double(ownCount)
        try timing(&secondsInMPI) { try counts.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) } }
        return Int(counts.max()!)
    }

    /// ‖g‖₂ of the summed gradient. Sharded, each rank has the block sums of squares of its shard, which starts on a
    /// block boundary; an all-reduce of every rank's sums in their block positions (all other entries zero, so each
    /// sum arrives exactly) gives every rank the block sums of the whole buffer, added in the order the replicated
    /// norm adds them.
    private func globalNorm(secondsInMPI: inout Double) throws -> Double {
        let gradients = trainable.gradients.baseAddress!
        guard let shards = zero?.shards else {
            return gradientNorm(gradients, count: trainable.count, parallel: parallel)
        }
        let owned = optimizer.range
        let ownSums = blockSumsOfSquares(gradients + owned.lowerBound, count: owned.count, parallel: parallel)
        guard let communicator = gradientSum.communicator else { return ownSums.reduce(0, +).squareRoot() }
        var sums = [Double](repeating: 0, count: (trainable.count + gradientNormBlock - 1) / gradientNormBlock)
        let firstBlock = shards[communicator.rank].lowerBound / gradientNormBlock
        sums.replaceSubrange(firstBlock ..< firstBlock + ownSums.count, with: ownSums)
        try timing(&secondsInMPI) { try sums.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) } }
        return sums.reduce(0, +).squareRoot()
    }

    /// Runs `body` and adds its wall-clock time to `seconds`.
    private func timing(_ seconds: inout Double, _ body: () throws -> Void) rethrows {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        try body()
    }
}

/// DeepSpeed's ZeRO stages (`zero_stage`, as DeepSpeed and OpenRLHF name it): which of the gradients and the AdamW
/// state each rank keeps whole.
public enum ZeroStage: String, CaseIterable, Sendable {
    /// 0: every rank holds all gradients and both moments and updates every parameter; gradients are all-reduced.
    case replicated = "0"
    /// 1: each rank holds the moments of its shard only: gradients are reduce-scattered during the last backward, each
    /// rank updates its shard, and the parameters are all-gathered.
    case optimizerStates = "1"
    /// 2: as 1, and the gradients too: every micro-batch's buckets are reduce-scattered as soon as they are final and
    /// everything outside the rank's shard is released at once.
    case gradients = "2"
}

/// The ZeRO stage in effect on a run's ranks and the shard of the flat buffers each rank owns: the parameters whose
/// summed gradients and optimizer state it keeps, and which it updates.
public struct ZeroSharding: Sendable {
    /// The stage asked for, or `.replicated` on a single rank, where there is nothing to shard.
    public let stage: ZeroStage
    public let rank: Int
    public let ranks: Int
    public let parameterCount: Int
    /// Every rank's shard: contiguous, balanced, starting on `gradientNormBlock` boundaries; nil at stage 0.
    public let shards: BufferShards?

    public init(_ stage: ZeroStage, parameterCount: Int, rank: Int, ranks: Int) {
        self.stage = ranks > 1 ? stage : .replicated
        self.rank = rank
        self.ranks = ranks
        self.parameterCount = parameterCount
        shards = self.stage == .replicated
            ? nil : BufferShards(count: parameterCount, ranks: ranks, alignment: gradientNormBlock)
    }

    /// What each rank's optimizer covers, in rank order: its shard, or with stage 0 the whole buffer on every rank.
    public var ownedRanges: [Range<Int>] {
        shards?.ranges ?? Array(repeating: 0 ..< parameterCount, count: ranks)
    }

    /// This rank's entry of `ownedRanges`.
    public var ownedRange: Range<Int> { shards?[rank] ?? 0 ..< parameterCount }
}
