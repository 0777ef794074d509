/// The model families we implement. All are pre-norm decoder-only transformers; they differ in the pieces below.
public enum ModelArchitecture: String, Sendable, CaseIterable {
    /// GPT2LMHeadModel: LayerNorm, learned positions, tanh-GELU MLP, biases everywhere.
    case gpt2
    /// LlamaForCausalLM (also SmolLM/SmolLM2, which are Llama checkpoints): RMSNorm, rotary positions, SwiGLU MLP,
    /// grouped-query attention, optional attention and MLP biases.
    case llama
    /// Qwen2ForCausalLM: Llama's shape with q/k/v biases (no o_proj bias).
    case qwen2
    /// MistralForCausalLM: Llama's shape without biases; a sliding window only bounds the sequence length.
    case mistral

    /// The class named in config.json's "architectures".
    public var huggingFaceClass: String {
        switch self {
        case .gpt2: return "GPT2LMHeadModel"
        case .llama: return "LlamaForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        case .mistral: return "MistralForCausalLM"
        }
    }

    public var normalization: Normalization { self == .gpt2 ? .layerNorm : .rmsNorm }
    public var positionEncoding: PositionEncoding { self == .gpt2 ? .learned : .rotary }
    public var feedForward: FeedForward { self == .gpt2 ? .gelu : .swiglu }
}

public enum Normalization: Sendable { case layerNorm, rmsNorm }
public enum PositionEncoding: Sendable { case learned, rotary }
/// `.gelu`: down(gelu_tanh(up(x))); `.swiglu`: down(silu(gate(x))·up(x)).
public enum FeedForward: Sendable { case gelu, swiglu }

/// Llama 3's rotary frequency scaling (rope_type "llama3"), as transformers' `_compute_llama3_parameters`:
/// wavelengths longer than originalMaxPositions/lowFrequencyFactor are stretched by `factor`, those shorter than
/// originalMaxPositions/highFrequencyFactor are kept, and the ones between are interpolated.
public struct Llama3RopeScaling: Equatable, Sendable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalMaxPositions: Int

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalMaxPositions = originalMaxPositions
    }
}

/// Hyper-parameters of a model of any supported family (names follow the papers, not Hugging Face's keys;
/// `ModelConfig(huggingFaceConfig:)` reads config.json).
public struct ModelConfig: Equatable, Sendable {
    public var architecture: ModelArchitecture
    public var vocabSize: Int
    public var maxPositions: Int
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    public var keyValueHeads: Int
    /// Width of the residual stream (hidden_size, n_embd).
    public var channels: Int
    public var headSize: Int
    /// Width of the MLP's hidden layer.
    public var intermediateSize: Int
    /// ε of LayerNorm / RMSNorm.
    public var normEpsilon: Float
    /// Rotary base θ (rotary families only).
    public var ropeTheta: Double
    public var ropeScaling: Llama3RopeScaling?
    /// Whether q, k and v projections have biases.
    public var attentionBias: Bool
    /// Whether the attention output projection has a bias.
    public var attentionOutputBias: Bool
    /// Whether the MLP projections have biases.
    public var mlpBias: Bool
    /// Whether the LM head is the token embedding (else a separate lm_head.weight).
    public var tiedEmbeddings: Bool
    /// Mistral's sliding attention window; sequences may not be longer, so attention is always full causal.
    public var slidingWindow: Int?

    public init(architecture: ModelArchitecture, vocabSize: Int, maxPositions: Int, layers: Int, heads: Int,
                keyValueHeads: Int, channels: Int, headSize: Int, intermediateSize: Int, normEpsilon: Float,
                ropeTheta: Double, ropeScaling: Llama3RopeScaling?, attentionBias: Bool, attentionOutputBias: Bool,
                mlpBias: Bool, tiedEmbeddings: Bool, slidingWindow: Int?) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads
        self.channels = channels
        self.headSize = headSize
        self.intermediateSize = intermediateSize
        self.normEpsilon = normEpsilon
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.attentionBias = attentionBias
        self.attentionOutputBias = attentionOutputBias
        self.mlpBias = mlpBias
        self.tiedEmbeddings = tiedEmbeddings
        self.slidingWindow = slidingWindow
    }

    /// A GPT-2: head size channels/heads, MLP width 4·channels unless given, biases everywhere, LM head tied to wte
    /// (GPT2LMHeadModel's default; set `tiedEmbeddings` to false for a separate lm_head.weight).
    public static func gpt2(vocabSize: Int, maxPositions: Int, layers: Int, heads: Int, channels: Int,
                            layerNormEpsilon: Float = 1e-5, intermediateSize: Int? = nil) -> ModelConfig {
        ModelConfig(architecture: .gpt2, vocabSize: vocabSize, maxPositions: maxPositions, layers: layers, heads: heads,
                    keyValueHeads: heads, channels: channels, headSize: heads > 0 ? channels / heads : 0,
                    intermediateSize: intermediateSize ?? 4 * channels, normEpsilon: layerNormEpsilon, ropeTheta: 10_000,
                    ropeScaling: nil, attentionBias: true, attentionOutputBias: true, mlpBias: true,
                    tiedEmbeddings: true, slidingWindow: nil)
    }

    /// The 124M-parameter GPT-2 ("gpt2" on Hugging Face).
    public static let gpt2Small = gpt2(vocabSize: 50257, maxPositions: 1024, layers: 12, heads: 12, channels: 768)

    /// A Llama-family model with transformers' defaults for the optional keys; `headSize` defaults to channels/heads.
    /// `attentionBias` is Llama's: it covers q, k, v and o (Qwen2 uses `qwen2(…)`).
    public static func llama(vocabSize: Int, maxPositions: Int, layers: Int, heads: Int, keyValueHeads: Int,
                             channels: Int, intermediateSize: Int, headSize: Int? = nil, rmsNormEpsilon: Float = 1e-6,
                             ropeTheta: Double = 10_000, ropeScaling: Llama3RopeScaling? = nil, attentionBias: Bool = false,
                             mlpBias: Bool = false, tiedEmbeddings: Bool = false) -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: vocabSize, maxPositions: maxPositions, layers: layers, heads: heads,
                    keyValueHeads: keyValueHeads, channels: channels, headSize: headSize ?? (heads > 0 ? channels / heads : 0),
                    intermediateSize: intermediateSize, normEpsilon: rmsNormEpsilon, ropeTheta: ropeTheta,
                    ropeScaling: ropeScaling, attentionBias: attentionBias, attentionOutputBias: attentionBias,
                    mlpBias: mlpBias, tiedEmbeddings: tiedEmbeddings, slidingWindow: nil)
    }

    /// A Qwen2: Llama's shape with q/k/v biases and no o_proj or MLP biases.
    public static func qwen2(vocabSize: Int, maxPositions: Int, layers: Int, heads: Int, keyValueHeads: Int,
                             channels: Int, intermediateSize: Int, headSize: Int? = nil, rmsNormEpsilon: Float = 1e-6,
                             ropeTheta: Double = 10_000, tiedEmbeddings: Bool = false) -> ModelConfig {
        var config = llama(vocabSize: vocabSize, maxPositions: maxPositions, layers: layers, heads: heads,
                           keyValueHeads: keyValueHeads, channels: channels, intermediateSize: intermediateSize,
                           headSize: headSize, rmsNormEpsilon: rmsNormEpsilon, ropeTheta: ropeTheta,
                           tiedEmbeddings: tiedEmbeddings)
        config.architecture = .qwen2
        config.attentionBias = true
        return config
    }

    /// The longest sequence the model takes: its positions, or Mistral's sliding window when shorter (attention is
    /// always full causal, so a sequence must fit in the window).
    public var contextLength: Int { min(maxPositions, slidingWindow ?? .max) }

    /// Floats per row of the fused q|k|v projection.
    public var qkvWidth: Int { (heads + 2 * keyValueHeads) * headSize }
    /// Floats per row of the attention output (before o_proj / c_proj).
    public var attentionWidth: Int { heads * headSize }
    /// Floats per row of the MLP's first product: up (GELU) or gate|up (SwiGLU).
    public var mlpInputWidth: Int { architecture.feedForward == .swiglu ? 2 * intermediateSize : intermediateSize }

    /// Throws a `ModelError.invalidConfig` naming the first offending field.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ModelError.invalidConfig(message()) }
        }
        try require(vocabSize > 0, "vocabSize must be positive (got \(vocabSize))")
        try require(vocabSize <= Int(Int32.max), "vocabSize must fit token ids in Int32 (got \(vocabSize))")
        try require(maxPositions > 0, "maxPositions must be positive (got \(maxPositions))")
        try require(layers > 0, "layers must be positive (got \(layers))")
        try require(heads > 0, "heads must be positive (got \(heads))")
        try require(channels > 0, "channels must be positive (got \(channels))")
        try require(keyValueHeads > 0 && heads % keyValueHeads == 0,
                    "heads (\(heads)) must be a multiple of keyValueHeads (\(keyValueHeads))")
        try require(intermediateSize > 0, "intermediateSize must be positive (got \(intermediateSize))")
        try require(normEpsilon > 0 && normEpsilon.isFinite, "normEpsilon must be positive and finite (got \(normEpsilon))")
        if architecture == .gpt2 {
            try require(channels % heads == 0, "channels (\(channels)) must be divisible by heads (\(heads))")
            try require(headSize == channels / heads && keyValueHeads == heads,
                        "GPT-2 has headSize channels/heads and no grouped-query attention")
            try require(attentionBias && attentionOutputBias && mlpBias && slidingWindow == nil,
                        "GPT-2 has biases everywhere and no sliding window")
        } else {
            try require(headSize > 0 && headSize % 2 == 0, "headSize must be positive and even for rotary embeddings (got \(headSize))")
            try require(ropeTheta > 0 && ropeTheta.isFinite, "ropeTheta must be positive and finite (got \(ropeTheta))")
        }
        if let ropeScaling {
            try require(architecture.positionEncoding == .rotary, "ropeScaling needs rotary position embeddings")
            try require(ropeScaling.factor > 0 && ropeScaling.lowFrequencyFactor > 0
                        && ropeScaling.highFrequencyFactor > ropeScaling.lowFrequencyFactor && ropeScaling.originalMaxPositions > 0,
                        "llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
                        + "original_max_position_embeddings > 0 (got \(ropeScaling))")
        }
        if let slidingWindow { try require(slidingWindow > 0, "slidingWindow must be positive (got \(slidingWindow))") }
    }
}
