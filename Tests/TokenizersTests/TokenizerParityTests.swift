import Foundation
import Testing
import TokenizerFixtures
@testable import Tokenizers

// Parity with the Hugging Face `tokenizers` library on the folders of TokenizerFixtures.

@Suite struct TokenizerParityTests {
    @Test(arguments: TokenizerFixtures.names)
    func idsMatchTheTokenizersLibrary(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        let expected = try TokenizerFixtures.expected(name)
        #expect(tokenizer.vocabSize == expected.vocabSize)
        #expect(expected.cases.count >= 20)
        for testCase in expected.cases {
            #expect(tokenizer.encode(testCase.text) == testCase.ids, "\(name): \(testCase.text.debugDescription)")
            #expect(tokenizer.encode(testCase.text, addSpecialTokens: true) == testCase.idsWithSpecialTokens,
                    "\(name): \(testCase.text.debugDescription)")
        }
    }

    @Test(arguments: TokenizerFixtures.names)
    func decodingMatchesTheTokenizersLibrary(name: String) throws {
        let tokenizer = try TokenizerFixtures.tokenizer(name)
        for testCase in try TokenizerFixtures.expected(name).cases {
            let decoded = tokenizer.decode(testCase.ids)
            // Compare scalars: String equality would accept any canonically equivalent text.
            #expect(decoded.unicodeScalars.elementsEqual(testCase.decoded.unicodeScalars),
                    "\(name): \(decoded.debugDescription) != \(testCase.decoded.debugDescription)")
        }
    }

    /// Byte-level BPE loses nothing (SmolLM's fixture is left out: its lstrip/rstrip added tokens swallow spaces,
    /// and Qwen2's NFC normalizer recomposes text).
    @Test func byteLevelTokenizersRoundTripText() throws {
        for name in ["gpt2", "llama3"] {
            let tokenizer = try TokenizerFixtures.tokenizer(name)
            for text in try TokenizerFixtures.corpus {
                #expect(tokenizer.decode(tokenizer.encode(text)).unicodeScalars.elementsEqual(text.unicodeScalars))
            }
        }
    }

    @Test func specialTokensComeFromTheConfigFiles() throws {
        // GPT-2: names only in special_tokens_map.json as {content: …}; no BOS is added; pad falls back to EOS.
        let gpt2 = try TokenizerFixtures.tokenizer("gpt2")
        #expect(gpt2.specialTokenNames == SpecialTokenNames(bos: "<|endoftext|>", eos: "<|endoftext|>", unk: "<|endoftext|>"))
        #expect(gpt2.eosTokenID == gpt2.tokenID(for: "<|endoftext|>"))
        #expect(gpt2.padTokenID == gpt2.eosTokenID)
        #expect(gpt2.bosTokenID == nil)

        // Llama-2: AddedToken objects in tokenizer_config.json, pad_token null, BOS from the template.
        let llama2 = try TokenizerFixtures.tokenizer("llama2")
        #expect(llama2.bosTokenID == 1)
        #expect(llama2.eosTokenID == 2)
        #expect(llama2.padTokenID == 2)
        let ids = llama2.encode("Hello, world!")
        #expect(llama2.decode([1] + ids + [2], skipSpecialTokens: true) == "Hello, world!")
        #expect(llama2.decode([1] + ids + [2]) == "<s> Hello, world!</s>")

        let qwen2 = try TokenizerFixtures.tokenizer("qwen2")
        #expect(qwen2.bosTokenID == nil)
        #expect(qwen2.eosTokenID == qwen2.tokenID(for: "<|im_end|>"))
        #expect(qwen2.padTokenID == qwen2.tokenID(for: "<|endoftext|>"))
        #expect(qwen2.isSpecialToken(qwen2.eosTokenID))

        let llama3 = try TokenizerFixtures.tokenizer("llama3")
        #expect(llama3.bosTokenID == llama3.tokenID(for: "<|begin_of_text|>"))
        #expect(llama3.eosTokenID == llama3.tokenID(for: "<|eot_id|>"))
        #expect(llama3.tokenID(for: "<|not_a_token|>") == nil)
    }

    @Test func vocabularySizeMustFitTheModel() throws {
        let tokenizer = try TokenizerFixtures.tokenizer("qwen2")
        try tokenizer.checkFits(modelVocabSize: tokenizer.vocabSize, modelFile: "config.json")
        try tokenizer.checkFits(modelVocabSize: tokenizer.vocabSize + 64, modelFile: "config.json")  // padded rows
        let error = #expect(throws: TokenizerError.self) {
            try tokenizer.checkFits(modelVocabSize: 500, modelFile: "model/config.json")
        }
        #expect(error?.file == "model/config.json")
        #expect(error?.description.contains("500") == true)
        #expect(error?.description.contains("\(tokenizer.vocabSize - 1)") == true)
        #expect(error?.description.contains(tokenizer.tokenizerFile) == true)
    }
}

@Suite struct SplitPatternTests {
    /// The hand-written scanners must cut exactly where the regex itself (Swift Regex, scalar semantics) does.
    @Test(arguments: [SplitPattern.gpt2Source, SplitPattern.llama3Source, SplitPattern.qwen2Source])
    func scannersAgreeWithTheRegex(source: String) throws {
        let scanner = try SplitPattern(source: source)
        let regex = try SplitPattern(source: source, useScanners: false)
        if case .regex = scanner { Issue.record("known pattern not recognized") }
        let extra = ["'s'S'ſ're'RE'Ll", " \t \n \r\n  x", "a  1  !", "x\u{0B}\u{85}\u{A0}y", "1234567 12 ½"]
        for text in try TokenizerFixtures.corpus + extra {
            let scalars = Array(text.unicodeScalars)
            #expect(scanner.matches(in: scalars) == regex.matches(in: scalars), "\(text.debugDescription)")
        }
    }
}

@Suite struct NormalizerTests {
    /// The NFC fast path skips Foundation for scalars it assumes NFC-stable; check each one is unchanged by NFC and
    /// has combining class 0 (so it cannot reorder or compose with a preceding scalar).
    @Test func nfcStableScalarsAreUnchangedByNFC() {
        for value in UInt32(0)..<0x1FB00 {
            guard let scalar = Unicode.Scalar(value), Normalizer.isNFCStable(scalar) else { continue }
            let string = String(Character(scalar))
            #expect(string.precomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual([scalar]), "U+\(String(value, radix: 16))")
            #expect(scalar.properties.canonicalCombiningClass == .notReordered)
        }
    }

    @Test func nfcComposesDecomposedText() {
        let decomposed = Array("e\u{301}A\u{30A}".unicodeScalars)
        #expect(Normalizer.unicode(.NFC).apply(decomposed) == ["\u{E9}", "\u{C5}"])
    }
}
