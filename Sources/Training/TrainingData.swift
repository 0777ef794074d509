import PreferenceData
import Model

/// The tokenized pairs of a run and how they become model batches: the bridge from PreferenceData to Model.
struct TrainingData {
    var train: [TokenizedPair]
    var eval: [TokenizedPair]
    var droppedTrainPairs: Int

    /// Reads and tokenizes `train_dataset` and `eval_dataset` (`demo` names the built-in split).
    static func load(config: TrainingConfig, tokenizer: any Tokenizer) throws -> TrainingData {
        let settings = TokenizationSettings(maxLength: config.maxLength, maxPromptLength: config.maxPromptLength,
                                            truncationMode: config.truncationMode)
        let train = try tokenize(config.trainDataset, builtIn: DemoData.train, tokenizer: tokenizer, settings: settings)
        guard !train.pairs.isEmpty else {
            throw ConfigError("`train_dataset` \(config.trainDataset): no pair fits in `max_length` \(config.maxLength)")
        }
        let eval = try config.evalDataset.map {
            try tokenize($0, builtIn: DemoData.heldOut, tokenizer: tokenizer, settings: settings).pairs
        } ?? []
        return TrainingData(train: train.pairs, eval: eval, droppedTrainPairs: train.dropped)
    }

    private static func tokenize(_ source: String, builtIn: [PreferenceExample], tokenizer: some Tokenizer,
                                 settings: TokenizationSettings) throws -> (pairs: [TokenizedPair], dropped: Int) {
        let examples = source == "demo" ? builtIn : try PreferenceDataset.load(path: source)
        return tokenizePairs(examples, tokenizer: tokenizer, settings: settings)
    }

    /// Chosen rows then rejected rows of the pairs, right-padded, as the model takes them.
    static func sequenceBatch(_ pairs: [TokenizedPair], tokenizer: any Tokenizer, config: TrainingConfig) -> SequenceBatch {
        let padded = padPreferenceBatch(pairs, padTokenID: tokenizer.padTokenID)
        return SequenceBatch(count: 2 * padded.pairs, length: padded.length,
                             tokens: padded.tokens, scoreMask: padded.scoreMask)
    }
}
