import Foundation
import JSON

/// The special tokens a tokenizer.json `post_processor` puts around a single sequence when special tokens are
/// requested: `TemplateProcessing` (Llama: `<s> $A`), `ByteLevel` (adds nothing; its offset trimming does not
/// change ids), or a `Sequence` of those.
struct PostProcessor {
    var prefix: [Int32] = []
    var suffix: [Int32] = []

    init() {}

    init(_ field: JSONField) throws {
        let type = try field.componentType()
        switch type {
        case "ByteLevel":
            break
        case "TemplateProcessing":
            var specialIDs: [String: [Int32]] = [:]
            if let specialTokens = try field.optional("special_tokens") {
                for (name, entry) in try specialTokens.members() {
                    specialIDs[name] = try entry.required("ids").array().map { try $0.tokenID() }
                }
            }
            var sawSequence = false
            for item in try field.required("single").array() {
                if let special = try item.optional("SpecialToken") {
                    let name = try special.string("id")
                    guard let ids = specialIDs[name] else {
                        throw special.error("special token \"\(name)\" is not listed in the processor's special_tokens")
                    }
                    if sawSequence { suffix += ids } else { prefix += ids }
                } else if let sequence = try item.optional("Sequence") {
                    guard try sequence.string("id") == "A", !sawSequence else {
                        throw sequence.error("the single-sequence template must contain $A exactly once")
                    }
                    sawSequence = true
                } else {
                    throw item.error("expected a SpecialToken or Sequence item")
                }
            }
            guard sawSequence else { throw field.error("the single-sequence template has no $A") }
        case "Sequence":
            // Each processor wraps the output of the ones before it.
            for processor in try field.required("processors").array().map(PostProcessor.init) {
                prefix = processor.prefix + prefix
                suffix += processor.suffix
            }
        default:
            throw field.unsupported("post-processor", type: type)
        }
    }
}

/// Everything tokenizer.json describes, ready to encode and decode. The stages and their order are those of the
/// `tokenizers` library: added tokens are split out of the raw text, the rest is normalized (and normalized added
/// tokens split out), pre-tokenized into words, each word run through the BPE model, and the post-processor adds
/// the special tokens around the result. Immutable after loading (the model's word cache has its own lock), hence
/// safe to share across threads.
final class TokenizerPipeline: @unchecked Sendable {
    let file: String
    let model: BPEModel
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let postProcessor: PostProcessor
    let decoder: TokenDecoder?
    let addedVocabulary: AddedVocabulary
    /// Added-token id → its text; these win over the model's own tokens when both have the id.
    private let addedTokenText: [Int32: [Unicode.Scalar]]
    private let specialTokenIDs: Set<Int32>
    private let addedTokenIDs: [[UInt8]: Int32]
    /// One more than the largest id the tokenizer can produce.
    let vocabSize: Int

    /// Parses the tokenizer.json at `path`.
    convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(file: path, problem: "cannot read the file")
        }
        do {
            try self.init(try JSONField.parse(data, file: path))
        } catch let error as JSONError {
            throw TokenizerError(error)
        }
    }

    init(_ root: JSONField) throws {
        file = root.file
        model = try BPEModel(try root.required("model"))
        normalizer = try root.optional("normalizer").map(Normalizer.init)
        preTokenizer = try root.optional("pre_tokenizer").map(PreTokenizer.init)
        postProcessor = try root.optional("post_processor").map(PostProcessor.init) ?? PostProcessor()
        decoder = try root.optional("decoder").map(TokenDecoder.init)
        let addedTokens = try root.optional("added_tokens")?.array().map(AddedToken.init) ?? []
        addedVocabulary = AddedVocabulary(addedTokens, normalizer: normalizer)
        addedTokenText = Dictionary(addedTokens.map { ($0.id, $0.content) }, uniquingKeysWith: { $1 })
        specialTokenIDs = Set(addedTokens.filter(\.special).map(\.id))
        addedTokenIDs = Dictionary(addedTokens.map { (Array($0.text.utf8), $0.id) }, uniquingKeysWith: { $1 })
        let largestID = max(model.tokenText.count - 1, Int(addedTokens.map(\.id).max() ?? -1))
        vocabSize = largestID + 1
        for id in postProcessor.prefix + postProcessor.suffix where Int(id) >= vocabSize {
            throw TokenizerError(file: file, key: "post_processor",
                                 problem: "special token id \(id) is outside the vocabulary (size \(vocabSize))")
        }
    }

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        var ids: [Int32] = []
        if addSpecialTokens { ids += postProcessor.prefix }
        for segment in addedVocabulary.extractAndNormalize(Array(text.unicodeScalars), normalizer: normalizer) {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let piece):
                let words = preTokenizer?.apply([piece]) ?? [piece]
                for word in words { model.tokenize(word.scalars, into: &ids) }
            }
        }
        if addSpecialTokens { ids += postProcessor.suffix }
        return ids
    }

    /// Text of ids as `tokenizers`' `decode` gives it; ids with no token are skipped.
    func decode(_ ids: [Int32], skipSpecialTokens: Bool) -> String {
        var tokens: [[Unicode.Scalar]] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            if let text = addedTokenText[id] {
                tokens.append(text)
            } else if id >= 0, Int(id) < model.tokenText.count, let text = model.tokenText[Int(id)] {
                tokens.append(Array(text.unicodeScalars))
            }
        }
        var result = ""
        if let decoder {
            for token in decoder.decodeChain(tokens) { result.unicodeScalars.append(contentsOf: token) }
        } else {  // tokenizers joins undecoded tokens with spaces
            for (index, token) in tokens.enumerated() {
                if index > 0 { result.unicodeScalars.append(" ") }
                result.unicodeScalars.append(contentsOf: token)
            }
        }
        return result
    }

    /// The id of an added token or vocabulary entry spelled exactly `token`.
    func tokenID(for token: String) -> Int32? {
        addedTokenIDs[Array(token.utf8)] ?? model.vocabulary[Array(token.utf8)]
    }

    func isSpecial(_ id: Int32) -> Bool { specialTokenIDs.contains(id) }
}
