import ChatTemplate
import Tokenizers

/// Which end of an over-long prompt+completion row survives `maxLength` truncation (TRL's `truncation_mode`).
public enum TruncationMode: String, Codable, Sendable, CaseIterable {
    /// Keep the first `maxLength` tokens: the prompt stays whole and the completions lose their tails.
    /// The default of current TRL (`"keep_start"`).
    case keepStart = "keep_start"
    /// Keep the last `maxLength` tokens: the completion stays whole and the prompt loses its beginning.
    /// TRL's former default (`"keep_end"`), deprecated there since.
    case keepEnd = "keep_end"
}

/// How rows are fitted to the model's context.
public struct TokenizationSettings: Equatable, Sendable {
    /// Upper bound on the tokens of each prompt+completion row (TRL's `max_length`).
    public var maxLength: Int
    public var truncationMode: TruncationMode

    public init(maxLength: Int, truncationMode: TruncationMode = .keepStart) {
        self.maxLength = maxLength
        self.truncationMode = truncationMode
    }

    /// TRL's dataset filter: with `keep_start`, a pair whose prompt alone fills `maxLength` would have every completion
    /// token cut, so it is dropped; nothing else is (an empty prompt is kept, and with `keep_end` everything is).
    public func keeps(_ pair: TokenizedPair) -> Bool {
        keeps(promptTokens: pair.prompt.count)
    }

    /// The same filter for an SFT example.
    public func keeps(_ completion: TokenizedCompletion) -> Bool {
        keeps(promptTokens: completion.prompt.count)
    }

    private func keeps(promptTokens: Int) -> Bool {
        truncationMode == .keepEnd || promptTokens < maxLength
    }
}

/// The three strings TRL tokenizes for one pair (`DPOTrainer._prepare_dataset`): the prompt, and the prompt followed by
/// each completion. Tokenizing `prompt + completion` as one string (rather than the completion on its own) is what
/// lets BPE merge across the boundary exactly as it will at inference.
public struct PairTexts: Equatable, Sendable {
    public var prompt: String
    public var promptAndChosen: String
    public var promptAndRejected: String
    /// Whether the tokenizer adds its post-processor's tokens (BOS): yes for standard text, no for chat-template
    /// output, which carries its own.
    public var addSpecialTokens: Bool

    public init(prompt: String, promptAndChosen: String, promptAndRejected: String, addSpecialTokens: Bool) {
        self.prompt = prompt
        self.promptAndChosen = promptAndChosen
        self.promptAndRejected = promptAndRejected
        self.addSpecialTokens = addSpecialTokens
    }
}

extension PreferenceExample {
    /// The standard format's texts: each completion gets the EOS token's *text* appended unless it already ends with
    /// it (compared by code point, as Python's `str.endswith`), and all three are tokenized with special tokens.
    public func pairTexts(eosToken: String) -> PairTexts {
        func endingWithEOS(_ completion: String) -> String {
            completion.unicodeScalars.reversed().starts(with: eosToken.unicodeScalars.reversed())
                ? completion : completion + eosToken
        }
        return PairTexts(prompt: prompt, promptAndChosen: prompt + endingWithEOS(chosen),
                         promptAndRejected: prompt + endingWithEOS(rejected), addSpecialTokens: true)
    }
}

extension ConversationalExample {
    /// The conversational format's texts, as TRL's `apply_chat_template(…, tokenize=True)` produces them: the prompt
    /// rendered with the generation prompt, each full conversation without; no EOS is appended (the template ends
    /// turns itself) and the tokenizer adds no special tokens. Throws `ChatTemplateError` when the template fails.
    public func pairTexts(chatTemplate: ChatTemplate) throws -> PairTexts {
        PairTexts(prompt: try chatTemplate.render(prompt, addGenerationPrompt: true),
                  promptAndChosen: try chatTemplate.render(prompt + chosen, addGenerationPrompt: false),
                  promptAndRejected: try chatTemplate.render(prompt + rejected, addGenerationPrompt: false),
                  addSpecialTokens: false)
    }
}

/// Token ids of one preference pair, untruncated: the collator cuts each row to `max_length` (`rows(maxLength:…)`).
/// Standard-format completions end with EOS.
public struct TokenizedPair: Equatable, Sendable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]

    public init(prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }

    /// TRL 1.16's tokenization of one pair: the three texts are encoded; the prompt is the part of the prompt's ids
    /// that both prompt+completion encodings start with, and each completion is the rest of its encoding. When a
    /// token merges across the boundary (a prompt ending in a space before a word), the prompt's diverging tail is
    /// left out and the completion starts with the merged token.
    public init(_ texts: PairTexts, tokenizer: some Tokenizer) {
        let prompt = tokenizer.encode(texts.prompt, addSpecialTokens: texts.addSpecialTokens)
        let promptAndChosen = tokenizer.encode(texts.promptAndChosen, addSpecialTokens: texts.addSpecialTokens)
        let promptAndRejected = tokenizer.encode(texts.promptAndRejected, addSpecialTokens: texts.addSpecialTokens)
        let promptLength = sharedPromptLength(prompt, promptAndChosen, promptAndRejected)
        self.init(prompt: Array(prompt[..<promptLength]), chosen: Array(promptAndChosen[promptLength...]),
                  rejected: Array(promptAndRejected[promptLength...]))
    }
}

/// Token ids of one SFT example, untruncated: a prompt and the completion the loss is taken on (one row, cut to
/// `max_length` by `row(maxLength:…)`).
public struct TokenizedCompletion: Equatable, Sendable {
    public var prompt: [Int32]
    public var completion: [Int32]

    public init(prompt: [Int32], completion: [Int32]) {
        self.prompt = prompt
        self.completion = completion
    }

    /// The pair tokenization with one completion: `promptAndCompletion` and `prompt` are encoded, the prompt is the
    /// part of the prompt's ids that the full encoding starts with, and the completion is the rest.
    public init(prompt: String, promptAndCompletion: String, addSpecialTokens: Bool, tokenizer: some Tokenizer) {
        let promptIDs = tokenizer.encode(prompt, addSpecialTokens: addSpecialTokens)
        let full = tokenizer.encode(promptAndCompletion, addSpecialTokens: addSpecialTokens)
        let promptLength = sharedPromptLength(promptIDs, full)
        self.init(prompt: Array(promptIDs[..<promptLength]), completion: Array(full[promptLength...]))
    }
}

/// How many leading ids of `prompt` every one of `encodings` starts with.
private func sharedPromptLength(_ prompt: [Int32], _ encodings: [Int32]...) -> Int {
    encodings.map { encoding in zip(prompt, encoding).prefix { $0 == $1 }.count }.min() ?? prompt.count
}

/// Tokenizes every pair (`TokenizedPair.init(_:tokenizer:)`) and drops those `settings` does not keep
/// (`TokenizationSettings.keeps`), returning the rest in order and how many were dropped.
public func tokenizePairs(_ texts: [PairTexts], tokenizer: some Tokenizer,
                          settings: TokenizationSettings) -> (pairs: [TokenizedPair], dropped: Int) {
    let pairs = texts.map { TokenizedPair($0, tokenizer: tokenizer) }.filter(settings.keeps)
    return (pairs, texts.count - pairs.count)
}

/// `tokenizePairs` of standard-format examples, with the tokenizer's EOS text appended (`PreferenceExample.pairTexts`).
public func tokenizePairs(_ examples: [PreferenceExample], tokenizer: some Tokenizer,
                          settings: TokenizationSettings) -> (pairs: [TokenizedPair], dropped: Int) {
    tokenizePairs(examples.map { $0.pairTexts(eosToken: tokenizer.eosToken) }, tokenizer: tokenizer, settings: settings)
}

extension PreferenceFile {
    /// The texts TRL tokenizes for each record, in order (`PreferenceExample.pairTexts` or
    /// `ConversationalExample.pairTexts`). Conversational records need `chatTemplate`; throws `DataError` without one,
    /// or naming the record's line (or array element) when the template fails on it.
    public func pairTexts(eosToken: String, chatTemplate: ChatTemplate?) throws -> [PairTexts] {
        switch records {
        case .standard(let examples):
            return examples.map { $0.pairTexts(eosToken: eosToken) }
        case .conversational(let examples):
            guard let chatTemplate else {
                throw DataError(file: path, problem: "the records are \(format) and need a chat template to be "
                                + "rendered, but none was given")
            }
            return try zip(examples, locations).map { example, location in
                do {
                    return try example.pairTexts(chatTemplate: chatTemplate)
                } catch let error as ChatTemplateError {
                    throw DataError(file: path, location: location,
                                    problem: "chat template \(chatTemplate.origin) failed on this record: \(error)")
                }
            }
        }
    }
}
