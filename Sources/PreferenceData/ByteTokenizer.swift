/// Turns text into token ids and back, as a Hugging Face tokenizer does through transformers.
public protocol Tokenizer: Sendable {
    var vocabSize: Int { get }
    /// Ends every standard-format completion (appended as `eosToken` text, see `tokenizePairs`).
    var eosTokenID: Int32 { get }
    /// The text of the EOS token, e.g. `<|endoftext|>` or `</s>`: TRL appends this *string* to completions, and
    /// encoding recognises it as `eosTokenID`.
    var eosToken: String { get }
    /// Fills the right end of shorter rows in a batch (never scored).
    var padTokenID: Int32 { get }
    /// `tokenizer(text, add_special_tokens=addSpecialTokens)`: with `addSpecialTokens` the post-processor's tokens
    /// are added (Llama's BOS in front; nothing for GPT-2 or Qwen2). Either way, text that spells one of the
    /// tokenizer's special tokens (such as `eosToken`) becomes that token's id, as in transformers.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int32]
    func decode(_ ids: [Int32]) -> String
}

extension Tokenizer {
    /// Text to ids without the post-processor's special tokens (`add_special_tokens=False`).
    public func encode(_ text: String) -> [Int32] {
        encode(text, addSpecialTokens: false)
    }
}

extension HuggingFaceTokenizer {
    /// The configured `eos_token` name (its initializer requires one, so the decoded id is only a formality).
    public var eosToken: String { specialTokenNames.eos ?? decode([eosTokenID]) }
}

/// A byte-level tokenizer: each UTF-8 byte is its own token (ids 0...255), and id 256 is `<|endoftext|>`,
/// used as both EOS and padding (as GPT-2 does). There is no BOS and no post-processor. Like an added special token
/// of a Hugging Face tokenizer, the text `<|endoftext|>` encodes as id 256; everything else is its UTF-8 bytes.
public struct ByteTokenizer: Tokenizer {
    public static let endOfTextID: Int32 = 256
    public static let endOfTextName = "<|endoftext|>"

    public init() {}

    public var vocabSize: Int { 257 }
    public var eosTokenID: Int32 { Self.endOfTextID }
    public var eosToken: String { Self.endOfTextName }
    public var padTokenID: Int32 { Self.endOfTextID }

    /// `addSpecialTokens` changes nothing: there is no post-processor.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        let bytes = Array(text.utf8)
        let endOfText = Array(Self.endOfTextName.utf8)
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count)
        var remaining = bytes[...]
        while let match = remaining.firstRange(of: endOfText) {
            ids += remaining[..<match.lowerBound].map { Int32($0) }
            ids.append(Self.endOfTextID)
            remaining = remaining[match.upperBound...]
        }
        ids += remaining.map { Int32($0) }
        return ids
    }

    /// Bytes are decoded as UTF-8, invalid sequences becoming U+FFFD; `<|endoftext|>` is rendered by name and ids outside
    /// the vocabulary as U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var text = ""
        var pendingBytes: [UInt8] = []
        func flushBytes() {
            text += String(decoding: pendingBytes, as: UTF8.self)
            pendingBytes.removeAll(keepingCapacity: true)
        }
        for id in ids {
            switch id {
            case 0...255:
                pendingBytes.append(UInt8(id))
            case Self.endOfTextID:
                flushBytes()
                text += Self.endOfTextName
            default:
                flushBytes()
                text += "\u{FFFD}"
            }
        }
        flushBytes()
        return text
    }
}
