import Testing
@testable import PreferenceData
import Tokenizers

@Suite struct BatchingTests {
    @Test func laysOutChosenRowsThenRejectedRowsRightPadded() {
        let pairs = [
            TokenizedPair(prompt: [1, 2], chosen: [3, 9], rejected: [4, 5, 6, 9]),
            TokenizedPair(prompt: [7], chosen: [8, 9], rejected: [9]),
        ]
        let batch = padPreferenceBatch(pairs.map { $0.rows(maxLength: 100, truncationMode: .keepStart) }, padTokenID: 0)
        #expect(batch.rows == 4)  // 2 pairs × chosen, rejected
        #expect(batch.length == 6)
        #expect(batch.tokens == [
            1, 2, 3, 9, 0, 0,  // prompt 0 + chosen 0
            7, 8, 9, 0, 0, 0,  // prompt 1 + chosen 1
            1, 2, 4, 5, 6, 9,  // prompt 0 + rejected 0
            7, 9, 0, 0, 0, 0,  // prompt 1 + rejected 1
        ])
        #expect(batch.scoreMask == [
            0, 0, 1, 1, 0, 0,
            0, 1, 1, 0, 0, 0,
            0, 0, 1, 1, 1, 1,
            0, 1, 0, 0, 0, 0,
        ])
    }

    @Test func paddingUsesThePadTokenAndIsNeverScored() {
        let pairs = [TokenizedPair(prompt: [5, 5, 5], chosen: [6], rejected: [7, 7, 7])]
        let batch = padPreferenceBatch(pairs.map { $0.rows(maxLength: 100, truncationMode: .keepEnd) }, padTokenID: 256)
        #expect(batch.tokens == [5, 5, 5, 6, 256, 256, 5, 5, 5, 7, 7, 7])
        #expect(batch.scoreMask == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1])
    }

    @Test func tokenizedDemoBatchScoresExactlyTheCompletions() throws {
        let tokenizer = ByteTokenizer()
        let (pairs, dropped) = tokenizePairs(Array(DemoData.train.prefix(8)), tokenizer: tokenizer,
                                             settings: .init(maxLength: 128))
        #expect(dropped == 0)
        let batch = padPreferenceBatch(pairs.map { $0.rows(maxLength: 128, truncationMode: .keepStart) },
                                       padTokenID: tokenizer.padTokenID)
        for (row, completion) in (pairs.map(\.chosen) + pairs.map(\.rejected)).enumerated() {
            let rowMask = batch.scoreMask[(row * batch.length)..<((row + 1) * batch.length)]
            let rowTokens = batch.tokens[(row * batch.length)..<((row + 1) * batch.length)]
            #expect(rowMask.first == 0)
            #expect(zip(rowTokens, rowMask).filter { $0.1 == 1 }.map(\.0) == completion)
            #expect(completion.last == tokenizer.eosTokenID)
        }
    }

    @Test func keepStartCutsEachRowsTail() {
        let pair = TokenizedPair(prompt: [1, 2, 3], chosen: [4, 5, 6, 7], rejected: [8])
        let rows = pair.rows(maxLength: 5, truncationMode: .keepStart)
        #expect(rows.chosen == PreferenceRow(tokens: [1, 2, 3, 4, 5], promptTokens: 3))
        #expect(rows.rejected == PreferenceRow(tokens: [1, 2, 3, 8], promptTokens: 3))
        #expect(rows.chosen.scoredTokens == 2 && rows.rejected.scoredTokens == 1)
        let batch = padPreferenceBatch([pair.rows(maxLength: 5, truncationMode: .keepStart)], padTokenID: 0)
        #expect(batch.tokens == [1, 2, 3, 4, 5, 1, 2, 3, 8, 0])
        #expect(batch.scoreMask == [0, 0, 0, 1, 1, 0, 0, 0, 1, 0])
    }

    @Test func keepEndCutsEachRowsHeadOnItsOwn() {
        let pair = TokenizedPair(prompt: [1, 2, 3], chosen: [4, 5, 6, 7], rejected: [8])
        let rows = pair.rows(maxLength: 4, truncationMode: .keepEnd)
        // The chosen row loses its whole prompt; its first token is then not scored.
        #expect(rows.chosen == PreferenceRow(tokens: [4, 5, 6, 7], promptTokens: 0))
        #expect(rows.rejected == PreferenceRow(tokens: [1, 2, 3, 8], promptTokens: 3))
        #expect(rows.chosen.scoredTokens == 3)
        let batch = padPreferenceBatch([pair.rows(maxLength: 4, truncationMode: .keepEnd)], padTokenID: 0)
        #expect(batch.tokens == [4, 5, 6, 7, 1, 2, 3, 8])
        #expect(batch.scoreMask == [0, 1, 1, 1, 0, 0, 0, 1])
        // Cutting into the prompt keeps its end.
        #expect(pair.rows(maxLength: 6, truncationMode: .keepEnd).chosen == PreferenceRow(tokens: [2, 3, 4, 5, 6, 7], promptTokens: 2))
    }

    @Test(arguments: TruncationMode.allCases)
    func aCompletionCutAwayEntirelyScoresNothing(mode: TruncationMode) {
        // keep_start: the one-token row keeps only the prompt's token; keep_end: the empty prompt puts the only
        // kept completion token at position 0.
        let pair = mode == .keepStart
            ? TokenizedPair(prompt: [1], chosen: [2, 3], rejected: [4])
            : TokenizedPair(prompt: [], chosen: [2, 3], rejected: [4])
        let rows = pair.rows(maxLength: 1, truncationMode: mode)
        #expect(rows.chosen.scoredTokens == 0 && rows.rejected.scoredTokens == 0)
        let batch = padPreferenceBatch([pair.rows(maxLength: 1, truncationMode: mode)], padTokenID: 0)
        #expect(batch.length == 1)
        #expect(batch.scoreMask == [0, 0])
    }

    @Test func completionRowsArePaddedOneRowEach() {
        // An SFT batch: the second row's prompt was cut away, so its first token is not scored.
        let rows = [PreferenceRow(tokens: [1, 2, 3], promptTokens: 2), PreferenceRow(tokens: [4, 5], promptTokens: 0)]
        let batch = padRows(rows, padTokenID: 9)
        #expect(batch.rows == 2 && batch.length == 3)
        #expect(batch.tokens == [1, 2, 3, 4, 5, 9])
        #expect(batch.scoreMask == [0, 0, 1, 0, 1, 0])
    }

    @Test func emptyBatch() {
        let batch = padPreferenceBatch([], padTokenID: 0)
        #expect(batch.rows == 0 && batch.length == 0 && batch.tokens.isEmpty && batch.scoreMask.isEmpty)
    }
}
