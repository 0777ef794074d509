import Foundation
import Generation
import Model
import Testing

/// Against transformers (tools/make_generation_fixtures.py): greedy ids exactly, processed scores to float rounding.
@Suite("Generation parity with transformers")
struct TransformersParityTests {
    static let greedyCases = (try? GenerationFixtures.decode(GreedyGenerationFile.self, "greedy_generation.json"))?.cases ?? []
    static let processorCases = (try? GenerationFixtures.decode(LogitsProcessorFile.self, "logits_processors.json"))?.cases ?? []

    @Test func fixturesCoverEveryFamilyAndCase() {
        #expect(Set(Self.greedyCases.map(\.model)) == ["gpt2_tiny", "llama_tiny", "qwen2_tiny"])
        #expect(Set(Self.greedyCases.map(\.case)) == ["plain", "repetition_penalty", "eos"])
        #expect(Set(Self.processorCases.map(\.processor)) == ["repetition_penalty", "temperature", "top_k", "top_p",
                                                              "sampling_chain"])
    }

    /// With the KV cache, greedy ids equal transformers' `generate(do_sample=False)` token for token.
    @Test(arguments: Self.greedyCases.indices)
    func greedyIdsEqualTransformers(caseIndex: Int) throws {
        let fixture = Self.greedyCases[caseIndex]
        var settings = GenerationSettings()
        settings.maxNewTokens = fixture.maxNewTokens
        settings.repetitionPenalty = fixture.repetitionPenalty
        settings.eosTokenIDs = fixture.eosTokenIds
        let generator = try TextGenerator(model: try GenerationFixtures.model(fixture.model), settings: settings) { _ in "" }
        let generation = try generator.generate(fixture.promptIds)
        #expect(generation.completionIDs == fixture.generatedIds, "\(fixture.model) \(fixture.case) \(fixture.promptIds)")
        #expect(generation.stopReason == (fixture.case == "eos" ? .endOfSequence : .maxNewTokens))
    }

    @Test(arguments: Self.processorCases.indices)
    func processedScoresEqualTransformers(caseIndex: Int) throws {
        let fixture = Self.processorCases[caseIndex]
        let processors: [LogitsProcessor]
        switch fixture.processor {
        case "repetition_penalty": processors = [.repetitionPenalty(Float(try #require(fixture.parameter)))]
        case "temperature": processors = [.temperature(Float(try #require(fixture.parameter)))]
        case "top_k": processors = [.topK(Int(try #require(fixture.parameter)))]
        case "top_p": processors = [.topP(try #require(fixture.parameter))]
        default:
            let given = try #require(fixture.settings)
            var settings = GenerationSettings()
            settings.doSample = true
            (settings.repetitionPenalty, settings.temperature) = (given.repetitionPenalty, given.temperature)
            (settings.topK, settings.topP) = (given.topK, given.topP)
            processors = settings.logitsProcessors
            #expect(processors == [.repetitionPenalty(1.2), .temperature(0.8), .topK(10), .topP(0.8)])
        }
        var scores = fixture.scores
        for processor in processors { processor.apply(to: &scores, sequence: fixture.inputIds) }
        let label = "\(fixture.processor) \(fixture.parameter.map(String.init(describing:)) ?? "")"
        #expect(scores.map { $0 == -.infinity } == fixture.processed.map { $0 == nil }, "removed tokens, \(label)")
        for (actual, expected) in zip(scores, fixture.processed) {
            guard let expected else { continue }
            #expect(abs(actual - expected) <= 1e-6 * max(1, abs(expected)), "\(label): \(actual) vs \(expected)")
        }
    }
}
