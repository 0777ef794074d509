import Foundation
import JSON

/// How to continue a prompt, with transformers' `GenerationConfig` meanings and defaults (its "global defaults"),
/// except `maxNewTokens`: transformers stops at 20 tokens in all, prompt included, unless told otherwise.
/// The order of precedence is transformers' too: these defaults, then a model's generation_config.json
/// (`apply(huggingFaceGenerationConfig:file:)`), then what the user passes.
public struct GenerationSettings: Equatable, Sendable {
    /// Tokens to generate at most (`max_new_tokens`); fewer when the model's context is full first.
    public var maxNewTokens = 128
    /// Sample from the processed distribution (`do_sample`); otherwise take its largest score (greedy).
    public var doSample = false
    /// Scores are divided by it before sampling (`temperature`; sampling only).
    public var temperature = 1.0
    /// Keep only the `top_k` largest scores before sampling; 0 keeps all (sampling only).
    public var topK = 50
    /// Keep the smallest set of largest-probability tokens whose probabilities add up to more than `top_p`
    /// (nucleus sampling; 1 keeps all; sampling only).
    public var topP = 1.0
    /// Scores of tokens already in the sequence, prompt included, are divided by it when positive and multiplied
    /// by it when negative (`repetition_penalty`; 1 changes nothing; greedy and sampling alike).
    public var repetitionPenalty = 1.0
    /// Generation ends after any of these tokens (`eos_token_id`), which is kept as the completion's last token.
    public var eosTokenIDs: [Int32] = []
    /// Generation ends with the token that completes any of these in the text (`stop_strings`; see `StopStrings`).
    public var stopStrings: [String] = []
    /// Seeds the draws of sampling; each prompt draws from its own stream of it (see `TextGenerator.generate`).
    public var seed: UInt64 = 42

    public init() {}

    /// Throws `GenerationError.invalidSetting` for the first setting out of range. The sampling settings are checked
    /// only when sampling, as transformers builds their processors only then.
    public func validate() throws {
        func require(_ condition: Bool, _ name: String, _ problem: @autoclosure () -> String) throws {
            if !condition { throw GenerationError.invalidSetting(name: name, problem: problem()) }
        }
        try require(maxNewTokens >= 1, "max_new_tokens", "must be at least 1 (got \(maxNewTokens))")
        try require(repetitionPenalty > 0 && repetitionPenalty.isFinite, "repetition_penalty",
                    "must be a positive number (got \(repetitionPenalty))")
        try require(!stopStrings.contains(""), "stop_strings", "must not contain an empty string")
        guard doSample else { return }
        try require(temperature > 0 && temperature.isFinite, "temperature",
                    "must be a positive number when sampling (got \(temperature)); for greedy decoding pass "
                    + "--do_sample false")
        try require(topK >= 0, "top_k", "must be 0 (keep all) or positive (got \(topK))")
        try require(topP >= 0 && topP <= 1, "top_p", "must be between 0 and 1 (got \(topP))")
    }

    /// The processors transformers' `generate` builds for these settings, in its order: the repetition penalty, then
    /// (sampling only) temperature, top-k and top-p. Settings that change nothing add no processor.
    public var logitsProcessors: [LogitsProcessor] {
        var processors: [LogitsProcessor] = []
        if repetitionPenalty != 1 { processors.append(.repetitionPenalty(Float(repetitionPenalty))) }
        guard doSample else { return processors }
        if temperature != 1 { processors.append(.temperature(Float(temperature))) }
        if topK != 0 { processors.append(.topK(topK)) }
        if topP < 1 { processors.append(.topP(topP)) }
        return processors
    }

    /// Takes the keys of a Hugging Face generation_config.json that it sets (`do_sample`, `temperature`, `top_k`,
    /// `top_p`, `repetition_penalty`, `max_new_tokens`, `eos_token_id` as one id or a list, `stop_strings` as one
    /// string or a list); other keys and nulls are ignored. Throws `JSONError` naming `file` and the key for malformed
    /// JSON or a value of the wrong type.
    public mutating func apply(huggingFaceGenerationConfig json: Data, file: String) throws {
        let config = try JSONField.parse(json, file: file)
        doSample = try config.optional("do_sample")?.bool() ?? doSample
        temperature = try config.optional("temperature")?.double() ?? temperature
        topK = try config.optional("top_k")?.int() ?? topK
        topP = try config.optional("top_p")?.double() ?? topP
        repetitionPenalty = try config.optional("repetition_penalty")?.double() ?? repetitionPenalty
        maxNewTokens = try config.optional("max_new_tokens")?.int() ?? maxNewTokens
        eosTokenIDs = try config.optional("eos_token_id").map(Self.tokenIDs) ?? eosTokenIDs
        stopStrings = try config.optional("stop_strings").map { try Self.oneOrList($0) { try $0.string() } } ?? stopStrings
    }

    /// One token id or a list of them, as generation_config.json and config.json write `eos_token_id`.
    public static func tokenIDs(_ field: JSONField) throws -> [Int32] {
        try oneOrList(field) { Int32(clamping: try $0.int()) }
    }

    private static func oneOrList<Element>(_ field: JSONField, _ read: (JSONField) throws -> Element) throws -> [Element] {
        guard case .array = field.value else { return [try read(field)] }
        return try field.array().map(read)
    }
}
