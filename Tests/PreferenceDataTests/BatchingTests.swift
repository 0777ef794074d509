import Testing
@testable import PreferenceData

@Suite struct BatchingTests {
    @Test func laysOutChosenRowsThenRejectedRowsRightPadded() {
        let pairs = [
            TokenizedPair(prompt: [1, 2], chosen: [3, 9], rejected: [4, 5, 6, 9]),
            TokenizedPair(prompt: [7], chosen: [8, 9], rejected: [9]),
        ]
        let batch = padPreferenceBatch(pairs, padTokenID: 0)
        #expect(batch.pairs == 2)
        #expect(batch.rows == 4)
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
        let batch = padPreferenceBatch(pairs, padTokenID: 256)
        #expect(batch.tokens == [5, 5, 5, 6, 256, 256, 5, 5, 5, 7, 7, 7])
        #expect(batch.scoreMask == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1])
    }

    @Test func tokenizedDemoBatchScoresExactlyTheCompletions() throws {
        let tokenizer = ByteTokenizer()
        let (pairs, dropped) = tokenizePairs(Array(DemoData.train.prefix(8)), tokenizer: tokenizer,
                                             settings: .init(maxLength: 128))
        #expect(dropped == 0)
        let batch = padPreferenceBatch(pairs, padTokenID: tokenizer.padTokenID)
        for (row, completion) in (pairs.map(\.chosen) + pairs.map(\.rejected)).enumerated() {
            let rowMask = batch.scoreMask[(row * batch.length)..<((row + 1) * batch.length)]
            let rowTokens = batch.tokens[(row * batch.length)..<((row + 1) * batch.length)]
            #expect(rowMask.first == 0)
            #expect(zip(rowTokens, rowMask).filter { $0.1 == 1 }.map(\.0) == completion)
            #expect(completion.last == tokenizer.eosTokenID)
        }
    }

    @Test func emptyBatch() {
        let batch = padPreferenceBatch([], padTokenID: 0)
        #expect(batch.pairs == 0 && batch.length == 0 && batch.tokens.isEmpty && batch.scoreMask.isEmpty)
    }
}
