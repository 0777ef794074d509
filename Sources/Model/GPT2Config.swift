/// Hyper-parameters of a GPT-2-architecture model (names follow the GPT-2 paper, not Hugging Face's `n_*` keys).
public struct GPT2Config: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var maxPositions: Int
    public var layers: Int
    public var heads: Int
    public var channels: Int
    public var layerNormEpsilon: Float = 1e-5

    public init(vocabSize: Int, maxPositions: Int, layers: Int, heads: Int, channels: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabSize = vocabSize
        self.maxPositions = maxPositions
        self.layers = layers
        self.heads = heads
        self.channels = channels
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// The 124M-parameter GPT-2 ("gpt2" on Hugging Face).
    public static let gpt2Small = GPT2Config(vocabSize: 50257, maxPositions: 1024, layers: 12, heads: 12, channels: 768)

    /// Throws a `ModelError.invalidConfig` naming the first offending field.
    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw ModelError.invalidConfig(message) }
        }
        try require(vocabSize > 0, "vocabSize must be positive (got \(vocabSize))")
        try require(vocabSize <= Int(Int32.max), "vocabSize must fit token ids in Int32 (got \(vocabSize))")
        try require(maxPositions > 0, "maxPositions must be positive (got \(maxPositions))")
        try require(layers > 0, "layers must be positive (got \(layers))")
        try require(heads > 0, "heads must be positive (got \(heads))")
        try require(channels > 0, "channels must be positive (got \(channels))")
        try require(channels % heads == 0, "channels (\(channels)) must be divisible by heads (\(heads))")
        try require(layerNormEpsilon > 0 && layerNormEpsilon.isFinite,
                    "layerNormEpsilon must be positive and finite (got \(layerNormEpsilon))")
    }
}

/// Errors of the Model target: bad configuration, bad batches, and Hugging Face tensors that do not fit the layout.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(String)
    case invalidBatch(String)
    case missingTensor(name: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case valueCountMismatch(name: String, expected: Int, found: Int)
    case bufferSizeMismatch(expected: Int, found: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let message): return "invalid GPT-2 config: \(message)"
        case .invalidBatch(let message): return "invalid sequence batch: \(message)"
        case .missingTensor(let name): return "tensor '\(name)' is missing"
        case .shapeMismatch(let name, let expected, let found):
            return "tensor '\(name)' has shape \(found), expected \(expected)"
        case .valueCountMismatch(let name, let expected, let found):
            return "tensor '\(name)' has \(found) values, expected \(expected)"
        case .bufferSizeMismatch(let expected, let found):
            return "flat buffer holds \(found) floats, the parameter layout needs \(expected)"
        }
    }
}
