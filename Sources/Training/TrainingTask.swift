import Model

/// What a run trains: DPO on preference pairs, or SFT on prompt/completion sequences. The trainer owns everything the
/// two share — the policy, the step plan, the optimizer, the all-reduce, logging, evaluation and checkpoints — and asks
/// the task only for what differs: how a micro-batch of examples becomes a loss, gradients and metrics.
protocol TrainingTask: AnyObject {
    /// Metric names of a micro-batch, in logging order (the same on every rank).
    var metricNames: [String] { get }
    /// Metrics shown in the end-of-run summary, with their printf formats.
    var summaryMetrics: [(name: String, format: String)] { get }
    var trainCount: Int { get }
    var evalCount: Int { get }

    /// Runs the examples at `indices` of the training (or evaluation) set as one micro-batch of `step`, whose
    /// micro-batches all weigh the same: forward, and with `train` backward into the policy's gradients, calling
    /// `gradientsReady` with each range of the flat gradient buffer that this backward has finished.
    func runMicroBatch(_ indices: [Int], of step: [[Int]], evaluation: Bool, train: Bool,
                       gradientsReady: ((Range<Int>) -> Void)?) -> MicroBatchMetrics

    /// After the optimizer update of step `step` (1-based): TR-DPO moves its reference here.
    func didUpdate(step: Int)

    /// Buffers besides the policy and the optimizer that a checkpoint must hold for an exact resume (file name, buffer).
    var checkpointBuffers: [(file: String, buffer: UnsafeMutableBufferPointer<Float>)] { get }
}

/// One micro-batch's metric means (aligned with `metricNames`) and the tokens it processed.
struct MicroBatchMetrics {
    var means: [Double]
    var processedTokens: Double
}
