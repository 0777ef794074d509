import Foundation

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
    /// string or a list); other keys and nulls are ignored. Throws `GenerationError.invalidGenerationConfig` naming
    /// `file` and the key for malformed JSON or a value of the wrong type.
    public mutating func apply(huggingFaceGenerationConfig json: Data, file: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw GenerationError.invalidGenerationConfig(file: file, problem: "not a JSON object")
        }
        let keys = GenerationConfigKeys(object: object, file: file)
        doSample = try keys.bool("do_sample") ?? doSample
        temperature = try keys.number("temperature") ?? temperature
        topK = try keys.integer("top_k") ?? topK
        topP = try keys.number("top_p") ?? topP
        repetitionPenalty = try keys.number("repetition_penalty") ?? repetitionPenalty
        maxNewTokens = try keys.integer("max_new_tokens") ?? maxNewTokens
        eosTokenIDs = try keys.integers("eos_token_id")?.map { Int32(clamping: $0) } ?? eosTokenIDs
        stopStrings = try keys.strings("stop_strings") ?? stopStrings
    }
}

/// Typed reads of generation_config.json's keys: nil when absent or null, an error naming the key otherwise.
private struct GenerationConfigKeys {
    let object: [String: Any]
    let file: String

    /// JSONSerialization's true and false are NSNumbers of this class, which `as? Bool` / `as? Int` cannot tell
    /// apart from 1 and 0.
    private static let booleanClass = type(of: NSNumber(value: true))

    private func read<T>(_ key: String, as expected: String, _ convert: (Any) -> T?) throws -> T? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let converted = convert(value) else {
            throw GenerationError.invalidGenerationConfig(file: file, problem: "'\(key)' must be \(expected), found \(value)")
        }
        return converted
    }

    private static func number(_ value: Any) -> NSNumber? {
        (value as? NSNumber).flatMap { type(of: $0) == booleanClass ? nil : $0 }
    }

    private static func integer(_ value: Any) -> Int? { number(value).flatMap { Int(exactly: $0.doubleValue) } }

    func bool(_ key: String) throws -> Bool? {
        try read(key, as: "true or false") { ($0 as? NSNumber).flatMap { type(of: $0) == Self.booleanClass ? $0.boolValue : nil } }
    }

    func number(_ key: String) throws -> Double? { try read(key, as: "a number") { Self.number($0)?.doubleValue } }

    func integer(_ key: String) throws -> Int? { try read(key, as: "an integer", Self.integer) }

    /// One integer or a list of them.
    func integers(_ key: String) throws -> [Int]? {
        try read(key, as: "a token id or a list of token ids") { value in
            let items = (value as? [Any]).map { $0.map(Self.integer) } ?? [Self.integer(value)]
            return items.contains { $0 == nil } ? nil : items.compactMap { $0 }
        }
    }

    /// One string or a list of them.
    func strings(_ key: String) throws -> [String]? {
        try read(key, as: "a string or a list of strings") { ($0 as? String).map { [$0] } ?? $0 as? [String] }
    }
}
