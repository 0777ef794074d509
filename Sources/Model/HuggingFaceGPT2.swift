/// Interop with Hugging Face's GPT2LMHeadModel state_dict: names like "transformer.h.0.attn.c_attn.weight",
/// Conv1D weights stored [in, out] (ours are [out, in]), the LM head tied to wte.
extension GPT2Model {
    /// Fills `flat` (parameters, or any buffer with our layout) from Hugging Face tensors.
    ///
    /// `lookup` returns a tensor by name, or nil if absent. Each tensor is asked for under its GPT2LMHeadModel name
    /// ("transformer.wte.weight"), then under its GPT2Model name without "transformer." (as in the original "gpt2"
    /// checkpoint). "lm_head.weight" is never asked for: it is wte. Throws `ModelError` naming a missing tensor,
    /// a wrong shape or a wrong value count; errors thrown by `lookup` propagate.
    public func loadHuggingFaceTensors(into flat: UnsafeMutableBufferPointer<Float>,
                                       lookup: (String) throws -> (shape: [Int], values: [Float])?) throws {
        guard flat.count == parameterCount else {
            throw ModelError.bufferSizeMismatch(expected: parameterCount, found: flat.count)
        }
        for tensor in tensors {
            let name = huggingFaceName(of: tensor)
            let unprefixed = String(name.dropFirst(Self.huggingFacePrefix.count))
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
                let (outDim, inDim) = (tensor.shape[0], tensor.shape[1])
                for i in 0 ..< inDim {
                    for o in 0 ..< outDim { destination[o * inDim + i] = found.values[i * outDim + o] }
                }
            } else {
                _ = destination.update(fromContentsOf: found.values)
            }
        }
    }

    /// Every tensor of `flat` (parameters or gradients) under its GPT2LMHeadModel name and in Hugging Face's layout,
    /// in state_dict order. "lm_head.weight" is left out: it is tied to "transformer.wte.weight".
    public func huggingFaceTensors(from flat: UnsafeBufferPointer<Float>) -> [(name: String, shape: [Int], values: [Float])] {
        precondition(flat.count == parameterCount, "\(ModelError.bufferSizeMismatch(expected: parameterCount, found: flat.count))")
        return tensors.map { tensor in
            let source = UnsafeBufferPointer(rebasing: flat[tensor.range])
            let values: [Float]
            if isHuggingFaceConv1D(tensor) {
                // Ours [out, in] → Hugging Face [in, out].
                let (outDim, inDim) = (tensor.shape[0], tensor.shape[1])
                values = [Float](unsafeUninitializedCapacity: tensor.count) { buffer, initialized in
                    for o in 0 ..< outDim {
                        for i in 0 ..< inDim { buffer[i * outDim + o] = source[o * inDim + i] }
                    }
                    initialized = tensor.count
                }
            } else {
                values = Array(source)
            }
            return (huggingFaceName(of: tensor), huggingFaceShape(of: tensor), values)
        }
    }

    static let huggingFacePrefix = "transformer."

    /// "wte" → "transformer.wte.weight", "h.0.ln_1.bias" → "transformer.h.0.ln_1.bias".
    func huggingFaceName(of tensor: ParameterTensor) -> String {
        let isEmbedding = tensor.name == "wte" || tensor.name == "wpe"
        return Self.huggingFacePrefix + tensor.name + (isEmbedding ? ".weight" : "")
    }

    /// The 2-D weights inside blocks are Conv1D modules in Hugging Face's GPT-2, stored transposed.
    func isHuggingFaceConv1D(_ tensor: ParameterTensor) -> Bool {
        tensor.shape.count == 2 && tensor.name.hasPrefix("h.")
    }

    func huggingFaceShape(of tensor: ParameterTensor) -> [Int] {
        isHuggingFaceConv1D(tensor) ? tensor.shape.reversed() : tensor.shape
    }
}
