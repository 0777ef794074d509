/// Turns text into token ids and back. The DPO pipeline only needs the ids of the special tokens it inserts itself.
public protocol Tokenizer: Sendable {
    var vocabSize: Int { get }
    /// Appended to every completion.
    var eosTokenID: Int32 { get }
    /// Fills the right end of shorter rows in a batch (never scored).
    var padTokenID: Int32 { get }
    /// Prepended to every prompt when present: the BOS the tokenizer itself adds when encoding with special tokens
    /// (Llama's `<s>`), nil when it adds none (GPT-2, Qwen2).
    var bosTokenID: Int32? { get }
    /// Text to ids without adding special tokens around it (`add_special_tokens=False`). Whether text that spells a
    /// special token maps to its id is the tokenizer's rule: Hugging Face tokenizers recognize their added tokens,
    /// `ByteTokenizer` never does.
    func encode(_ text: String) -> [Int32]
    func decode(_ ids: [Int32]) -> String
}

/// A byte-level tokenizer: each UTF-8 byte is its own token (ids 0...255), and id 256 is `<|endoftext|>`,
/// used as both EOS and padding (as GPT-2 does). There is no BOS. Text that happens to spell `<|endoftext|>`
/// is encoded as ordinary bytes, never as the special id.
public struct ByteTokenizer: Tokenizer {
    public static let endOfTextID: Int32 = 256
    public static let endOfTextName = "<|endoftext|>"

    public init() {}

    public var vocabSize: Int { 257 }
    public var eosTokenID: Int32 { Self.endOfTextID }
    public var padTokenID: Int32 { Self.endOfTextID }
    public var bosTokenID: Int32? { nil }

    public func encode(_ text: String) -> [Int32] {
        text.utf8.map { Int32($0) }
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
