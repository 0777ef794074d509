import Kernels
import SeededRandom

/// The flat buffers an optimizer updates: parameters, their gradients (as long) and the tensors laid out in them —
/// the whole model in full fine-tuning, or only its LoRA adapters.
public struct TrainableParameters {
    public let parameters: UnsafeMutableBufferPointer<Float>
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// Every tensor, in buffer order.
    public let tensors: [ParameterTensor]

    public init(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeMutableBufferPointer<Float>,
                tensors: [ParameterTensor]) {
        precondition(parameters.count == gradients.count, "one gradient per trainable parameter")
        self.parameters = parameters
        self.gradients = gradients
        self.tensors = tensors
    }

    public var count: Int { parameters.count }

    /// Sets every gradient to zero.
    public func zeroGradients(parallel: Parallel) {
        let gradients = gradients.baseAddress!
        parallel.forEachChunk(of: count, minimumChunk: 1 << 16) { range in
            (gradients + range.lowerBound).update(repeating: 0, count: range.count)
        }
    }

    /// Zeroes `range` of the gradients and hands its memory back to the system until backward writes there again
    /// (the whole pages inside it, on Linux): how a ZeRO-2 rank drops the gradients of parameters other ranks own.
    public func releaseGradients(_ range: Range<Int>) {
        PageMappedFloats.release(range, of: gradients)
    }
}

/// A model's LoRA adapters (PEFT's `LoraModel` with one adapter, bias "none"): their own flat parameter and gradient
/// buffers laid out by `AdapterLayout`, next to the base model's flat buffer, which stays frozen. The base with the
/// adapters switched off is the DPO reference, so no second copy of the model exists.
public final class LoRAAdapters {
    /// What a forward of the model uses.
    public enum Selection: Sendable {
        /// The adapters being trained.
        case trained
        /// None: the base model (PEFT's `disable_adapter()`, the reference of a fresh adapter).
        case disabled
        /// The adapters as training started, kept frozen (TRL's "ref" adapter when training goes on from a saved one).
        case initial
    }

    public let layout: AdapterLayout
    public let parameters: UnsafeMutableBufferPointer<Float>
    public let gradients: UnsafeMutableBufferPointer<Float>
    /// A frozen copy of the starting adapters, once `keepInitialAsReference()` made one.
    public private(set) var initialParameters: UnsafeMutableBufferPointer<Float>?
    public var selection = Selection.trained
    /// Seeds this training forward's dropout masks (with each adapter's index); see `keyDropout`.
    public var dropoutKey: UInt64 = 0
    /// The seed the adapters were drawn from, which also seeds their dropout.
    public let seed: UInt64
    /// Turns the adapters' dropout off whatever `lora_dropout` says: TRL's DPOTrainer sets every `nn.Dropout` of the
    /// model to p = 0 (`disable_dropout`, on by default), PEFT's LoRA dropout included; SFT keeps it.
    public var disablesDropout = false

    /// Whether the current forward drops adapter inputs: a training forward of the trained adapters with dropout > 0.
    private(set) var dropsInputs = false
    /// scale·inp·Aᵀ and its gradient [rows, rank]; an adapter's dropped-out input and its gradient [rows, widestInput].
    let hidden = ScratchBuffer(), dHidden = ScratchBuffer()
    let droppedInput = ScratchBuffer(), dDroppedInput = ScratchBuffer()

    /// lora_A drawn as PEFT's default (`kaiming_uniform_(a=√5)`: U(−1/√in, 1/√in)) from `seed`, lora_B zero (so the
    /// adapted model starts as the base), the copies of saved modules taken from `base`.
    init(layout: AdapterLayout, base: UnsafeBufferPointer<Float>, seed: UInt64) {
        self.layout = layout
        self.seed = seed
        parameters = allocateAlignedFloats(layout.parameterCount)
        gradients = allocateAlignedFloats(layout.parameterCount)
        var random = SplitMix64(seed: seed)
        for segment in layout.segments.joined().joined() {
            let bound = 1 / Double(segment.module.inputWidth).squareRoot()
            for index in segment.a ..< segment.a + layout.config.rank * segment.module.inputWidth {
                parameters[index] = Float((2 * Double(random.next() >> 11) * 0x1p-53 - 1) * bound)
            }
        }
        for (tensor, copy) in layout.savedCopies {
            (parameters.baseAddress! + copy).update(from: base.baseAddress! + tensor.offset, count: tensor.count)
        }
    }

    deinit {
        deallocateAlignedFloats(parameters)
        deallocateAlignedFloats(gradients)
        initialParameters.map(deallocateAlignedFloats)
    }

    public var trainableParameters: TrainableParameters {
        TrainableParameters(parameters: parameters, gradients: gradients, tensors: layout.tensors)
    }

    /// Keeps a frozen copy of the adapters as they are now for `Selection.initial`.
    public func keepInitialAsReference() {
        let copy = initialParameters ?? allocateAlignedFloats(layout.parameterCount)
        copy.baseAddress!.update(from: parameters.baseAddress!, count: layout.parameterCount)
        initialParameters = copy
    }

    /// The selection that reproduces the model training started from: the initial copy if one was kept, else none.
    public var referenceSelection: Selection { initialParameters == nil ? .disabled : .initial }

    /// Runs `body` with `selection` in force, then restores the previous one.
    public func with<T>(_ selection: Selection, _ body: () throws -> T) rethrows -> T {
        let previous = self.selection
        self.selection = selection
        defer { self.selection = previous }
        return try body()
    }

    /// The adapter buffer the current selection reads, nil when the adapters are off.
    var active: UnsafeMutablePointer<Float>? {
        switch selection {
        case .trained: return parameters.baseAddress!
        case .disabled: return nil
        case .initial: return (initialParameters ?? parameters).baseAddress!
        }
    }

    var scale: Float { layout.config.scale }

    /// Sizes the scratch for `rows` rows; a forward that keeps activations for backward (`training`) drops inputs.
    func prepare(rows: Int, training: Bool) {
        dropsInputs = training && selection == .trained && layout.config.dropout > 0 && !disablesDropout
        for buffer in [hidden, dHidden] { buffer.reserve(rows * layout.config.rank) }
        if dropsInputs {
            for buffer in [droppedInput, dDroppedInput] { buffer.reserve(rows * layout.widestInput) }
        }
    }

    /// Keys the next training forward's dropout masks to its micro-batch: update `update` (1-based) on the examples
    /// starting with `firstExample`. So a mask depends on which examples are trained at which step, not on the rank
    /// that runs them.
    public func keyDropout(update: Int, firstExample: Int) {
        dropoutKey = SplitMix64.value(seed: SplitMix64.value(seed: seed, index: UInt64(update)), index: UInt64(firstExample))
    }

    /// The seed of `segment`'s dropout mask in this forward.
    func dropoutSeed(_ segment: LowRankSegment) -> UInt64 {
        SplitMix64.value(seed: dropoutKey, index: UInt64(segment.index))
    }
}
