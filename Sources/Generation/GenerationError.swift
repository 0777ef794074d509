/// Errors of the Generation target: settings out of range and prompts that do not fit the model (a
/// generation_config.json that cannot be used is a `JSONError`).
public enum GenerationError: Error, Equatable, CustomStringConvertible {
    /// A setting (named as transformers names it, e.g. `top_p`) outside its range.
    case invalidSetting(name: String, problem: String)
    case emptyPrompt
    /// A prompt longer than the model's context.
    case promptTooLong(tokens: Int, limit: Int)

    public var description: String {
        switch self {
        case .invalidSetting(let name, let problem): return "`\(name)` \(problem)"
        case .emptyPrompt: return "the prompt has no tokens (a model needs at least one to predict the next)"
        case .promptTooLong(let tokens, let limit):
            return "the prompt has \(tokens) tokens, more than the model's \(limit) positions"
        }
    }
}
