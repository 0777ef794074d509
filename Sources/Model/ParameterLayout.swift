/// One named tensor inside the flat parameter (and gradient) buffer.
public struct ParameterTensor: Sendable {
    public let name: String
    public let shape: [Int]
    /// Index of the first element in the flat buffer.
    public let offset: Int
    public var count: Int
    /// Whether weight decay applies: 2-D weights (matmul weights and embeddings) decay; biases and LayerNorm parameters do not.
    public let decays: Bool

    public init(name: String, shape: [Int], offset: Int, decays: Bool) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.count = shape.reduce(1, *)
        self.decays = decays
    }

    /// Elements `offset ..< offset + count` of the flat buffer.
    public var range: Range<Int> { offset ..< offset + count }
}

/// Offsets (into the flat buffer) of the tensors of one transformer block.
struct BlockOffsets {
    let ln1Weight, ln1Bias: Int
    let attentionWeight, attentionBias: Int
    let attentionProjectionWeight, attentionProjectionBias: Int
    let ln2Weight, ln2Bias: Int
    let fcWeight, fcBias: Int
    let mlpProjectionWeight, mlpProjectionBias: Int
}

/// Where every GPT-2 tensor lives in the one flat buffer: contiguous, in Hugging Face's state_dict order
/// (wte, wpe, h.0.*, …, h.{L-1}.*, ln_f.*), with no gaps, so the buffer size is exactly the parameter count.
public struct ParameterLayout: Sendable {
    public let config: GPT2Config
    public let tensors: [ParameterTensor]
    public let parameterCount: Int

    let tokenEmbedding: Int
    let positionEmbedding: Int
    let blocks: [BlockOffsets]
    let finalNormWeight: Int
    let finalNormBias: Int

    public init(config: GPT2Config) {
        let (V, P, C) = (config.vocabSize, config.maxPositions, config.channels)
        var tensors: [ParameterTensor] = []
        var next = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = ParameterTensor(name: name, shape: shape, offset: next, decays: shape.count == 2)
            tensors.append(tensor)
            next += tensor.count
            return tensor.offset
        }
        tokenEmbedding = add("wte", [V, C])
        positionEmbedding = add("wpe", [P, C])
        blocks = (0 ..< config.layers).map { layer in
            let prefix = "h.\(layer)."
            return BlockOffsets(
                ln1Weight: add(prefix + "ln_1.weight", [C]),
                ln1Bias: add(prefix + "ln_1.bias", [C]),
                attentionWeight: add(prefix + "attn.c_attn.weight", [3 * C, C]),
                attentionBias: add(prefix + "attn.c_attn.bias", [3 * C]),
                attentionProjectionWeight: add(prefix + "attn.c_proj.weight", [C, C]),
                attentionProjectionBias: add(prefix + "attn.c_proj.bias", [C]),
                ln2Weight: add(prefix + "ln_2.weight", [C]),
                ln2Bias: add(prefix + "ln_2.bias", [C]),
                fcWeight: add(prefix + "mlp.c_fc.weight", [4 * C, C]),
                fcBias: add(prefix + "mlp.c_fc.bias", [4 * C]),
                mlpProjectionWeight: add(prefix + "mlp.c_proj.weight", [C, 4 * C]),
                mlpProjectionBias: add(prefix + "mlp.c_proj.bias", [C]))
        }
        finalNormWeight = add("ln_f.weight", [C])
        finalNormBias = add("ln_f.bias", [C])
        self.config = config
        self.tensors = tensors
        self.parameterCount = next
    }
}
