import Kernels
import Model

/// AdamW's moment estimates for a model: two flat buffers parallel to its parameter buffer.
final class AdamWState {
    let firstMoment: UnsafeMutableBufferPointer<Float>
    let secondMoment: UnsafeMutableBufferPointer<Float>

    init(parameterCount: Int) {
        firstMoment = .allocate(capacity: parameterCount)
        firstMoment.initialize(repeating: 0)
        secondMoment = .allocate(capacity: parameterCount)
        secondMoment.initialize(repeating: 0)
    }

    deinit {
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    /// One update of every parameter; tensors that do not decay (biases, LayerNorm) get weight decay 0,
    /// as Hugging Face's Trainer groups them. `step` is 1-based.
    func update(_ model: any CausalLanguageModel, step: Int, learningRate: Double, config: TrainingConfig, parallel: Parallel) {
        for tensor in model.tensors {
            let settings = AdamWSettings(
                learningRate: Float(learningRate), beta1: Float(config.adamBeta1), beta2: Float(config.adamBeta2),
                epsilon: Float(config.adamEpsilon), weightDecay: tensor.decays ? Float(config.weightDecay) : 0)
            adamWUpdate(parameters: model.parameters.baseAddress! + tensor.offset,
                        gradients: model.gradients.baseAddress! + tensor.offset,
                        firstMoment: firstMoment.baseAddress! + tensor.offset,
                        secondMoment: secondMoment.baseAddress! + tensor.offset,
                        count: tensor.count, step: step, settings: settings, parallel: parallel)
        }
    }
}
