import Kernels

/// LoRA on the decoder: attaching adapters, their low-rank paths in forward and backward, merging them into the base
/// weights, and their tensors under PEFT's names.
extension DecoderModel {
    /// Attaches LoRA adapters as `config` says (lora_A drawn from `seed`, lora_B zero, saved modules copied from the
    /// current base weights, so load the base first). From then on the base buffer is frozen and
    /// `trainableParameters` are the adapters'. Throws `LoRAError` for targets or saved modules that do not fit.
    @discardableResult
    public func attachAdapters(_ config: LoRAConfig, seed: UInt64) throws -> LoRAAdapters {
        precondition(adapters == nil, "the model already has adapters")
        let layout = try AdapterLayout(config: config, modelConfig: self.config, baseTensors: tensors,
                                       linearModules: linearModules, huggingFaceName: huggingFaceName(of:))
        let attached = LoRAAdapters(layout: layout, base: UnsafeBufferPointer(parameters), seed: seed)
        adapters = attached
        return attached
    }

    /// Every Linear module of the blocks under its Hugging Face name, with where its rows lie in our fused weights.
    var linearModules: [LinearModule] {
        layout.blocks.enumerated().flatMap { layer, block -> [LinearModule] in
            [(Projection.qkv, block.qkvWeight, config.channels), (.attentionOutput, block.attentionOutputWeight, config.attentionWidth),
             (.mlpInput, block.mlpInputWeight, config.channels), (.mlpOutput, block.mlpOutputWeight, config.intermediateSize)]
                .flatMap { projection, offset, inputWidth in
                    let width = outputWidth(of: projection)
                    return tensors.filter { $0.shape.count == 2 && $0.offset >= offset && $0.offset < offset + width * inputWidth }
                        .map { weight in
                            let name = huggingFaceName(of: weight)
                            return LinearModule(name: String(name.dropLast(".weight".count)), layer: layer,
                                                projection: projection, outputOffset: (weight.offset - offset) / inputWidth,
                                                outputWidth: weight.shape[0], inputWidth: inputWidth, weight: weight)
                        }
                }
        }
    }

    /// Floats per row of a projection's output (its fused width).
    private func outputWidth(of projection: Projection) -> Int {
        switch projection {
        case .qkv: return config.qkvWidth
        case .attentionOutput, .mlpOutput: return config.channels
        case .mlpInput: return config.mlpInputWidth
        }
    }

    /// Adds the low-rank paths of `projection`'s adapters in block `layer` to its output `out` (rows of its fused width),
    /// each on its own dropped-out copy of `inp` in a training forward with dropout.
    func addLowRank(_ projection: Projection, layer: Int, out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>) {
        guard let adapters, let active = adapters.active else { return }
        let rows = activations.rows
        for segment in adapters.layout.segments[layer][projection.rawValue] {
            let module = segment.module
            var input = inp
            if adapters.dropsInputs {
                dropoutForward(out: adapters.droppedInput.pointer, inp: inp, count: rows * module.inputWidth,
                               probability: Float(adapters.layout.config.dropout), seed: adapters.dropoutSeed(segment),
                               parallel: parallel)
                input = UnsafePointer(adapters.droppedInput.pointer)
            }
            lowRankForward(out: out + module.outputOffset, outStride: outputWidth(of: projection),
                           hidden: adapters.hidden.pointer, inp: input, a: active + segment.a, b: active + segment.b,
                           scale: adapters.scale, rows: rows, inDim: module.inputWidth, rank: adapters.layout.config.rank,
                           outDim: module.outputWidth, parallel: parallel)
        }
    }

    /// Backward of `addLowRank` from the gradient `dout` of the projection's output: accumulates the adapters'
    /// gradients and adds their part of the input gradient to `dinp` (through the same dropout masks, regenerated).
    func backwardLowRank(_ projection: Projection, layer: Int, dinp: UnsafeMutablePointer<Float>,
                         dout: UnsafePointer<Float>, inp: UnsafePointer<Float>) {
        guard let adapters else { return }
        let (rows, rank) = (activations.rows, adapters.layout.config.rank)
        let (values, gradients) = (adapters.parameters.baseAddress!, adapters.gradients.baseAddress!)
        for segment in adapters.layout.segments[layer][projection.rawValue] {
            let module = segment.module
            let count = rows * module.inputWidth
            let probability = Float(adapters.layout.config.dropout)
            var (input, dInput) = (inp, dinp)
            if adapters.dropsInputs {
                dropoutForward(out: adapters.droppedInput.pointer, inp: inp, count: count, probability: probability,
                               seed: adapters.dropoutSeed(segment), parallel: parallel)
                adapters.dDroppedInput.zero(count)
                (input, dInput) = (UnsafePointer(adapters.droppedInput.pointer), adapters.dDroppedInput.pointer)
            }
            lowRankBackward(dinp: dInput, da: gradients + segment.a, db: gradients + segment.b,
                            hidden: adapters.hidden.pointer, dHidden: adapters.dHidden.pointer,
                            dout: dout + module.outputOffset, doutStride: outputWidth(of: projection), inp: input,
                            a: values + segment.a, b: values + segment.b, scale: adapters.scale, rows: rows,
                            inDim: module.inputWidth, rank: rank, outDim: module.outputWidth, parallel: parallel)
            if adapters.dropsInputs {
                dropoutBackward(dinp: dinp, dout: adapters.dDroppedInput.pointer, count: count, probability: probability,
                                seed: adapters.dropoutSeed(segment), parallel: parallel)
            }
        }
    }

    /// Folds the trained adapters into the base weights and removes them (PEFT's `merge_and_unload`): W += scale·B·A
    /// for every adapter, and the trained copies of saved modules in place of theirs. Afterwards the model is a plain
    /// model again (still frozen when it was created with trainable: false).
    public func mergeAndUnload() {
        guard let adapters else { return }
        precondition(!hasSharedParameters, "mergeAndUnload writes the base weights, which this model only reads")
        let values = adapters.parameters.baseAddress!
        let rank = adapters.layout.config.rank
        let scratch = allocateAlignedFloats(max(config.qkvWidth, config.mlpInputWidth, config.channels) * rank)
        defer { deallocateAlignedFloats(scratch) }
        for segment in adapters.layout.segments.joined().joined() {
            let module = segment.module
            lowRankMerge(weight: parameters.baseAddress! + module.weight.offset, scaledB: scratch.baseAddress!,
                         a: values + segment.a, b: values + segment.b, scale: adapters.scale, inDim: module.inputWidth,
                         rank: rank, outDim: module.outputWidth, parallel: parallel)
        }
        for (tensor, copy) in adapters.layout.savedCopies {
            (parameters.baseAddress! + tensor.offset).update(from: values + copy, count: tensor.count)
        }
        self.adapters = nil
    }

    /// The adapters' tensors (`buffer`: their parameters, or a buffer of that layout) under PEFT's names and in its
    /// layout: lora_A [r, in] and lora_B [out, r] as they are; a saved module's copy as Hugging Face stores the module
    /// (GPT-2's Conv1D weights transposed).
    public func peftTensors(from buffer: UnsafeBufferPointer<Float>) -> [(name: String, shape: [Int], values: [Float])] {
        guard let adapters else { return [] }
        precondition(buffer.count == adapters.layout.parameterCount, "a buffer of the adapter layout")
        let copies = Dictionary(uniqueKeysWithValues: adapters.layout.savedCopies.map { ($0.copy, $0.base) })
        return adapters.layout.tensors.map { tensor in
            let source = UnsafeBufferPointer(rebasing: buffer[tensor.range])
            guard let base = copies[tensor.offset], isHuggingFaceConv1D(base) else {
                return (tensor.name, tensor.shape, Array(source))
            }
            let values = [Float](unsafeUninitializedCapacity: tensor.count) { out, initialized in
                transpose(source.baseAddress!, rows: base.shape[0], columns: base.shape[1], into: out.baseAddress!)
                initialized = tensor.count
            }
            return (tensor.name, huggingFaceShape(of: base), values)
        }
    }

    /// Fills the adapters' parameters from a PEFT adapter file's tensors (looked up by name, as `peftTensors` writes
    /// them). `fileNames` lists every tensor of the file: one that belongs to no adapter of the model is an error, as
    /// is a missing tensor or a wrong shape (`LoRAError`).
    public func loadPEFTTensors(fileNames: [String], lookup: (String) throws -> (shape: [Int], values: [Float])?) throws {
        guard let adapters else { preconditionFailure("attach adapters before loading them") }
        let expected = peftTensors(from: UnsafeBufferPointer(adapters.parameters))
        if let unexpected = fileNames.first(where: { name in !expected.contains { $0.name == name } }) {
            throw LoRAError.unexpectedTensor(name: unexpected)
        }
        let copies = Dictionary(uniqueKeysWithValues: adapters.layout.savedCopies.map { ($0.copy, $0.base) })
        for (tensor, exported) in zip(adapters.layout.tensors, expected) {
            guard let found = try lookup(exported.name) else { throw LoRAError.missingTensor(name: exported.name) }
            guard found.shape == exported.shape, found.values.count == tensor.count else {
                throw LoRAError.shapeMismatch(name: exported.name, expected: exported.shape, found: found.shape)
            }
            let destination = adapters.parameters.baseAddress! + tensor.offset
            if let base = copies[tensor.offset], isHuggingFaceConv1D(base) {
                found.values.withUnsafeBufferPointer {
                    transpose($0.baseAddress!, rows: base.shape[1], columns: base.shape[0], into: destination)
                }
            } else {
                destination.update(from: found.values, count: tensor.count)
            }
        }
    }
}
