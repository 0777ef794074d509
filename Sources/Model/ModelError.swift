import Diagnostics

/// Errors of the Model target: bad configuration (ours or config.json's), bad batches, and Hugging Face tensors that
/// do not fit the layout.
public enum ModelError: Error, IdenticalOnEveryRank, Equatable, CustomStringConvertible {
    case invalidConfig(String)
    /// config.json names a model class / model_type we do not implement.
    case unsupportedArchitecture(String)
    /// A config.json value the model cannot take (type problems are `JSONError`s).
    case invalidConfigValue(key: String, expected: String, found: String)
    /// config.json asks for a feature we do not implement (a rope type, an activation, sliding-window attention).
    case unsupportedConfigValue(key: String, value: String)
    case invalidBatch(String)
    /// A key/value cache that cannot be made, or tokens that would not fit in one.
    case invalidKeyValueCache(String)
    case missingTensor(name: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    case valueCountMismatch(name: String, expected: Int, found: Int)
    case bufferSizeMismatch(expected: Int, found: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let message): return "invalid model config: \(message)"
        case .unsupportedArchitecture(let name):
            let supported = ModelArchitecture.allCases.map { "\($0.huggingFaceClass) (\($0.rawValue))" }
            return "architecture '\(name)' is not supported; supported: \(supported.joined(separator: ", "))"
        case .invalidConfigValue(let key, let expected, let found):
            return "config.json '\(key)' must be \(expected), found \(found)"
        case .unsupportedConfigValue(let key, let value): return "config.json '\(key)' = \(value) is not supported"
        case .invalidBatch(let message): return "invalid sequence batch: \(message)"
        case .invalidKeyValueCache(let message): return "key/value cache: \(message)"
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
