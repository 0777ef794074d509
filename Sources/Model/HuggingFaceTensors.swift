/// Interop with Hugging Face state_dicts: names like "transformer.h.0.attn.c_attn.weight" (GPT2LMHeadModel) or
/// "model.layers.0.self_attn.q_proj.weight" (LlamaForCausalLM and its relatives). GPT-2's Conv1D weights are stored
/// [in, out] (ours are [out, in]); nn.Linear weights are [out, in] like ours. A tied LM head has no tensor of its own.
extension DecoderModel {
    /// Each tensor is asked for under its full Hugging Face name ("transformer.wte.weight"), then without the
    /// family prefix (as in checkpoints of the bare GPT2Model / LlamaModel). A tied "lm_head.weight" is never asked
    /// for: it is the token embedding. Throws `ModelError` naming a missing tensor, a wrong shape or a wrong value
    /// count; errors thrown by `lookup` propagate.
    public func loadHuggingFaceTensors(into flat: UnsafeMutableBufferPointer<Float>,
                                       lookup: (String) throws -> (shape: [Int], values: [Float])?) throws {
        guard flat.count == parameterCount else {
            throw ModelError.bufferSizeMismatch(expected: parameterCount, found: flat.count)
        }
        for tensor in tensors {
            let name = huggingFaceName(of: tensor)
            let unprefixed = name.hasPrefix(huggingFacePrefix) ? String(name.dropFirst(huggingFacePrefix.count)) : name
            guard let found = try lookup(name) ?? lookup(unprefixed) else { throw ModelError.missingTensor(name: name) }
            let expectedShape = huggingFaceShape(of: tensor)
            guard found.shape == expectedShape else {
                throw ModelError.shapeMismatch(name: name, expected: expectedShape, found: found.shape)
            }
            guard found.values.count == tensor.count else {
                throw ModelError.valueCountMismatch(name: name, expected: tensor.count, found: found.values.count)
            }
            let destination = UnsafeMutableBufferPointer(rebasing: flat[tensor.range])
            if isHuggingFaceConv1D(tensor) {
                // Hugging Face [in, out] → ours [out, in].
                found.values.withUnsafeBufferPointer { source in
                    transpose(source.baseAddress!, rows: tensor.shape[1], columns: tensor.shape[0], into: destination.baseAddress!)
                }
            } else {
                _ = destination.update(fromContentsOf: found.values)
            }
        }
    }

    /// In buffer order; a tied "lm_head.weight" is left out (it is the token embedding).
    public func huggingFaceTensors(from flat: UnsafeBufferPointer<Float>) -> [(name: String, shape: [Int], values: [Float])] {
        precondition(flat.count == parameterCount, "\(ModelError.bufferSizeMismatch(expected: parameterCount, found: flat.count))")
        return tensors.map { tensor in
            let source = UnsafeBufferPointer(rebasing: flat[tensor.range])
            let values: [Float]
            if isHuggingFaceConv1D(tensor) {
                // Ours [out, in] → Hugging Face [in, out].
                let (outDim, inDim) = (tensor.shape[0], tensor.shape[1])
                values = [Float](unsafeUninitializedCapacity: tensor.count) { buffer, initialized in
                    transpose(source.baseAddress!, rows: outDim, columns: inDim, into: buffer.baseAddress!)
                    initialized = tensor.count
                }
            } else {
                values = Array(source)
            }
            return (huggingFaceName(of: tensor), huggingFaceShape(of: tensor), values)
        }
    }

    /// The prefix of the decoder's tensors in the *ForCausalLM / GPT2LMHeadModel state_dict.
    var huggingFacePrefix: String { config.architecture == .gpt2 ? "transformer." : "model." }

    /// "wte" → "transformer.wte.weight", "h.0.ln_1.bias" → "transformer.h.0.ln_1.bias",
    /// "layers.0.mlp.up_proj.weight" → "model.layers.0.mlp.up_proj.weight"; "lm_head.weight" stays as it is.
    func huggingFaceName(of tensor: ParameterTensor) -> String {
        if tensor.name == TensorNames.languageModelHead { return tensor.name }
        let isGPT2Embedding = config.architecture == .gpt2 && (tensor.name == "wte" || tensor.name == "wpe")
        return huggingFacePrefix + tensor.name + (isGPT2Embedding ? ".weight" : "")
    }

    /// The 2-D weights inside GPT-2's blocks are Conv1D modules in Hugging Face, stored transposed.
    func isHuggingFaceConv1D(_ tensor: ParameterTensor) -> Bool {
        config.architecture == .gpt2 && tensor.shape.count == 2 && tensor.name.hasPrefix("h.")
    }

    func huggingFaceShape(of tensor: ParameterTensor) -> [Int] {
        isHuggingFaceConv1D(tensor) ? tensor.shape.reversed() : tensor.shape
    }
}

/// `destination[c, r] = source[r, c]` for a row-major `rows × columns` matrix, in 32 × 32 tiles so that both sides
/// stay in cache (a plain double loop strides through memory on one side and is several times slower).
func transpose(_ source: UnsafePointer<Float>, rows: Int, columns: Int, into destination: UnsafeMutablePointer<Float>) {
    let tile = 32
    for rowStart in stride(from: 0, to: rows, by: tile) {
        for columnStart in stride(from: 0, to: columns, by: tile) {
            for row in rowStart ..< min(rowStart + tile, rows) {
                for column in columnStart ..< min(columnStart + tile, columns) {
                    destination[column * rows + row] = source[row * columns + column]
                }
            }
        }
    }
}
