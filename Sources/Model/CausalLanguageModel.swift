import Foundation
import Kernels

/// A decoder-only language model the trainer can use whatever its family: one flat parameter buffer (and one flat
/// gradient buffer when trainable) described by `tensors`, per-sequence scoring of completion tokens, the backward
/// of a weighted sum of those scores, and Hugging Face weight import/export.
public protocol CausalLanguageModel: AnyObject {
    var config: ModelConfig { get }
    /// Every parameter tensor, in buffer order.
    var tensors: [ParameterTensor] { get }
    var parameterCount: Int { get }
    /// ONE flat buffer of `parameterCount` floats.
    var parameters: UnsafeMutableBufferPointer<Float> { get }
    /// ONE flat buffer of `parameterCount` floats, or empty when the model is not trainable.
    var gradients: UnsafeMutableBufferPointer<Float> { get }
    var trainable: Bool { get }
    /// Gradient checkpointing: a training `score` keeps only each block's input, and `backward` reruns each block's
    /// forward before differentiating it — the same gradients bit for bit, less memory, one more trunk forward.
    var gradientCheckpointing: Bool { get set }

    /// LoRA adapters, once `attachAdapters` attached them.
    var adapters: LoRAAdapters? { get }
    /// The flat buffers training updates: the whole model's, or with adapters only theirs (the base stays frozen).
    var trainableParameters: TrainableParameters { get }

    /// The family's standard initialization, deterministic in `seed`.
    func initializeRandomly(seed: UInt64)
    /// Copies all parameters of a model with the same config (the reference model is a snapshot of the policy).
    func copyParameters(from other: any CausalLanguageModel)
    /// Zeroes the gradients of `trainableParameters`.
    func zeroGradients()

    /// Per sequence: Σ of completion-token log-probs and the statistics TRL logs (see `SequenceScores`).
    /// With `training: true` keeps the activations `backward` needs; with false keeps none beyond one layer.
    /// The batch must be valid (`SequenceBatch.validate(for:)`).
    func score(_ batch: SequenceBatch, training: Bool) -> SequenceScores
    /// Backward of Σ_b dLogProbSums[b] · logProbSums[b] for the last training `score`; ACCUMULATES into `gradients`.
    /// `gradientsReady`, when given, is called during the pass with flat-buffer ranges that this call will not write
    /// again, in the order they are finished: disjoint ranges that together cover the whole buffer. A caller can
    /// start communicating a range while the rest of the backward still runs (see `GradientReducer`).
    func backward(dLogProbSums: [Float], gradientsReady: ((Range<Int>) -> Void)?)
    /// The same for Σ_i dTokenLogProbs[i] · tokenLogProbs[i], one weight per scored token in the order of
    /// `SequenceScores.tokenLogProbs`: tokens of one sequence may weigh differently (LD-DPO).
    func backward(dTokenLogProbs: [Float], gradientsReady: ((Range<Int>) -> Void)?)
    /// Full logits [count·length, vocab], row-major (tests and debugging: materializes the whole matrix).
    func logits(_ batch: SequenceBatch) -> [Float]

    /// An empty key/value cache for one sequence of up to `capacity` positions (at most the model's), for
    /// `logits(continuing:cache:allPositions:)`. Throws `ModelError.invalidKeyValueCache` for a capacity out of range.
    func makeKeyValueCache(capacity: Int) throws -> KeyValueCache
    /// Runs `tokens` through the model as the continuation of the sequence whose positions `cache` holds (none at
    /// first: the prompt), appends their keys and values to it and returns the logits of the last token [vocab], or
    /// with `allPositions` those of every token [tokens.count, vocab]. Throws `ModelError.invalidKeyValueCache` when
    /// the tokens do not fit in the cache and `ModelError.invalidBatch` for a token outside the vocabulary.
    func logits(continuing tokens: [Int32], cache: KeyValueCache, allPositions: Bool) throws -> [Float]

    /// Fills `flat` (parameters, or any buffer with this layout) from tensors looked up by Hugging Face name.
    func loadHuggingFaceTensors(into flat: UnsafeMutableBufferPointer<Float>,
                                lookup: (String) throws -> (shape: [Int], values: [Float])?) throws
    /// Every tensor of `flat` (parameters or gradients) under its Hugging Face name and in Hugging Face's layout.
    func huggingFaceTensors(from flat: UnsafeBufferPointer<Float>) -> [(name: String, shape: [Int], values: [Float])]

    /// Attaches LoRA adapters (see `DecoderModel.attachAdapters`); throws `LoRAError`.
    @discardableResult
    func attachAdapters(_ config: LoRAConfig, seed: UInt64) throws -> LoRAAdapters
    /// Folds the adapters into the base weights and removes them (PEFT's `merge_and_unload`); nothing without adapters.
    func mergeAndUnload()
    /// The adapters' tensors of `buffer` under PEFT's adapter_model.safetensors names and layout.
    func peftTensors(from buffer: UnsafeBufferPointer<Float>) -> [(name: String, shape: [Int], values: [Float])]
    /// Fills the adapters from a PEFT adapter file's tensors; throws `LoRAError`.
    func loadPEFTTensors(fileNames: [String], lookup: (String) throws -> (shape: [Int], values: [Float])?) throws
}

extension CausalLanguageModel {
    /// Backward without reporting progress.
    public func backward(dLogProbSums: [Float]) {
        backward(dLogProbSums: dLogProbSums, gradientsReady: nil)
    }

    public func tensor(named name: String) -> ParameterTensor? {
        tensors.first { $0.name == name }
    }
}

/// Builds the model of `config`'s family. Parameters start zeroed; initialize or load them.
public func makeCausalLanguageModel(config: ModelConfig, trainable: Bool, parallel: Parallel) throws -> any CausalLanguageModel {
    try config.validate()
    return DecoderModel(config: config, trainable: trainable, parallel: parallel)
}

/// Builds a frozen model of `config`'s family over `sharedParameters`, a buffer that `owner` keeps alive and fills (for
/// example one copy of a reference model that all processes of a machine read); the model never writes it.
public func makeCausalLanguageModel(config: ModelConfig, sharedParameters: UnsafeMutableBufferPointer<Float>,
                                    owner: AnyObject, parallel: Parallel) throws -> any CausalLanguageModel {
    try config.validate()
    return DecoderModel(config: config, sharedParameters: sharedParameters, owner: owner, parallel: parallel)
}

/// Builds the model a Hugging Face `config.json` describes (its weights are loaded separately); `file` names it in errors.
public func makeCausalLanguageModel(huggingFaceConfig json: Data, file: String = "config.json", trainable: Bool,
                                    parallel: Parallel) throws -> any CausalLanguageModel {
    try makeCausalLanguageModel(config: ModelConfig(huggingFaceConfig: json, file: file), trainable: trainable,
                                parallel: parallel)
}
