import Foundation
import Generation
import Testing

@Suite("Logits processors and settings")
struct LogitsProcessorTests {
    private func applied(_ processor: LogitsProcessor, _ scores: [Float], sequence: [Int32] = []) -> [Float] {
        var scores = scores
        processor.apply(to: &scores, sequence: sequence)
        return scores
    }

    @Test func repetitionPenaltyPenalizesEachSeenTokenOnceBySign() {
        // Token 0 twice, token 2 negative, token 5 outside the vocabulary (ignored), token 1 unseen.
        #expect(applied(.repetitionPenalty(2), [4, 3, -1, 6], sequence: [0, 2, 0, 5]) == [2, 3, -2, 6])
        // A penalty below 1 rewards repetition instead.
        #expect(applied(.repetitionPenalty(0.5), [4, -1], sequence: [0, 1]) == [8, -0.5])
    }

    @Test func temperatureDividesEveryScore() {
        #expect(applied(.temperature(0.5), [1, -2, 0]) == [2, -4, 0])
    }

    @Test func topKKeepsTheKLargestAndTheirTies() {
        let removed = -Float.infinity
        #expect(applied(.topK(2), [1, 5, 3, 2]) == [removed, 5, 3, removed])
        #expect(applied(.topK(2), [3, 5, 3, 2]) == [3, 5, 3, removed], "ties with the k-th largest stay")
        #expect(applied(.topK(0), [1, 2]) == [removed, 2], "k is at least 1")
        #expect(applied(.topK(9), [1, 2]) == [1, 2])
    }

    @Test func topPKeepsTheSmallestSetAboveP() {
        // Probabilities 0.1, 0.2, 0.7 (log-scores): ascending cumulative 0.1, 0.3, 1.0.
        let scores: [Float] = [0.1, 0.2, 0.7].map { log(Float($0)) }
        let removed = -Float.infinity
        #expect(applied(.topP(0.75), scores) == [removed, scores[1], scores[2]], "0.1 ≤ 0.25 goes, 0.3 > 0.25 stays")
        #expect(applied(.topP(0.5), scores) == [removed, removed, scores[2]])
        #expect(applied(.topP(0), scores) == [removed, removed, scores[2]], "the largest always stays")
        #expect(applied(.topP(1), scores) == scores)
    }

    @Test func processorsFollowTransformersOrderAndConditions() {
        var settings = GenerationSettings()
        #expect(settings.logitsProcessors.isEmpty, "greedy with the defaults processes nothing")
        settings.temperature = 0.7
        settings.topP = 0.9
        settings.repetitionPenalty = 1.1
        #expect(settings.logitsProcessors == [.repetitionPenalty(1.1)], "greedy ignores the sampling settings")
        settings.doSample = true
        #expect(settings.logitsProcessors == [.repetitionPenalty(1.1), .temperature(0.7), .topK(50), .topP(0.9)])
        settings.topK = 0
        settings.temperature = 1
        settings.repetitionPenalty = 1
        #expect(settings.logitsProcessors == [.topP(0.9)])
    }

    @Test func settingsOutOfRangeAreNamed() {
        func problem(_ change: (inout GenerationSettings) -> Void) -> String? {
            var settings = GenerationSettings()
            change(&settings)
            do { try settings.validate() } catch { return "\(error)" }
            return nil
        }
        #expect(problem { $0.maxNewTokens = 0 } == "`max_new_tokens` must be at least 1 (got 0)")
        #expect(problem { $0.repetitionPenalty = 0 } == "`repetition_penalty` must be a positive number (got 0.0)")
        #expect(problem { $0.stopStrings = ["a", ""] } == "`stop_strings` must not contain an empty string")
        #expect(problem { $0.temperature = 0 } == nil, "greedy decoding does not use the temperature")
        #expect(problem { $0.doSample = true; $0.temperature = 0 }?.hasPrefix("`temperature` must be a positive number") == true)
        #expect(problem { $0.doSample = true; $0.topK = -1 } == "`top_k` must be 0 (keep all) or positive (got -1)")
        #expect(problem { $0.doSample = true; $0.topP = 1.5 } == "`top_p` must be between 0 and 1 (got 1.5)")
    }
}
