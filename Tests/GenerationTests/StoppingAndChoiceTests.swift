import Foundation
import Generation
import Model
import Testing

@Suite("Stopping and token choice")
struct StoppingAndChoiceTests {
    /// Token i decodes to pieces[i].
    static let pieces = ["st", "op", "stop", "opera", "sto", "pper", "las", "topper", "s", "to", "pped", "at", "x"]
    static func decode(_ ids: [Int32]) -> String { ids.map { pieces[Int($0)] }.joined() }
    static func ids(_ words: [String]) -> [Int32] { words.map { Int32(pieces.firstIndex(of: $0)!) } }

    /// transformers' own examples for "stop": a match must overlap the newest token.
    @Test func stopStringsMatchOnlyWhenTheNewestTokenCompletesThem() {
        let stop = StopStrings(["stop"])
        for words in [["st", "op"], ["stop"], ["st", "opera"], ["sto", "pper"], ["las", "topper"], ["s", "to", "pped"],
                      ["x", "x", "x", "x", "x", "s", "to", "pped"]] {
            #expect(stop.areCompleted(by: Self.ids(words), decode: Self.decode), "\(words)")
        }
        for words in [["stop", "at"], ["st", "op", "at"], ["st", "opera", "at"], ["x"]] {
            #expect(!stop.areCompleted(by: Self.ids(words), decode: Self.decode), "\(words)")
        }
        #expect(!StopStrings([]).areCompleted(by: Self.ids(["stop"]), decode: Self.decode))
    }

    /// A tiny GPT-2 (6 positions) with random weights.
    private func generator(_ change: (inout GenerationSettings) -> Void) throws -> TextGenerator {
        let model = try makeCausalLanguageModel(config: .gpt2(vocabSize: 13, maxPositions: 6, layers: 1, heads: 2, channels: 8),
                                                trainable: false, parallel: .serial)
        model.initializeRandomly(seed: 3)
        var settings = GenerationSettings()
        change(&settings)
        return try TextGenerator(model: model, settings: settings, decode: Self.decode)
    }

    @Test func generationStopsForEachReason() throws {
        let greedy = try generator { $0.maxNewTokens = 3 }.generate([1, 2])
        #expect(greedy.completionIDs.count == 3 && greedy.stopReason == .maxNewTokens)
        #expect(greedy.timing.prefillTokens == 2 && greedy.timing.decodeTokens == 2)

        let third = greedy.completionIDs[2]
        let eos = try generator { $0.maxNewTokens = 3; $0.eosTokenIDs = [third] }.generate([1, 2])
        #expect(eos.stopReason == .endOfSequence && eos.completionIDs.last == third)

        let stopped = try generator { $0.maxNewTokens = 3; $0.stopStrings = [Self.pieces[Int(greedy.completionIDs[0])]] }
            .generate([1, 2])
        #expect(stopped.stopReason == .stopString && stopped.completionIDs == [greedy.completionIDs[0]])

        // 6 positions: a 4-token prompt leaves room for 2 more tokens through the model and a third generated.
        let full = try generator { $0.maxNewTokens = 10 }.generate([1, 2, 3, 4])
        #expect(full.stopReason == .contextFull && full.completionIDs.count == 3)

        #expect(throws: GenerationError.emptyPrompt) { try generator { _ in }.generate([]) }
        #expect(throws: GenerationError.promptTooLong(tokens: 7, limit: 6)) {
            try generator { _ in }.generate([1, 1, 1, 1, 1, 1, 1])
        }
    }

    @Test func samplingIsReproduciblePerSeedAndStream() throws {
        let sampling = try generator { $0.doSample = true; $0.maxNewTokens = 4; $0.seed = 7 }
        let first = try sampling.generate([1, 2], stream: 0).completionIDs
        #expect(try sampling.generate([1, 2], stream: 0).completionIDs == first)
        let streams = try (1 ... 8).map { try sampling.generate([1, 2], stream: $0).completionIDs }
        #expect(streams.contains { $0 != first }, "other streams draw other tokens")
        // top_k 1 leaves one token: sampling then equals greedy.
        let topOne = try generator { $0.doSample = true; $0.topK = 1; $0.maxNewTokens = 4 }.generate([1, 2])
        #expect(topOne.completionIDs == (try generator { $0.maxNewTokens = 4 }.generate([1, 2])).completionIDs)
    }
}
