/// One named tensor inside the flat parameter (and gradient) buffer.
public struct ParameterTensor: Sendable {
    public let name: String
    public let shape: [Int]
    /// Index of the first element in the flat buffer.
    public let offset: Int
    public var count: Int
    /// Whether weight decay applies: 2-D weights (matmul weights and embeddings) decay; biases and norm parameters do not.
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

/// Offsets of a normalization's parameters: LayerNorm has a bias, RMSNorm does not.
enum NormOffsets {
    case layerNorm(weight: Int, bias: Int)
    case rmsNorm(weight: Int)
}

/// Offsets (into the flat buffer) of the tensors of one transformer block. Tensors that one matmul uses together are
/// adjacent: q, k, v weights form one [(heads + 2·kvHeads)·headSize, C] matrix (their biases one vector), and
/// SwiGLU's gate and up weights one [2·intermediate, C] matrix. A nil bias is absent from the architecture.
struct BlockOffsets {
    let attentionNorm: NormOffsets
    let qkvWeight: Int, qkvBias: Int?
    let attentionOutputWeight: Int, attentionOutputBias: Int?
    let mlpNorm: NormOffsets
    let mlpInputWeight: Int, mlpInputBias: Int?
    let mlpOutputWeight: Int, mlpOutputBias: Int?
}

/// Where every tensor lives in the one flat buffer: contiguous, with no gaps, so the buffer size is exactly the
/// parameter count. GPT-2 keeps Hugging Face's state_dict order and names without "transformer." (wte, wpe,
/// h.0.*, …, ln_f.*); the Llama family uses Hugging Face's names without "model." (embed_tokens.weight,
/// layers.0.*, …, norm.weight, then lm_head.weight when untied), with fused tensors adjacent.
public struct ParameterLayout: Sendable {
    public let config: ModelConfig
    public let tensors: [ParameterTensor]
    public let parameterCount: Int

    let tokenEmbedding: Int
    let positionEmbedding: Int?
    let blocks: [BlockOffsets]
    /// Flat-buffer range of each block's tensors (contiguous, in layer order); the embeddings precede the first.
    let blockRanges: [Range<Int>]
    let finalNorm: NormOffsets
    let finalNormRange: Range<Int>
    /// The LM head's [vocab, C] weight: the token embedding when tied.
    let outputEmbedding: Int

    public init(config: ModelConfig) {
        var tensors: [ParameterTensor] = []
        var next = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let tensor = ParameterTensor(name: name, shape: shape, offset: next, decays: shape.count == 2)
            tensors.append(tensor)
            next += tensor.count
            return tensor.offset
        }
        /// Tensors one matmul uses as one matrix (or bias vector): adjacent, so the first offset addresses them all.
        func addAdjacent(_ parts: [(name: String, shape: [Int])]) -> Int {
            let first = next
            for part in parts { _ = add(part.name, part.shape) }
            return first
        }
        let names = TensorNames(config.architecture)
        let (V, C) = (config.vocabSize, config.channels)
        func norm(_ name: String) -> NormOffsets {
            switch config.architecture.normalization {
            case .layerNorm: return .layerNorm(weight: add(name + ".weight", [C]), bias: add(name + ".bias", [C]))
            case .rmsNorm: return .rmsNorm(weight: add(name + ".weight", [C]))
            }
        }
        tokenEmbedding = add(names.tokenEmbedding, [V, C])
        positionEmbedding = names.positionEmbedding.map { add($0, [config.maxPositions, C]) }
        var blockRanges: [Range<Int>] = []
        blocks = (0 ..< config.layers).map { layer in
            let start = next
            defer { blockRanges.append(start ..< next) }
            let block = names.block(layer)
            let (d, I) = (config.headSize, config.intermediateSize)
            let qkvRows = [config.heads * d, config.keyValueHeads * d, config.keyValueHeads * d]
            let attentionNorm = norm(block.attentionNorm)
            let qkvWeight: Int, qkvBias: Int?
            if let fused = block.fusedQKV {
                qkvWeight = add(fused + ".weight", [config.qkvWidth, C])
                qkvBias = add(fused + ".bias", [config.qkvWidth])
            } else {
                qkvWeight = addAdjacent(zip(block.qkv, qkvRows).map { ($0 + ".weight", [$1, C]) })
                qkvBias = config.attentionBias ? addAdjacent(zip(block.qkv, qkvRows).map { ($0 + ".bias", [$1]) }) : nil
            }
            let attentionOutputWeight = add(block.attentionOutput + ".weight", [C, config.attentionWidth])
            let attentionOutputBias = config.attentionOutputBias ? add(block.attentionOutput + ".bias", [C]) : nil
            let mlpNorm = norm(block.mlpNorm)
            let mlpInputWeight = addAdjacent(block.mlpInput.map { ($0 + ".weight", [I, C]) })
            let mlpInputBias = config.mlpBias ? addAdjacent(block.mlpInput.map { ($0 + ".bias", [I]) }) : nil
            return BlockOffsets(
                attentionNorm: attentionNorm, qkvWeight: qkvWeight, qkvBias: qkvBias,
                attentionOutputWeight: attentionOutputWeight, attentionOutputBias: attentionOutputBias,
                mlpNorm: mlpNorm, mlpInputWeight: mlpInputWeight, mlpInputBias: mlpInputBias,
                mlpOutputWeight: add(block.mlpOutput + ".weight", [C, I]),
                mlpOutputBias: config.mlpBias ? add(block.mlpOutput + ".bias", [C]) : nil)
        }
        self.blockRanges = blockRanges
        let finalNormStart = next
        finalNorm = norm(names.finalNorm)
        finalNormRange = finalNormStart ..< next
        outputEmbedding = config.tiedEmbeddings ? tokenEmbedding : add(TensorNames.languageModelHead, [V, C])
        self.config = config
        self.tensors = tensors
        self.parameterCount = next
    }
}

/// Our tensor names of each family (Hugging Face's without the "transformer." / "model." prefix).
struct TensorNames {
    struct Block {
        let attentionNorm: String
        /// GPT-2's one c_attn; nil when q, k and v are separate tensors (`qkv`).
        let fusedQKV: String?
        let qkv: [String]
        let attentionOutput: String
        let mlpNorm: String
        /// GPT-2's c_fc, or SwiGLU's gate_proj then up_proj (adjacent, in that order).
        let mlpInput: [String]
        let mlpOutput: String
    }

    static let languageModelHead = "lm_head.weight"

    let tokenEmbedding: String
    /// Only GPT-2 has a learned position table; the Llama family rotates q and k instead.
    let positionEmbedding: String?
    let finalNorm: String
    let block: (Int) -> Block

    init(_ architecture: ModelArchitecture) {
        switch architecture {
        case .gpt2:
            tokenEmbedding = "wte"
            positionEmbedding = "wpe"
            finalNorm = "ln_f"
            block = { layer in
                let prefix = "h.\(layer)."
                return Block(attentionNorm: prefix + "ln_1", fusedQKV: prefix + "attn.c_attn", qkv: [],
                             attentionOutput: prefix + "attn.c_proj", mlpNorm: prefix + "ln_2",
                             mlpInput: [prefix + "mlp.c_fc"], mlpOutput: prefix + "mlp.c_proj")
            }
        case .llama, .qwen2, .mistral:
            tokenEmbedding = "embed_tokens.weight"
            positionEmbedding = nil
            finalNorm = "norm"
            block = { layer in
                let prefix = "layers.\(layer)."
                return Block(attentionNorm: prefix + "input_layernorm", fusedQKV: nil,
                             qkv: ["q_proj", "k_proj", "v_proj"].map { prefix + "self_attn." + $0 },
                             attentionOutput: prefix + "self_attn.o_proj", mlpNorm: prefix + "post_attention_layernorm",
                             mlpInput: [prefix + "mlp.gate_proj", prefix + "mlp.up_proj"], mlpOutput: prefix + "mlp.down_proj")
            }
        }
    }
}
