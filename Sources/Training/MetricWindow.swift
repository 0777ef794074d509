import MPI

/// Metrics over a logging window or an evaluation, averaged as TRL averages them: every micro-batch contributes its
/// own means (over its pairs, or over its completion tokens for the token metrics) and the window reports the mean
/// of those over all micro-batches of all ranks. With micro-batches of equal size this is the plain mean over pairs;
/// a short last micro-batch of an epoch weighs as much as a full one, exactly as in TRL.
struct MetricWindow {
    let names: [String]
    private var sums: [Double]
    private(set) var microBatches = 0.0
    /// Non-padding tokens the policy processed, summed (not averaged).
    var processedTokens = 0.0

    init(names: [String]) {
        self.names = names
        sums = [Double](repeating: 0, count: names.count)
    }

    /// Adds one micro-batch's means.
    mutating func add(_ microBatch: MicroBatchMetrics) {
        precondition(microBatch.means.map(\.name) == names, "a micro-batch reports the window's metrics in its order")
        for (index, mean) in microBatch.means.enumerated() {
            sums[index] += mean.value
        }
        microBatches += 1
        processedTokens += microBatch.processedTokens
    }

    /// The window of all ranks together. Every rank must call this (it is a collective); a rank that saw no
    /// micro-batch contributes zeros.
    func allReduced(_ communicator: Communicator) throws -> MetricWindow {
        guard communicator.size > 1 else { return self }
        var values = sums + [microBatches, processedTokens]
        try values.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) }
        var global = MetricWindow(names: names)
        global.sums = Array(values[0..<names.count])
        global.microBatches = values[names.count]
        global.processedTokens = values[names.count + 1]
        return global
    }

    /// Mean over micro-batches of each metric; empty when the window saw no micro-batch.
    var means: [(name: String, value: Double)] {
        guard microBatches > 0 else { return [] }
        return zip(names, sums).map { ($0, $1 / microBatches) }
    }

    /// The means under TRL's names for an evaluation: `eval_loss`, `eval_rewards/margins`, ….
    var evalMeans: [(name: String, value: Double)] {
        means.map { ("eval_" + $0.name, $0.value) }
    }

    subscript(name: String) -> Double? {
        means.first { $0.name == name }?.value
    }
}
