import Model

/// A model and the DPO batch one benchmarked step runs on it: `pairs` chosen/rejected pairs, every sequence
/// `length` tokens of which the first `promptLength` are prompt and the rest scored completion.
/// tools/bench/pytorch_dpo_step.py has the same table, so both sides time the same work.
public struct BenchmarkShape: Sendable {
    public let name: String
    public let config: ModelConfig
    public let pairs: Int
    public let length: Int
    public let promptLength: Int

    /// GPT-2 124M on 2 pairs × 2 sequences × 256 tokens = 1024 tokens.
    public static let gpt2Small = BenchmarkShape(name: "gpt2-124m", config: .gpt2Small, pairs: 2, length: 256, promptLength: 64)
    /// 4 layers, 256 wide, vocabulary 8192, on 4 pairs × 2 sequences × 128 tokens = 1024 tokens.
    public static let small = BenchmarkShape(
        name: "small", config: .gpt2(vocabSize: 8192, maxPositions: 1024, layers: 4, heads: 4, channels: 256),
        pairs: 4, length: 128, promptLength: 32)

    public static let all = [gpt2Small, small]

    public static func named(_ name: String) -> BenchmarkShape? {
        all.first { $0.name == name }
    }

    /// Tokens in one step's batch (chosen and rejected rows).
    public var tokensPerStep: Int { 2 * pairs * length }
    /// Completion tokens of one sequence.
    public var scoredTokensPerRow: Int { length - promptLength }
    /// Positions whose next token is scored, i.e. the rows that go through the LM head.
    public var scoredPerStep: Int { 2 * pairs * scoredTokensPerRow }

    /// The distinct Linear layers of one step of a GPT-2, with the row counts the model runs them at: the four of
    /// every transformer block on all tokens, and the tied LM head on chunks of `DecoderModel.lmHeadChunkRows` scored
    /// rows.
    public var linearLayers: [LinearLayerShape] {
        let (C, V, rows) = (config.channels, config.vocabSize, tokensPerStep)
        let (attention, mlp) = (config.heads * config.headSize, config.intermediateSize)
        return [
            LinearLayerShape(name: "attn.c_attn", rows: rows, inDim: C, outDim: 3 * attention),
            LinearLayerShape(name: "attn.c_proj", rows: rows, inDim: attention, outDim: C),
            LinearLayerShape(name: "mlp.c_fc", rows: rows, inDim: C, outDim: mlp),
            LinearLayerShape(name: "mlp.c_proj", rows: rows, inDim: mlp, outDim: C),
            LinearLayerShape(name: "lm_head", rows: min(DecoderModel.lmHeadChunkRows, scoredPerStep), inDim: C, outDim: V),
        ]
    }
}

/// A Linear layer `rows × inDim → rows × outDim` as the model calls the matmul kernels on it.
public struct LinearLayerShape: Codable, Sendable {
    public let name: String
    public let rows: Int
    public let inDim: Int
    public let outDim: Int

    /// Multiply-adds × 2 of any one of its three products.
    public var flops: Double { 2 * Double(rows) * Double(inDim) * Double(outDim) }
}
