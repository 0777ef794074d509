import Testing
@testable import PreferenceData

/// Bytes as ids like ByteTokenizer, but with a BOS token and distinct EOS/PAD ids, to see where each goes.
private struct TokenizerWithBOS: Tokenizer {
    var vocabSize: Int { 259 }
    var eosTokenID: Int32 { 256 }
    var padTokenID: Int32 { 257 }
    var bosTokenID: Int32? { 258 }
    func encode(_ text: String) -> [Int32] { ByteTokenizer().encode(text) }
    func decode(_ ids: [Int32]) -> String { ByteTokenizer().decode(ids) }
}

private let eos = ByteTokenizer.endOfTextID

/// ids 1...n, so that which end survived truncation is visible.
private func ids(_ range: ClosedRange<Int32>) -> [Int32] { Array(range) }

@Suite struct TokenizationTests {
    @Test func appendsEOSToCompletionsAndKeepsShortPairsWhole() {
        let example = PreferenceExample(prompt: "Q?", chosen: "yes", rejected: "no")
        let (pairs, dropped) = tokenizePairs([example], tokenizer: ByteTokenizer(), settings: .init(maxLength: 64))
        #expect(dropped == 0)
        #expect(pairs == [TokenizedPair(prompt: [81, 63], chosen: [121, 101, 115, eos], rejected: [110, 111, eos])])
    }

    @Test func prependsBOSWhenTheTokenizerHasOne() {
        let example = PreferenceExample(prompt: "Q", chosen: "y", rejected: "")
        let (pairs, _) = tokenizePairs([example], tokenizer: TokenizerWithBOS(), settings: .init(maxLength: 64))
        #expect(pairs == [TokenizedPair(prompt: [258, 81], chosen: [121, 256], rejected: [256])])
    }

    @Test func keepStartKeepsThePromptAndCutsCompletionTails() {
        let pair = TokenizedPair(prompt: ids(1...4), chosen: ids(11...15), rejected: ids(21...22))
        let settings = TokenizationSettings(maxLength: 7, truncationMode: .keepStart)
        #expect(truncated(pair, settings: settings)
            == TokenizedPair(prompt: ids(1...4), chosen: ids(11...13), rejected: ids(21...22)))
        // Exactly filling maxLength cuts nothing.
        #expect(truncated(pair, settings: .init(maxLength: 9, truncationMode: .keepStart)) == pair)
    }

    @Test func keepStartDropsPairsWhosePromptFillsMaxLength() {
        let pair = TokenizedPair(prompt: ids(1...4), chosen: ids(11...15), rejected: ids(21...22))
        #expect(truncated(pair, settings: .init(maxLength: 4, truncationMode: .keepStart)) == nil)
        #expect(truncated(pair, settings: .init(maxLength: 3, truncationMode: .keepStart)) == nil)
        // One free position: each completion keeps exactly its first token.
        #expect(truncated(pair, settings: .init(maxLength: 5, truncationMode: .keepStart))
            == TokenizedPair(prompt: ids(1...4), chosen: [11], rejected: [21]))
    }

    @Test func keepEndKeepsCompletionsAndCutsThePromptFromTheLeft() {
        let pair = TokenizedPair(prompt: ids(1...6), chosen: ids(11...13), rejected: ids(21...22))
        // The longer completion (3 tokens) leaves 4 prompt tokens: the last four.
        #expect(truncated(pair, settings: .init(maxLength: 7, truncationMode: .keepEnd))
            == TokenizedPair(prompt: ids(3...6), chosen: ids(11...13), rejected: ids(21...22)))
        // A prompt that alone fills maxLength is cut, not dropped, in this mode.
        #expect(truncated(pair, settings: .init(maxLength: 6, truncationMode: .keepEnd))
            == TokenizedPair(prompt: ids(4...6), chosen: ids(11...13), rejected: ids(21...22)))
        #expect(truncated(pair, settings: .init(maxLength: 9, truncationMode: .keepEnd)) == pair)
    }

    @Test func keepEndDropsPairsWhoseCompletionFillsMaxLength() {
        let pair = TokenizedPair(prompt: ids(1...6), chosen: ids(11...13), rejected: ids(21...22))
        #expect(truncated(pair, settings: .init(maxLength: 3, truncationMode: .keepEnd)) == nil)
        #expect(truncated(pair, settings: .init(maxLength: 4, truncationMode: .keepEnd))
            == TokenizedPair(prompt: [6], chosen: ids(11...13), rejected: ids(21...22)))
    }

    @Test(arguments: TruncationMode.allCases)
    func maxPromptLengthKeepsTheEndOfThePrompt(mode: TruncationMode) {
        let pair = TokenizedPair(prompt: ids(1...6), chosen: ids(11...12), rejected: [21])
        #expect(truncated(pair, settings: .init(maxLength: 100, maxPromptLength: 2, truncationMode: mode))
            == TokenizedPair(prompt: [5, 6], chosen: ids(11...12), rejected: [21]))
        #expect(truncated(pair, settings: .init(maxLength: 100, maxPromptLength: 0, truncationMode: mode)) == nil)
    }

    @Test(arguments: TruncationMode.allCases)
    func emptyPromptIsDroppedWithoutBOSAndKeptWithIt(mode: TruncationMode) {
        let example = PreferenceExample(prompt: "", chosen: "a", rejected: "b")
        let settings = TokenizationSettings(maxLength: 16, truncationMode: mode)
        #expect(tokenizePairs([example], tokenizer: ByteTokenizer(), settings: settings).dropped == 1)
        #expect(tokenizePairs([example], tokenizer: TokenizerWithBOS(), settings: settings).pairs
            == [TokenizedPair(prompt: [258], chosen: [97, 256], rejected: [98, 256])])
    }

    @Test func countsDroppedExamplesAndKeepsTheOrderOfTheRest() {
        let examples = [
            PreferenceExample(prompt: "short", chosen: "a", rejected: "b"),
            PreferenceExample(prompt: "a prompt far too long", chosen: "a", rejected: "b"),
            PreferenceExample(prompt: "tiny", chosen: "cc", rejected: "d"),
            PreferenceExample(prompt: "", chosen: "a", rejected: "b"),
        ]
        let (pairs, dropped) = tokenizePairs(examples, tokenizer: ByteTokenizer(), settings: .init(maxLength: 10))
        #expect(dropped == 2)
        #expect(pairs.map { ByteTokenizer().decode($0.prompt) } == ["short", "tiny"])
    }

    @Test(arguments: TruncationMode.allCases)
    func everyKeptPairFitsAndIsScorable(mode: TruncationMode) {
        let words = ["", "a", "Is the Sun a star?", "Yes.", "No, it is a planet orbiting nothing at all.", "日本 👍"]
        let examples = words.flatMap { prompt in
            words.flatMap { chosen in words.map { PreferenceExample(prompt: prompt, chosen: chosen, rejected: $0) } }
        }
        for maxLength in [0, 1, 2, 3, 5, 8, 13, 40, 200] {
            for maxPromptLength in [nil, 1, 4, 30] {
                let settings = TokenizationSettings(maxLength: maxLength, maxPromptLength: maxPromptLength,
                                                    truncationMode: mode)
                let (pairs, dropped) = tokenizePairs(examples, tokenizer: ByteTokenizer(), settings: settings)
                #expect(pairs.count + dropped == examples.count)
                for pair in pairs {
                    #expect(!pair.prompt.isEmpty && !pair.chosen.isEmpty && !pair.rejected.isEmpty)
                    #expect(pair.prompt.count + max(pair.chosen.count, pair.rejected.count) <= maxLength)
                    #expect(pair.prompt.count <= maxPromptLength ?? .max)
                }
            }
        }
    }
}
