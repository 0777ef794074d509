import Distributed
import Kernels
import Model
import MPI
import Optimization

/// One optimizer update of the policy's trainable buffers (the whole model, or its LoRA adapters): zero the gradients,
/// forward and backward over this rank's micro-batches, sum the gradients over ranks, clip their global norm, AdamW.
/// The one code path that training (`Trainer.runStep`), `dpo-dist bench` and `dpo-dist bench --communication` run.
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
        /// (`HierarchicalAllReduce`; blocking: nothing overlaps the backward).
        case hierarchical(HierarchicalAllReduce)
    }

    /// What one update reports.
    public struct Outcome<Metrics> {
        /// ‖g‖₂ of the summed gradient before clipping, the same on every rank.
        public var gradientNorm: Double
        /// What each micro-batch's forward/backward returned, in order.
        public var metrics: [Metrics]
        /// Seconds this rank spent inside the gradient sum's MPI calls (0 without one).
        public var secondsInMPI: Double
    }

    /// What is updated; the forward/backward closure accumulates into its gradients.
    public let trainable: TrainableParameters
    public let optimizer: AdamW
    public let gradientSum: GradientSum
    /// `max_grad_norm`; 0 or less only measures the norm.
    public let maxGradNorm: Double
    public let parallel: Parallel

    public init(trainable: TrainableParameters, optimizer: AdamW, gradientSum: GradientSum, maxGradNorm: Double,
                parallel: Parallel) {
        self.trainable = trainable
        self.optimizer = optimizer
        self.gradientSum = gradientSum
        self.maxGradNorm = maxGradNorm
        self.parallel = parallel
    }

    /// Update number `update` (counted from 1) at `learningRate`. `forwardBackward` runs one of this rank's
    /// `microBatches`, accumulating its gradients into `trainable`'s, and passes `gradientsReady` to its backward: the
    /// gradient sum's progress hook, given only for the last micro-batch (earlier backwards still add to every
    /// gradient). Throws, before anything is updated, when the summed gradient is not finite; every rank then throws.
    public func run<MicroBatch, Metrics>(
        _ microBatches: [MicroBatch], update: Int, learningRate: Double,
        forwardBackward: (MicroBatch, _ gradientsReady: ((Range<Int>) -> Void)?) -> Metrics
    ) throws -> Outcome<Metrics> {
        trainable.zeroGradients(parallel: parallel)
        let reducer = makeReducer()
        var metrics: [Metrics] = []
        for (index, microBatch) in microBatches.enumerated() {
            metrics.append(forwardBackward(microBatch, index == microBatches.count - 1 ? reducer?.gradientsReady : nil))
        }
        try reducer?.finish()
        let gradientNorm = clipGradientNorm(trainable.gradients.baseAddress!, count: trainable.count,
                                            maxNorm: maxGradNorm, parallel: parallel)
        guard gradientNorm.isFinite else {
            throw RunError.diverged(step: update, what: "the gradient is not finite (NaN or infinity); lower `learning_rate` or "
                + "`max_grad_norm`, or check the data — no update was applied, the last checkpoint is intact")
        }
        optimizer.update(trainable, step: update, learningRate: learningRate, parallel: parallel)
        return Outcome(gradientNorm: gradientNorm, metrics: metrics, secondsInMPI: reducer?.secondsInMPI ?? 0)
    }

    /// A fresh reducer for this update's gradient sum; nil when gradients are not summed.
    private func makeReducer() -> GradientReducer? {
        switch gradientSum {
        case .none:
            return nil
        case .blocking(let communicator):
            return GradientReducer(communicator: communicator, gradients: trainable.gradients, bucketCapMB: 0)
        case .overlapped(let communicator, let bucketCapMB, let testsWhileComputing):
            return GradientReducer(communicator: communicator, gradients: trainable.gradients, bucketCapMB: bucketCapMB,
                                   testsWhileComputing: testsWhileComputing)
        case .hierarchical(let hierarchical):
            return GradientReducer(communicator: hierarchical.topology.world, gradients: trainable.gradients, bucketCapMB: 0,
                                   hierarchical: hierarchical)
        }
    }
}
