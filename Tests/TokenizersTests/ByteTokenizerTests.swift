import Testing
@testable import Tokenizers

@Suite struct ByteTokenizerTests {
    let tokenizer = ByteTokenizer()

    @Test func specialTokens() {
        #expect(tokenizer.vocabSize == 257)
        #expect(tokenizer.eosTokenID == 256)
        #expect(tokenizer.padTokenID == 256)
        #expect(tokenizer.eosToken == "<|endoftext|>")
    }

    @Test func encodesUTF8Bytes() {
        #expect(tokenizer.encode("Hi!") == [72, 105, 33])
        #expect(tokenizer.encode("é") == [0xC3, 0xA9])
        #expect(tokenizer.encode("") == [])
        // The EOS text is recognised as its id, as a Hugging Face tokenizer recognises its added tokens.
        #expect(tokenizer.encode("a<|endoftext|><|endoftext|>b<|endoftext") == [97, 256, 256, 98] + tokenizer.encode("<|endoftext"))
        #expect(tokenizer.encode("<|endoftext|>", addSpecialTokens: true) == [256])
    }

    @Test(arguments: ["", "plain ASCII", "naïve café", "日本語のテキスト", "emoji 👩‍👩‍👧 🇨🇭 ok", "tab\tnewline\n\0nul"])
    func roundTrips(text: String) {
        let ids = tokenizer.encode(text)
        #expect(ids.count == text.utf8.count)
        #expect(ids.allSatisfy { (0...255).contains($0) })
        #expect(tokenizer.decode(ids) == text)
    }

    @Test func decodesSpecialAndInvalidIds() {
        #expect(tokenizer.decode(tokenizer.encode("ab") + [256] + tokenizer.encode("c")) == "ab<|endoftext|>c")
        #expect(tokenizer.decode([0xE6, 0x97]) == "\u{FFFD}")  // truncated multi-byte sequence
        #expect(tokenizer.decode([0xE6, 0x97, 256, 0xE6, 0x97, 0xA5]) == "\u{FFFD}<|endoftext|>日")
        #expect(tokenizer.decode([65, 257, -1, 66]) == "A\u{FFFD}\u{FFFD}B")
    }
}
