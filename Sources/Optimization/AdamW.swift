import Kernels
import Model

/// AdamW over the trainable flat buffer (the whole model's, or its LoRA adapters'), as Hugging Face's Trainer sets up
/// torch.optim.AdamW: two moment buffers parallel to the parameters, and weight decay only on the tensors that decay
/// (matrices, not biases and norms).
///
/// Those two parameter groups become contiguous runs of the buffer (`decayGroups`), so an update is a loop over a few
/// ranges, and updating any slice of the buffer is the same loop over that slice
/// (`update(_:step:learningRate:range:parallel:)`). With ZeRO the optimizer covers only the shard its rank owns
/// (`range`), and keeps moments for that shard alone.
public final class AdamW {
    /// The hyper-parameters besides the learning rate, which the schedule sets per update. The defaults are
    /// `TrainingArguments`' (`adam_beta1`, `adam_beta2`, `adam_epsilon`, `weight_decay`).
    public struct Settings: Sendable, Equatable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        /// Applied to the tensors that decay; the others get 0.
        public var weightDecay: Double

        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public let settings: Settings
    /// The parameters it updates and keeps moments for: the whole buffer, or this rank's shard.
    public let range: Range<Int>
    /// Adam's m and v (PyTorch's `exp_avg`, `exp_avg_sq`), one float per parameter of `range`.
    public let firstMoment: UnsafeMutableBufferPointer<Float>
    public let secondMoment: UnsafeMutableBufferPointer<Float>
    /// Runs of neighbouring tensors with the same weight decay, in buffer order.
    let decayGroups: [(range: Range<Int>, weightDecay: Float)]

    /// Zeroed moments for `trainable`'s parameters in `range` (nil: all of them).
    public init(for trainable: TrainableParameters, settings: Settings, range: Range<Int>? = nil) {
        let range = range ?? 0 ..< trainable.count
        precondition(range.lowerBound >= 0 && range.upperBound <= trainable.count,
                     "AdamW range \(range) outside the \(trainable.count) parameters")
        self.settings = settings
        self.range = range
        firstMoment = .allocate(capacity: range.count)
        firstMoment.initialize(repeating: 0)
        secondMoment = .allocate(capacity: range.count)
        secondMoment.initialize(repeating: 0)
        var groups: [(range: Range<Int>, weightDecay: Float)] = []
        for tensor in trainable.tensors {
            let weightDecay = tensor.decays ? Float(settings.weightDecay) : 0
            if let last = groups.last, last.weightDecay == weightDecay, last.range.upperBound == tensor.offset {
                groups[groups.count - 1].range = last.range.lowerBound ..< tensor.range.upperBound
            } else {
                groups.append((tensor.range, weightDecay))
            }
        }
        decayGroups = groups
    }

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    /// One AdamW update (`step` 1-based) of the parameters in `range` from the gradients there; nil updates all of the
    /// optimizer's `range`. Every element is updated on its own, so updating a buffer slice by slice gives the same bits
    /// as at once.
    public func update(_ trainable: TrainableParameters, step: Int, learningRate: Double, range: Range<Int>? = nil,
                       parallel: Parallel) {
        let range = range ?? self.range
        precondition(self.range.clamped(to: range) == range, "AdamW over \(self.range) cannot update \(range)")
        for group in decayGroups where group.range.overlaps(range) {
            let part = group.range.clamped(to: range)
            let kernelSettings = AdamWSettings(
                learningRate: Float(learningRate), beta1: Float(settings.beta1), beta2: Float(settings.beta2),
                epsilon: Float(settings.epsilon), weightDecay: group.weightDecay)
            adamWUpdate(parameters: trainable.parameters.baseAddress! + part.lowerBound,
                        gradients: trainable.gradients.baseAddress! + part.lowerBound,
                        firstMoment: firstMoment.baseAddress! + (part.lowerBound - self.range.lowerBound),
                        secondMoment: secondMoment.baseAddress! + (part.lowerBound - self.range.lowerBound),
                        count: part.count, step: step, settings: kernelSettings, parallel: parallel)
        }
    }
}
