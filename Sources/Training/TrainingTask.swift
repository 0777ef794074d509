import Distributed
import Model
import MPI

/// What a run trains: DPO on preference pairs, or SFT on prompt/completion sequences. The trainer owns everything the
/// two share — the policy, the step plan, the optimizer step, logging, evaluation and checkpoints — and asks the task
/// only for what differs: how a micro-batch of examples becomes a loss, gradients and metrics.
protocol TrainingTask: AnyObject {
    /// The model trained.
    var policy: any CausalLanguageModel { get }
    /// What every training micro-batch of a step is weighted by: numbers of the whole step (all its micro-batches on
    /// all ranks), computed once per step by `totals(ofStep:)`, so the summed gradient does not depend on the split.
    associatedtype StepTotals

    /// Metric names of a micro-batch, in logging order (the same on every rank).
    var metricNames: [String] { get }
    /// Metrics shown in the end-of-run summary, with their printf formats.
    var summaryMetrics: [(name: String, format: String)] { get }
    var trainCount: Int { get }
    var evalCount: Int { get }

    /// The totals of the step whose micro-batches (indices into the training set) are `microBatches`.
    func totals(ofStep microBatches: [[Int]]) -> StepTotals

    /// Runs the examples at `indices` as one micro-batch, as `run` says: a training micro-batch runs forward and
    /// backward into the policy's gradients, an evaluation one only forward.
    func runMicroBatch(_ indices: [Int], _ run: MicroBatchRun<StepTotals>) -> MicroBatchMetrics

    /// After the optimizer update of step `step` (1-based): TR-DPO moves its reference here (collective when the
    /// reference is shared by a node's ranks).
    func didUpdate(step: Int) throws

    /// Buffers besides the policy and the optimizer that a checkpoint must hold for an exact resume.
    var checkpointBuffers: [CheckpointBuffer] { get }
}

/// A buffer besides the policy and the optimizer that a checkpoint holds (a TR-DPO reference), in file `file`.
struct CheckpointBuffer {
    var file: String
    var buffer: UnsafeMutableBufferPointer<Float>
    /// Set when the ranks of a node share the buffer: a resume then hands rank 0's copy to one rank per node.
    var nodeShared: NodeSharedBuffer?
}

/// How a micro-batch is run.
enum MicroBatchRun<StepTotals> {
    /// Forward and backward on training examples, weighted by the step's `totals`; `gradientsReady` goes to the
    /// backward (the gradient sum's progress hook, for the rank's last micro-batch of the step).
    case train(StepTotals, gradientsReady: ((Range<Int>) -> Void)?)
    /// Forward only, keeping no activations, on the training or the held-out examples.
    case evaluate(DataSplit)

    /// The examples `indices` refer to.
    var split: DataSplit {
        switch self {
        case .train: .train
        case .evaluate(let split): split
        }
    }

    /// The step's totals when training; nil when evaluating.
    var totals: StepTotals? {
        if case .train(let totals, _) = self { totals } else { nil }
    }

    /// The hook for the backward; nil when evaluating or when nothing overlaps it.
    var gradientsReady: ((Range<Int>) -> Void)? {
        if case .train(_, let gradientsReady) = self { gradientsReady } else { nil }
    }
}

/// The training or the held-out examples (`train_dataset`, `eval_dataset`).
enum DataSplit {
    case train, eval
}

extension TrainingTask {
    /// One optimizer update through `trainingStep` on this rank's `share` of the step's `microBatches`: the step's
    /// totals once, then every micro-batch of the share.
    func train(_ share: [[Int]], ofStep microBatches: [[Int]], update: Int, learningRate: Double,
               with trainingStep: TrainingStep) throws -> TrainingStep.Outcome<MicroBatchMetrics> {
        let totals = totals(ofStep: microBatches)
        return try trainingStep.run(share, update: update, learningRate: learningRate) { indices, gradientsReady in
            policy.adapters?.keyDropout(update: update, firstExample: indices.first ?? 0)
            return runMicroBatch(indices, .train(totals, gradientsReady: gradientsReady))
        }
    }

    /// The metrics of the policy on the examples at `indices` of `split`.
    func evaluate(_ indices: [Int], of split: DataSplit) -> MicroBatchMetrics {
        runMicroBatch(indices, .evaluate(split))
    }

    /// The metrics of the policy on all of `split`, in micro-batches of `batchSize` dealt over the ranks and summed
    /// over them (every rank must call it): what training logs as `eval_*` and `dpo-dist eval` prints.
    func metrics(on split: DataSplit, batchSize: Int, communicator: Communicator) throws -> MetricWindow {
        let count = split == .train ? trainCount : evalCount
        let microBatches = chunks(Array(0..<count), size: batchSize).map(Array.init)
        var metrics = MetricWindow(names: metricNames)
        for microBatch in communicator.share(of: microBatches) {
            metrics.add(evaluate(microBatch, of: split))
        }
        return try metrics.allReduced(communicator)
    }
}

/// One micro-batch's metric means, named as in `metricNames` and in that order, and the tokens it processed.
struct MicroBatchMetrics {
    var means: [(name: String, value: Double)]
    var processedTokens: Double
}
