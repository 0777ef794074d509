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
