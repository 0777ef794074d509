import Foundation
import Model
import SeededRandom

/// Why a completion ended; the raw values name the setting or limit that ended it.
public enum StopReason: String, Sendable {
    /// The last token is one of `eosTokenIDs`.
    case endOfSequence = "eos_token_id"
    /// The last token completed one of `stopStrings`.
    case stopString = "stop_strings"
    /// `maxNewTokens` were generated.
    case maxNewTokens = "max_new_tokens"
    /// The model's context is full.
    case contextFull = "the model's context"
}

/// Where generation spent its time: the prompt's forward (prefill) and everything after it (one forward per
/// further token, with its processing and choice).
public struct GenerationTiming: Sendable {
    public var prefillTokens = 0
    public var prefillSeconds = 0.0
    /// Tokens run through the model one at a time: every generated token but the last.
    public var decodeTokens = 0
    public var decodeSeconds = 0.0

    public init() {}

    /// Both phases of `self` and `other` together.
    public func adding(_ other: GenerationTiming) -> GenerationTiming {
        var sum = self
        sum.prefillTokens += other.prefillTokens
        sum.prefillSeconds += other.prefillSeconds
        sum.decodeTokens += other.decodeTokens
        sum.decodeSeconds += other.decodeSeconds
        return sum
    }
}

/// One prompt and what the model made of it.
public struct Generation: Sendable {
    public let promptIDs: [Int32]
    /// The generated tokens, a final EOS or stop-string token included (as transformers returns them).
    public let completionIDs: [Int32]
    public let stopReason: StopReason
    public let timing: GenerationTiming
}

/// transformers' `generate` for one sequence at a time, with a key/value cache: the prompt runs through the model
/// once, then each new token alone. Each step applies `settings.logitsProcessors` to the last position's logits,
/// picks a token (greedy or sampled) and stops after an EOS token, a completed stop string, `maxNewTokens` tokens or
/// when the model's context is full, whichever comes first.
public struct TextGenerator {
    public let model: any CausalLanguageModel
    public let settings: GenerationSettings
    private let processors: [LogitsProcessor]
    private let stopStrings: StopStrings
    private let decode: ([Int32]) -> String

    /// `decode` turns token ids into text for the stop strings. Throws `GenerationError.invalidSetting` for settings
    /// out of range (see `GenerationSettings.validate`).
    public init(model: any CausalLanguageModel, settings: GenerationSettings, decode: @escaping ([Int32]) -> String) throws {
        try settings.validate()
        self.model = model
        self.settings = settings
        processors = settings.logitsProcessors
        stopStrings = StopStrings(settings.stopStrings)
        self.decode = decode
    }

    /// Continues `prompt`. Sampling draws from stream `stream` of `settings.seed`, so a prompt's completion depends
    /// only on the seed and its stream (e.g. its index in a prompt file), not on the prompts before it.
    /// Throws `GenerationError` for an empty prompt or one longer than the model's context.
    public func generate(_ prompt: [Int32], stream: UInt64 = 0) throws -> Generation {
        let limit = model.config.contextLength
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard prompt.count <= limit else { throw GenerationError.promptTooLong(tokens: prompt.count, limit: limit) }
        // Every token but the last generated one goes through the model.
        let cache = try model.makeKeyValueCache(capacity: min(limit, prompt.count + settings.maxNewTokens - 1))
        var choice = settings.doSample ? TokenChoice.sample(Xoshiro256StarStar(seed: settings.seed, stream: stream))
                                       : .greedy
        var timing = GenerationTiming()
        let clock = ContinuousClock()
        let prefillStart = clock.now
        var logits = try model.logits(continuing: prompt, cache: cache, allPositions: false)
        timing.prefillTokens = prompt.count
        timing.prefillSeconds = Self.seconds(clock.now - prefillStart)

        let decodeStart = clock.now
        var sequence = prompt
        while true {
            for processor in processors { processor.apply(to: &logits, sequence: sequence) }
            let token = choice.next(logits)
            sequence.append(token)
            if let stopReason = stopReason(after: token, sequence: sequence, completionLength: sequence.count - prompt.count,
                                           cache: cache) {
                timing.decodeSeconds = Self.seconds(clock.now - decodeStart)
                return Generation(promptIDs: prompt, completionIDs: Array(sequence[prompt.count...]),
                                  stopReason: stopReason, timing: timing)
            }
            logits = try model.logits(continuing: [token], cache: cache, allPositions: false)
            timing.decodeTokens += 1
        }
    }

    /// Why generation ends with `token`, the newest of `sequence`, in transformers' order of checks; nil to go on.
    private func stopReason(after token: Int32, sequence: [Int32], completionLength: Int,
                            cache: KeyValueCache) -> StopReason? {
        if settings.eosTokenIDs.contains(token) { return .endOfSequence }
        if stopStrings.areCompleted(by: sequence, decode: decode) { return .stopString }
        if completionLength == settings.maxNewTokens { return .maxNewTokens }
        if cache.count == cache.capacity { return .contextFull }
        return nil
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }
}
