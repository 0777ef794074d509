import Foundation
import Testing
@testable import PreferenceData
import TestSupport
import TokenizerFixtures
import Tokenizers
import ChatTemplate

/// Bytes as ids like ByteTokenizer, with a post-processor that puts BOS (258) in front when adding special tokens,
/// and one "merge": a space followed by "T" becomes the single id 300, so the prompt/completion boundary can move.
private struct MergingTokenizerWithBOS: Tokenizer {
    var vocabSize: Int { 301 }
    var eosTokenID: Int32 { 256 }
    var eosToken: String { "</s>" }
    var padTokenID: Int32 { 257 }

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        var ids: [Int32] = addSpecialTokens ? [258] : []
        var rest = Substring(text)
        while let first = rest.first {
            if rest.hasPrefix(eosToken) {
                ids.append(eosTokenID)
                rest = rest.dropFirst(eosToken.count)
            } else if rest.hasPrefix(" T") {
                ids.append(300)
                rest = rest.dropFirst(2)
            } else {
                ids += first.utf8.map { Int32($0) }
                rest = rest.dropFirst()
            }
        }
        return ids
    }

    func decode(_ ids: [Int32]) -> String { ByteTokenizer().decode(ids) }
}

private let eos = ByteTokenizer.endOfTextID
private let bytes = { (text: String) in text.utf8.map { Int32($0) } }

@Suite struct TokenizationTests {
    @Test func appendsTheEOSTextAndSplitsAtThePrompt() {
        let example = PreferenceExample(prompt: "Q?", chosen: "yes", rejected: "no")
        let (pairs, dropped) = tokenizePairs([example], tokenizer: ByteTokenizer(), settings: .init(maxLength: 64))
        #expect(dropped == 0)
        #expect(pairs == [TokenizedPair(prompt: [81, 63], chosen: [121, 101, 115, eos], rejected: [110, 111, eos])])
    }

    @Test func eosTextAlreadyPresentIsNotAddedAgain() {
        let example = PreferenceExample(prompt: "Q", chosen: "y<|endoftext|>", rejected: "n<|endoftext|>!")
        #expect(example.pairTexts(eosToken: "<|endoftext|>")
            == PairTexts(prompt: "Q", promptAndChosen: "Qy<|endoftext|>", promptAndRejected: "Qn<|endoftext|>!<|endoftext|>",
                         addSpecialTokens: true))
        let pair = TokenizedPair(example.pairTexts(eosToken: "<|endoftext|>"), tokenizer: ByteTokenizer())
        #expect(pair == TokenizedPair(prompt: [81], chosen: [121, eos], rejected: [110, eos, 33, eos]))
    }

    @Test func bosComesFromTheTokenizerOnlyInFrontOfThePrompt() {
        let example = PreferenceExample(prompt: "Q", chosen: "y", rejected: "")
        let (pairs, _) = tokenizePairs([example], tokenizer: MergingTokenizerWithBOS(), settings: .init(maxLength: 64))
        #expect(pairs == [TokenizedPair(prompt: [258, 81], chosen: [121, 256], rejected: [256])])
    }

    @Test func aTokenMergedAcrossTheBoundaryLeavesThePrompt() {
        // "A: " + "The" encodes as "A:" + " T" + "he": the prompt's trailing space is left out of it.
        let example = PreferenceExample(prompt: "A: ", chosen: "The", rejected: "No")
        let pair = TokenizedPair(example.pairTexts(eosToken: "</s>"), tokenizer: MergingTokenizerWithBOS())
        #expect(pair.prompt == [258] + bytes("A:"))
        #expect(pair.chosen == [300] + bytes("he") + [256])
        // The rejected row did not merge, but the prompt is what both rows share, so it starts with the space.
        #expect(pair.rejected == bytes(" No") + [256])
    }

    @Test func aCompletionSplitsAtThePromptAsAPairDoesAndIsCutToOneRow() {
        // The same merge across the boundary as above: the completion starts with the merged token.
        let completion = TokenizedCompletion(prompt: "A: ", promptAndCompletion: "A: The</s>", addSpecialTokens: true,
                                             tokenizer: MergingTokenizerWithBOS())
        #expect(completion == TokenizedCompletion(prompt: [258] + bytes("A:"), completion: [300] + bytes("he") + [256]))
        let asPair = TokenizedPair(PairTexts(prompt: "A: ", promptAndChosen: "A: The</s>", promptAndRejected: "A: The</s>",
                                             addSpecialTokens: true), tokenizer: MergingTokenizerWithBOS())
        #expect(completion.prompt == asPair.prompt && completion.completion == asPair.chosen)
        #expect(completion.row(maxLength: 4, truncationMode: .keepStart)
            == PreferenceRow(tokens: [258] + bytes("A:") + [300], promptTokens: 3))
        #expect(TokenizationSettings(maxLength: 3).keeps(completion) == false)
        #expect(TokenizationSettings(maxLength: 4).keeps(completion))
        #expect(TokenizationSettings(maxLength: 3, truncationMode: .keepEnd).keeps(completion))
    }

    @Test func conversationalTextsComeFromTheTemplateWithoutEOSOrSpecialTokens() throws {
        let template = try ChatTemplate.builtIn(named: "chatml")
        let example = ConversationalExample(prompt: [ChatMessage(role: "user", content: "Hi")],
                                            chosen: [ChatMessage(role: "assistant", content: "Hello")],
                                            rejected: [ChatMessage(role: "assistant", content: "Go")])
        let texts = try example.pairTexts(chatTemplate: template)
        #expect(texts == PairTexts(
            prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            promptAndChosen: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n",
            promptAndRejected: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nGo<|im_end|>\n",
            addSpecialTokens: false))
        let pair = TokenizedPair(texts, tokenizer: MergingTokenizerWithBOS())
        #expect(pair.prompt.first != 258)
        #expect(pair.chosen == bytes("Hello<|im_end|>\n"))
    }

    @Test func keepStartDropsExactlyThePairsWhosePromptFillsMaxLength() {
        let examples = [
            PreferenceExample(prompt: "short", chosen: "a", rejected: "b"),
            PreferenceExample(prompt: "exactly10!", chosen: "a", rejected: "b"),
            PreferenceExample(prompt: "nine char", chosen: "a very long completion", rejected: "b"),
            PreferenceExample(prompt: "", chosen: "a", rejected: "b"),
        ]
        let (pairs, dropped) = tokenizePairs(examples, tokenizer: ByteTokenizer(), settings: .init(maxLength: 10))
        #expect(dropped == 1)
        #expect(pairs.map { ByteTokenizer().decode($0.prompt) } == ["short", "nine char", ""])
        // Kept pairs are stored whole; the collator cuts them.
        #expect(pairs[1].chosen.count == "a very long completion".utf8.count + 1)

        let keepEnd = tokenizePairs(examples, tokenizer: ByteTokenizer(), settings: .init(maxLength: 10, truncationMode: .keepEnd))
        #expect(keepEnd.dropped == 0 && keepEnd.pairs.count == 4)
    }

    @Test func pairTextsOfAFileNameTheRecordWhereTheTemplateFails() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("chat.jsonl", """
            {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}
            {"prompt": [{"role": "tool", "content": "x"}], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}
            """)
        let file = try PreferenceDataset.load(path: path)
        let strict = try ChatTemplate(source: "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}"
                                      + "{% endif %}{{ m.content }}{% endfor %}", origin: "strict.jinja")
        let error = try #require(throws: DataError.self) { try file.pairTexts(eosToken: "</s>", chatTemplate: strict) }
        #expect(error.location == .line(2))
        #expect(error.description.hasPrefix("\(path), line 2: chat template strict.jinja failed on this record: "))
        #expect(error.description.contains("no tools"))

        let missing = try #require(throws: DataError.self) { try file.pairTexts(eosToken: "</s>", chatTemplate: nil) }
        #expect(missing.description.contains("need a chat template"))
    }

    @Test(arguments: TruncationMode.allCases)
    func everyRowFitsAndPositionZeroIsNeverScored(mode: TruncationMode) {
        let words = ["", "a", "Is the Sun a star?", "Yes.", "No, it is a planet orbiting nothing at all.", "日本 👍"]
        let examples = words.flatMap { prompt in
            words.flatMap { chosen in words.map { PreferenceExample(prompt: prompt, chosen: chosen, rejected: $0) } }
        }
        for maxLength in [1, 2, 3, 5, 8, 13, 40, 200] {
            let settings = TokenizationSettings(maxLength: maxLength, truncationMode: mode)
            let (pairs, dropped) = tokenizePairs(examples, tokenizer: ByteTokenizer(), settings: settings)
            #expect(pairs.count + dropped == examples.count)
            #expect(mode == .keepStart || dropped == 0)
            let batch = padPreferenceBatch(pairs.map { $0.rows(maxLength: maxLength, truncationMode: mode) }, padTokenID: 256)
            #expect(batch.length <= maxLength)
            for row in 0..<batch.rows { #expect(batch.scoreMask[row * batch.length] == 0) }
            if mode == .keepStart {
                // The filter guarantees every kept keep_start row scores at least one token, except a row whose
                // empty prompt leaves its first completion token at position 0.
                for pair in pairs where !pair.prompt.isEmpty {
                    let rows = pair.rows(maxLength: maxLength, truncationMode: mode)
                    #expect(rows.chosen.scoredTokens >= 1 && rows.rejected.scoredTokens >= 1)
                }
            }
        }
    }

    @Test func tokenizePairsEncodesThePromptWithSpecialTokensAndEndsCompletionsWithEOS() throws {
        for name in ["llama2", "qwen2"] {
            let tokenizer = try TokenizerFixtures.tokenizer(name)
            let example = PreferenceExample(prompt: "Is the dog lazy?", chosen: " Yes, it sleeps.", rejected: " No.")
            let (pairs, dropped) = tokenizePairs([example], tokenizer: tokenizer, settings: TokenizationSettings(maxLength: 512))
            #expect(dropped == 0)
            #expect(pairs.first?.prompt == tokenizer.encode(example.prompt, addSpecialTokens: true))
            #expect(pairs.first?.chosen.last == tokenizer.eosTokenID)
        }
    }
}
