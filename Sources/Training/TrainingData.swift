import PreferenceData
import Model
import ChatTemplate
import Tokenizers

/// The tokenized pairs of a run and how they become model batches: the bridge from PreferenceData to Model.
struct TrainingData {
    var train: [TokenizedPair]
    var eval: [TokenizedPair]
    /// Training pairs whose prompt alone fills `max_length` (dropped only with `truncation_mode: keep_start`).
    var droppedTrainPairs: Int

    /// Reads and tokenizes `train_dataset` and `eval_dataset` (`demo` names the built-in split) as TRL 1.16 does.
    /// `chatTemplate` is asked for only when a file is conversational: the trainer passes the model's own template,
    /// or the built-in one that `chat_template` names; without it, the built-in named by `chat_template` is used.
    /// `completions` reads SFT data (`PreferenceDataset.loadCompletions`): pairs whose two completions are the same.
    static func load(config: TrainingConfig, tokenizer: any Tokenizer, chatTemplate: (() throws -> ChatTemplate)? = nil,
                     completions: Bool = false) throws -> TrainingData {
        let settings = TokenizationSettings(maxLength: config.maxLength, truncationMode: config.truncationMode)
        let template = chatTemplate ?? {
            guard let name = config.chatTemplate else {
                throw ConfigError("the data is conversational and no chat template is known: set `chat_template` to one "
                    + "of \(ChatTemplate.builtInNames.joined(separator: ", "))")
            }
            return try ChatTemplate.builtIn(named: name)
        }
        func tokenize(_ source: String, key: String,
                      builtIn: [PreferenceExample]) throws -> (pairs: [TokenizedPair], dropped: Int) {
            let examples = completions ? builtIn.map { PreferenceExample(prompt: $0.prompt, chosen: $0.chosen, rejected: $0.chosen) }
                                       : builtIn
            let texts = source == "demo"
                ? examples.map { $0.pairTexts(eosToken: tokenizer.eosToken) }
                : try pairTexts(file: try completions ? PreferenceDataset.loadCompletions(path: source)
                                                      : PreferenceDataset.load(path: source),
                                key: key, tokenizer: tokenizer, chatTemplate: template)
            return tokenizePairs(texts, tokenizer: tokenizer, settings: settings)
        }
        let train = try tokenize(config.trainDataset, key: "train_dataset", builtIn: DemoData.train)
        guard !train.pairs.isEmpty else {
            throw ConfigError("`train_dataset` \(config.trainDataset): every example's prompt fills `max_length` "
                + "\(config.maxLength), so all were dropped")
        }
        let eval = try config.evalDataset.map {
            try tokenize($0, key: "eval_dataset", builtIn: DemoData.heldOut).pairs
        } ?? []
        return TrainingData(train: train.pairs, eval: eval, droppedTrainPairs: train.dropped)
    }

    private static func pairTexts(file: PreferenceFile, key: String, tokenizer: any Tokenizer,
                                  chatTemplate: () throws -> ChatTemplate) throws -> [PairTexts] {
        let template: ChatTemplate?
        do {
            template = file.format.isConversational ? try chatTemplate() : nil
        } catch {
            throw ConfigError("`\(key)` \(file.path) is \(file.format), which needs a chat template: \(error)")
        }
        return try file.pairTexts(eosToken: tokenizer.eosToken, chatTemplate: template)
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
