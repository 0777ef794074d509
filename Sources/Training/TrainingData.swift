import PreferenceData
import Model

/// The tokenized pairs of a run and how they become model batches: the bridge from PreferenceData to Model.
struct TrainingData {
    var train: [TokenizedPair]
    var eval: [TokenizedPair]
    /// Training pairs whose prompt alone fills `max_length` (dropped only with `truncation_mode: keep_start`).
    var droppedTrainPairs: Int

    /// Reads and tokenizes `train_dataset` and `eval_dataset` (`demo` names the built-in split) as TRL 1.16 does.
    /// `chatTemplate` renders conversational files: the caller resolves it from the model's tokenizer config, with
    /// `chat_template` naming a built-in to use instead (`ChatTemplate.load(tokenizerConfig:builtInName:)`). When the
    /// caller passes none, the built-in named by `chat_template` is used with its family's special tokens.
    static func load(config: TrainingConfig, tokenizer: any Tokenizer,
                     chatTemplate: ChatTemplate? = nil) throws -> TrainingData {
        let settings = TokenizationSettings(maxLength: config.maxLength, truncationMode: config.truncationMode)
        let template = try chatTemplate ?? config.chatTemplate.map { try ChatTemplate.builtIn(named: $0) }
        func tokenize(_ source: String, key: String,
                      builtIn: [PreferenceExample]) throws -> (pairs: [TokenizedPair], dropped: Int) {
            let texts = source == "demo"
                ? builtIn.map { $0.pairTexts(eosToken: tokenizer.eosToken) }
                : try pairTexts(file: try PreferenceDataset.load(path: source), key: key, tokenizer: tokenizer,
                                chatTemplate: template)
            return tokenizePairs(texts, tokenizer: tokenizer, settings: settings)
        }
        let train = try tokenize(config.trainDataset, key: "train_dataset", builtIn: DemoData.train)
        guard !train.pairs.isEmpty else {
            throw ConfigError("`train_dataset` \(config.trainDataset): every pair's prompt fills `max_length` "
                + "\(config.maxLength), so all were dropped")
        }
        let eval = try config.evalDataset.map {
            try tokenize($0, key: "eval_dataset", builtIn: DemoData.heldOut).pairs
        } ?? []
        return TrainingData(train: train.pairs, eval: eval, droppedTrainPairs: train.dropped)
    }

    private static func pairTexts(file: PreferenceFile, key: String, tokenizer: any Tokenizer,
                                  chatTemplate: ChatTemplate?) throws -> [PairTexts] {
        if file.format.isConversational, chatTemplate == nil {
            throw ConfigError("`\(key)` \(file.path) is \(file.format), which needs a chat template: the model has "
                + "none, so set `chat_template` to one of \(ChatTemplate.builtInNames.joined(separator: ", "))")
        }
        return try file.pairTexts(eosToken: tokenizer.eosToken, chatTemplate: chatTemplate)
    }

    /// Chosen rows then rejected rows of the pairs, each cut to `max_length`, right-padded, as the model takes them.
    static func sequenceBatch(_ pairs: [TokenizedPair], tokenizer: any Tokenizer,
                              config: TrainingConfig) -> SequenceBatch {
        let padded = padPreferenceBatch(pairs, padTokenID: tokenizer.padTokenID, maxLength: config.maxLength,
                                        truncationMode: config.truncationMode)
        return SequenceBatch(count: 2 * padded.pairs, length: padded.length,
                             tokens: padded.tokens, scoreMask: padded.scoreMask)
    }

    /// Tokens the model processes for `pairs`: both rows after truncation, without padding (TRL's `num_tokens`).
    static func tokenCount(_ pairs: [TokenizedPair], config: TrainingConfig) -> Int {
        truncatedRows(pairs, config: config).reduce(0) { $0 + $1.chosen.tokens.count + $1.rejected.tokens.count }
    }

    /// Scored chosen-completion tokens of `pairs` after truncation (the `sft` loss's normalizer).
    static func scoredChosenTokens(_ pairs: [TokenizedPair], config: TrainingConfig) -> Int {
        truncatedRows(pairs, config: config).reduce(0) { $0 + $1.chosen.scoredTokens }
    }

    private static func truncatedRows(_ pairs: [TokenizedPair],
                                      config: TrainingConfig) -> [(chosen: PreferenceRow, rejected: PreferenceRow)] {
        pairs.map { $0.rows(maxLength: config.maxLength, truncationMode: config.truncationMode) }
    }
}
