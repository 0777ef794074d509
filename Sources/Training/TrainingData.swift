import PreferenceData
import Model
import ChatTemplate
import Tokenizers

/// A run's training and evaluation examples: the bridge from PreferenceData to Model.
///
/// Examples are tokenized as TRL 1.16 does and then cut to `max_length` once, when they are loaded: DPO keeps each
/// pair's two rows (`PreferenceRows`), SFT one prompt+completion row per example (`PreferenceRow`), and micro-batches
/// are padded from those stored rows (`SequenceBatch(pairs:padTokenID:)`, `SequenceBatch(completions:padTokenID:)`).
struct TrainingData<Example> {
    var train: [Example]
    var eval: [Example]
    /// Training examples whose prompt alone fills `max_length` (dropped only with `truncation_mode: keep_start`).
    var droppedTrainExamples: Int

    /// A hash of every token id and prompt length of every row (train, then eval): what ranks compare at start-up.
    func fingerprint(rows: (Example) -> [PreferenceRow]) -> String {
        var fingerprint = Fingerprint()
        for split in [train, eval] {
            fingerprint.add([UInt8](repeating: 0xFF, count: 8))
            for row in split.flatMap(rows) {
                row.tokens.withUnsafeBytes { fingerprint.add($0) }
                withUnsafeBytes(of: Int64(row.promptTokens)) { fingerprint.add($0) }
            }
        }
        return fingerprint.hex
    }

    /// The same examples, each transformed.
    func map<Other>(_ transform: (Example) -> Other) -> TrainingData<Other> {
        TrainingData<Other>(train: train.map(transform), eval: eval.map(transform),
                            droppedTrainExamples: droppedTrainExamples)
    }
}

extension TrainingData where Example == PreferenceRows {
    /// DPO's pairs of `train_dataset` and `eval_dataset`, tokenized and truncated; with `training` false, only those of
    /// `eval_dataset` (`dpo-dist eval`).
    static func pairs(config: TrainingConfig, tokenizer: any Tokenizer,
                      chatTemplate: (() throws -> ChatTemplate)? = nil, training: Bool = true) throws -> Self {
        try TrainingData<TokenizedPair>.tokenizedPairs(config: config, tokenizer: tokenizer, chatTemplate: chatTemplate,
                                                       training: training)
            .map { $0.rows(maxLength: config.maxLength, truncationMode: config.truncationMode) }
    }
}

extension TrainingData where Example == PreferenceRow {
    /// SFT's examples of `train_dataset` and `eval_dataset` (`PreferenceDataset.loadCompletions`), tokenized and
    /// truncated.
    static func completions(config: TrainingConfig, tokenizer: any Tokenizer,
                            chatTemplate: (() throws -> ChatTemplate)? = nil) throws -> Self {
        let settings = TokenizationSettings(maxLength: config.maxLength, truncationMode: config.truncationMode)
        return try load(config: config, tokenizer: tokenizer, chatTemplate: chatTemplate, completions: true) { texts in
            // An SFT record's completion is the chosen side of its texts.
            let all = texts.map {
                TokenizedCompletion(prompt: $0.prompt, promptAndCompletion: $0.promptAndChosen,
                                    addSpecialTokens: $0.addSpecialTokens, tokenizer: tokenizer)
            }
            let kept = all.filter(settings.keeps)
            return (kept.map { $0.row(maxLength: config.maxLength, truncationMode: config.truncationMode) },
                    all.count - kept.count)
        }
    }
}

extension TrainingData where Example == TokenizedPair {
    /// DPO's pairs before truncation: the token ids TRL's tokenized dataset holds.
    static func tokenizedPairs(config: TrainingConfig, tokenizer: any Tokenizer,
                               chatTemplate: (() throws -> ChatTemplate)? = nil, training: Bool = true) throws -> Self {
        let settings = TokenizationSettings(maxLength: config.maxLength, truncationMode: config.truncationMode)
        return try load(config: config, tokenizer: tokenizer, chatTemplate: chatTemplate, completions: false,
                        training: training) {
            tokenizePairs($0, tokenizer: tokenizer, settings: settings)
        }
    }
}

extension TrainingData {
    /// Reads `train_dataset` and `eval_dataset` (`demo` names the built-in split) and turns their texts into examples
    /// with `tokenize`, which returns those it keeps and how many it dropped. `chatTemplate` is asked for only when a
    /// file is conversational: the trainer passes the model's own template, or the built-in one that `chat_template`
    /// names; without it, the built-in named by `chat_template` is used. `completions` reads SFT data
    /// (`PreferenceDataset.loadCompletions`). Without `training`, `train_dataset` is not read and the training set is empty.
    private static func load(config: TrainingConfig, tokenizer: any Tokenizer, chatTemplate: (() throws -> ChatTemplate)?,
                             completions: Bool, training: Bool = true,
                             tokenize: ([PairTexts]) -> ([Example], dropped: Int)) throws -> Self {
        let template = chatTemplate ?? {
            guard let name = config.chatTemplate else {
                throw RunError.input("the data is conversational and no chat template is known: set `chat_template` to one "
                    + "of \(ChatTemplate.builtInNames.joined(separator: ", "))")
            }
            return try ChatTemplate.builtIn(named: name)
        }
        func examples(_ source: String, key: String, builtIn: [PreferenceExample]) throws -> ([Example], dropped: Int) {
            // The demo's SFT data is its chosen replies (the side `completions` reads).
            let texts = source == "demo"
                ? builtIn.map { $0.pairTexts(eosToken: tokenizer.eosToken) }
                : try pairTexts(file: try completions ? PreferenceDataset.loadCompletions(path: source)
                                                      : PreferenceDataset.load(path: source),
                                key: key, tokenizer: tokenizer, chatTemplate: template)
            return tokenize(texts)
        }
        let (train, dropped) = training
            ? try examples(config.trainDataset, key: "train_dataset", builtIn: DemoData.train) : ([], 0)
        guard !train.isEmpty || !training else {
            throw RunError.input("`train_dataset` \(config.trainDataset): every example's prompt fills `max_length` "
                + "\(config.maxLength), so all were dropped")
        }
        let eval = try config.evalDataset.map { try examples($0, key: "eval_dataset", builtIn: DemoData.heldOut).0 } ?? []
        return TrainingData(train: train, eval: eval, droppedTrainExamples: dropped)
    }

    private static func pairTexts(file: PreferenceFile, key: String, tokenizer: any Tokenizer,
                                  chatTemplate: () throws -> ChatTemplate) throws -> [PairTexts] {
        let template: ChatTemplate?
        do {
            template = file.format.isConversational ? try chatTemplate() : nil
        } catch {
            throw RunError.input("`\(key)` \(file.path) is \(file.format), which needs a chat template: \(error)")
        }
        return try file.pairTexts(eosToken: tokenizer.eosToken, chatTemplate: template)
    }
}

extension SequenceBatch {
    /// A DPO micro-batch: the pairs' chosen rows, then their rejected rows, right-padded (TRL's concatenated layout).
    init(pairs: [PreferenceRows], padTokenID: Int32) {
        self.init(padPreferenceBatch(pairs, padTokenID: padTokenID))
    }

    /// An SFT micro-batch: one prompt+completion row per example, right-padded.
    init(completions: [PreferenceRow], padTokenID: Int32) {
        self.init(padRows(completions, padTokenID: padTokenID))
    }

    private init(_ padded: PaddedRows) {
        self.init(count: padded.rows, length: padded.length, tokens: padded.tokens, scoreMask: padded.scoreMask)
    }
}
