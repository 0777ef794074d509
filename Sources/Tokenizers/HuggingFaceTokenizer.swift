import Foundation
import JSON

/// The special tokens named by a model folder's tokenizer_config.json / special_tokens_map.json.
public struct SpecialTokenNames: Equatable, Sendable {
    public var bos: String?
    public var eos: String?
    public var pad: String?
    public var unk: String?

    public init(bos: String? = nil, eos: String? = nil, pad: String? = nil, unk: String? = nil) {
        self.bos = bos
        self.eos = eos
        self.pad = pad
        self.unk = unk
    }
}

/// A byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM) or SentencePiece-style BPE (Llama-2, TinyLlama) tokenizer read
/// from a Hugging Face model folder, producing the same ids as the `tokenizers` library.
///
/// - `encode(_:)` is `tokenizer.encode(text, add_special_tokens=False)`: the post-processor adds nothing, but added
///   tokens spelled in the text (`<|im_start|>`, `</s>`, …) are recognized as their ids, as in transformers, so
///   chat-template output tokenizes correctly. `encode(_:addSpecialTokens: true)` also adds the post-processor's
///   tokens (Llama's BOS).
/// - `bosTokenID` is the BOS the post-processor puts in front of a sequence, nil when it adds none (GPT-2 and Qwen2,
///   even though GPT-2's config calls `<|endoftext|>` its bos_token).
/// - EOS comes from the config files (required). PAD too; a folder without a pad token pads with EOS, as TRL
///   sets `pad_token = eos_token` (padding is never scored, so the choice does not change training).
/// - `decode(_:)` is `tokenizer.decode(ids, skip_special_tokens=False)` of the `tokenizers` library (no
///   transformers `clean_up_tokenization_spaces`).
public struct HuggingFaceTokenizer: Tokenizer {
    /// One more than the largest id (model vocabulary and added tokens), i.e. transformers' `len(tokenizer)`.
    public var vocabSize: Int { pipeline.vocabSize }
    public let eosTokenID: Int32
    public let padTokenID: Int32
    public let bosTokenID: Int32?
    /// The names from the config files (the pad name is nil when padding falls back to EOS).
    public let specialTokenNames: SpecialTokenNames
    /// The tokenizer.json this was read from.
    public var tokenizerFile: String { pipeline.file }
    let pipeline: TokenizerPipeline

    /// Reads `folder`/tokenizer.json plus the special tokens of `folder`/tokenizer_config.json and
    /// `folder`/special_tokens_map.json (either may be missing; where both name a token, special_tokens_map.json wins,
    /// as in transformers). Throws `TokenizerError` naming the file and key for anything unreadable, malformed or
    /// unsupported.
    public init(folder: String) throws {
        let folderURL = URL(fileURLWithPath: folder)
        let pipeline = try TokenizerPipeline(path: folderURL.appendingPathComponent("tokenizer.json").path)
        var names = SpecialTokenNames()
        var nameSources: [String: String] = [:]  // key → file it came from, for errors
        for fileName in ["tokenizer_config.json", "special_tokens_map.json"] {
            let path = folderURL.appendingPathComponent(fileName).path
            guard FileManager.default.fileExists(atPath: path) else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TokenizerError(file: path, problem: "cannot read the file")
            }
            do {
                let config = try JSONField.parse(data, file: path)
                for (key, keyPath) in [("bos_token", \SpecialTokenNames.bos), ("eos_token", \.eos), ("pad_token", \.pad),
                                       ("unk_token", \.unk)] {
                    guard let field = try config.optional(key) else { continue }
                    names[keyPath: keyPath] = try Self.tokenName(field)
                    nameSources[key] = path
                }
            } catch let error as JSONError {
                throw TokenizerError(error)
            }
        }
        try self.init(pipeline: pipeline, names: names, nameSources: nameSources)
    }

    init(pipeline: TokenizerPipeline, names: SpecialTokenNames, nameSources: [String: String]) throws {
        func id(of name: String, key: String) throws -> Int32 {
            guard let id = pipeline.tokenID(for: name) else {
                throw TokenizerError(file: nameSources[key] ?? pipeline.file, key: key,
                                     problem: "\"\(name)\" is not a token of \(pipeline.file)")
            }
            return id
        }
        guard let eos = names.eos else {
            throw TokenizerError(file: pipeline.file, problem: "no eos_token: neither tokenizer_config.json nor "
                                 + "special_tokens_map.json next to it names one, and DPO needs EOS to end completions")
        }
        eosTokenID = try id(of: eos, key: "eos_token")
        padTokenID = try names.pad.map { try id(of: $0, key: "pad_token") } ?? eosTokenID
        if let bos = names.bos { _ = try id(of: bos, key: "bos_token") }
        if let unk = names.unk { _ = try id(of: unk, key: "unk_token") }
        switch pipeline.postProcessor.prefix.count {
        case 0: bosTokenID = nil
        case 1: bosTokenID = pipeline.postProcessor.prefix[0]
        default:
            throw TokenizerError(file: pipeline.file, key: "post_processor", problem:
                "the template puts \(pipeline.postProcessor.prefix.count) tokens before the text; only a single BOS is supported")
        }
        specialTokenNames = names
        self.pipeline = pipeline
    }

    /// A config value naming a token: a string, or an object with `content` (transformers' serialized AddedToken).
    private static func tokenName(_ field: JSONField) throws -> String {
        if case .string(let name) = field.value { return name }
        guard case .object = field.value else { throw field.error("expected a token string or {\"content\": …}") }
        return try field.string("content")
    }

    /// The configured `eos_token` name (its initializer requires one, so the decoded id is only a formality).
    public var eosToken: String { specialTokenNames.eos ?? decode([eosTokenID]) }

    /// Text to ids without the post-processor's special tokens (see the type's documentation).
    public func encode(_ text: String) -> [Int32] {
        pipeline.encode(text, addSpecialTokens: false)
    }

    /// `tokenizer.encode(text, add_special_tokens=addSpecialTokens).ids` of the `tokenizers` library.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        pipeline.encode(text, addSpecialTokens: addSpecialTokens)
    }

    /// Special tokens are rendered as their text; ids that are no token are skipped.
    public func decode(_ ids: [Int32]) -> String {
        pipeline.decode(ids, skipSpecialTokens: false)
    }

    public func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        pipeline.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// The id of the added token or vocabulary entry spelled exactly `token`, e.g. `"<|im_end|>"`.
    public func tokenID(for token: String) -> Int32? {
        pipeline.tokenID(for: token)
    }

    /// Whether `id` is one of the added tokens marked special.
    public func isSpecialToken(_ id: Int32) -> Bool {
        pipeline.isSpecial(id)
    }

    /// Checks that every id this tokenizer can produce has a row in a model's embedding of `modelVocabSize` rows
    /// (read from `modelFile`, e.g. config.json). A larger model vocabulary is fine: models pad it (Qwen2: 151936
    /// rows for 151665 tokens).
    public func checkFits(modelVocabSize: Int, modelFile: String) throws {
        guard vocabSize <= modelVocabSize else {
            throw TokenizerError(file: modelFile, key: "vocab_size", problem:
                "the model has \(modelVocabSize) token rows but the tokenizer \(tokenizerFile) has ids up to "
                + "\(vocabSize - 1) (\(vocabSize) tokens); the tokenizer does not belong to this model")
        }
    }
}
