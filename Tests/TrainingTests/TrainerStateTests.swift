import Foundation
import JSON
import Model
import Testing
@testable import Training

@Suite struct TrainerStateTests {
    static let state = TrainerState(
        globalStep: 6, epoch: 1.5, totalSteps: 8, globalBatchSize: 4, pairCount: 16, seed: 42, worldSize: 2,
        tokensSeen: 1234, model: .llama(vocabSize: 11, maxPositions: 32, layers: 1, heads: 4, keyValueHeads: 2,
                                        channels: 8, intermediateSize: 6, ropeScaling: Llama3RopeScaling(
                                            factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 16)))

    @Test func trainerStateJSONRoundTrips() throws {
        let text = Self.state.json.serialized(.indentedSorted)
        #expect(try TrainerState(JSONField.parse(Array(text.utf8), file: "trainer_state.json")) == Self.state)
    }

    @Test func anotherFormatOrAMissingKeyIsNamed() throws {
        guard case .object(var object) = Self.state.json else { Issue.record("not an object"); return }
        object["format"] = "dpo-dist-checkpoint-1"
        let format = try #require(throws: JSONError.self) {
            try TrainerState(JSONField(.object(object), file: "trainer_state.json"))
        }
        #expect(format.path == "format")
        #expect(format.description.contains("dpo-dist-checkpoint-2"))

        object["format"] = .string(TrainerState.format)
        object["global_step"] = nil
        #expect(throws: JSONError(file: "trainer_state.json", path: "global_step", problem: .missingKey)) {
            try TrainerState(JSONField(.object(object), file: "trainer_state.json"))
        }
    }
}
