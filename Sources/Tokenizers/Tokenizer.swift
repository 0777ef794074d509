/// Turns text into token ids and back, as a Hugging Face tokenizer does through transformers.
public protocol Tokenizer: Sendable {
    var vocabSize: Int { get }
    /// Ends every standard-format completion (which gets the `eosToken` text appended before it is encoded).
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
