/// Which end of an over-long prompt+completion sequence survives `maxLength` truncation (TRL's `truncation_mode`).
public enum TruncationMode: String, Codable, Sendable, CaseIterable {
    /// Keep the first `maxLength` tokens: the prompt stays whole and the completions lose their tails.
    /// The default of current TRL (`"keep_start"`).
    case keepStart = "keep_start"
    /// Keep the last `maxLength` tokens: the completions stay whole and the prompt loses its beginning.
    /// TRL's former default (`"keep_end"`), deprecated there since.
    case keepEnd = "keep_end"
}

/// How examples are cut to fit the model's context.
public struct TokenizationSettings: Equatable, Sendable {
    /// Upper bound on prompt + completion tokens of each sequence (TRL's `max_length`).
    public var maxLength: Int
    /// If set, the prompt first keeps only its last `maxPromptLength` tokens (TRL's `max_prompt_length`).
    public var maxPromptLength: Int?
    public var truncationMode: TruncationMode

    public init(maxLength: Int, maxPromptLength: Int? = nil, truncationMode: TruncationMode = .keepStart) {
        self.maxLength = maxLength
        self.maxPromptLength = maxPromptLength
        self.truncationMode = truncationMode
    }
}

/// Token ids of one preference pair. Both completions share the prompt and (unless truncated away) end with EOS.
/// Pairs made by `tokenizePairs` always have a non-empty prompt and non-empty completions.
public struct TokenizedPair: Equatable, Sendable {
    public var prompt: [Int32]
    public var chosen: [Int32]
    public var rejected: [Int32]

    public init(prompt: [Int32], chosen: [Int32], rejected: [Int32]) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// Tokenizes preference examples the way TRL's `DPOTrainer` does for the standard (plain-text) format, and truncates them.
///
/// Tokenization: prompt ids are the BOS id (if the tokenizer has one) followed by the encoded prompt; each completion is
/// its encoded text followed by EOS.
///
/// Truncation, in this order:
/// 1. `maxPromptLength`, if set, keeps the last `maxPromptLength` prompt tokens (TRL ≤ 0.2x `max_prompt_length`).
/// 2. `maxLength` bounds each prompt+completion sequence. TRL slices every concatenated row on its own:
///    `keep_start` keeps its first `maxLength` tokens, `keep_end` its last `maxLength`. Here the prompt is shared by
///    both rows, so:
///    - `.keepStart`: the prompt is kept whole and each completion keeps its first `maxLength − prompt` tokens
///      (a cut completion loses its EOS, as in TRL). This is exactly TRL's per-row result.
///    - `.keepEnd`: completions are kept whole and the prompt keeps its last `maxLength − longer completion` tokens.
///      The row with the shorter completion therefore may lose a few more prompt tokens than TRL would drop.
///
/// A pair is dropped (and counted in `dropped`) when it cannot keep at least one prompt token and at least one token of
/// each completion: the first token of a sequence has no predecessor to predict it, so it must be a prompt token, and
/// a pair with an empty completion carries no preference signal. Concretely that is: the prompt is empty (no BOS and an
/// empty prompt string, or `maxPromptLength` 0); `.keepStart` and the prompt alone fills `maxLength`; `.keepEnd` and
/// a completion alone fills `maxLength` (TRL would start cutting that completion from the front, leaving no context).
public func tokenizePairs(_ examples: [PreferenceExample], tokenizer: some Tokenizer,
                          settings: TokenizationSettings) -> (pairs: [TokenizedPair], dropped: Int) {
    var pairs: [TokenizedPair] = []
    pairs.reserveCapacity(examples.count)
    for example in examples {
        let untruncated = TokenizedPair(
            prompt: (tokenizer.bosTokenID.map { [$0] } ?? []) + tokenizer.encode(example.prompt),
            chosen: tokenizer.encode(example.chosen) + [tokenizer.eosTokenID],
            rejected: tokenizer.encode(example.rejected) + [tokenizer.eosTokenID])
        if let pair = truncated(untruncated, settings: settings) { pairs.append(pair) }
    }
    return (pairs, examples.count - pairs.count)
}

/// Applies the truncation rules documented on `tokenizePairs`; nil means the pair is dropped.
func truncated(_ pair: TokenizedPair, settings: TokenizationSettings) -> TokenizedPair? {
    var pair = pair
    if let maxPromptLength = settings.maxPromptLength {
        pair.prompt = Array(pair.prompt.suffix(max(maxPromptLength, 0)))
    }
    guard !pair.prompt.isEmpty else { return nil }

    switch settings.truncationMode {
    case .keepStart:
        let completionBudget = settings.maxLength - pair.prompt.count
        guard completionBudget >= 1 else { return nil }
        pair.chosen = Array(pair.chosen.prefix(completionBudget))
        pair.rejected = Array(pair.rejected.prefix(completionBudget))
    case .keepEnd:
        let promptBudget = settings.maxLength - max(pair.chosen.count, pair.rejected.count)
        guard promptBudget >= 1 else { return nil }
        pair.prompt = Array(pair.prompt.suffix(promptBudget))
    }
    return pair
}
