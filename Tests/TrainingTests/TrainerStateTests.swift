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
                                            factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 16)),
        dataFingerprint: "0123abcd", initialWeightsFingerprint: "4567ef01",
        hyperparameters: [("beta", "0.1"), ("learning_rate", "1e-06")], resumeChanges: ["at step 3: `beta` 0.2 → 0.1"])

    /// Data and starting weights must match; a changed hyperparameter is returned for the trainer to say and record.
    @Test func resumeRefusesOtherDataOrWeightsAndListsChangedSettings() throws {
        var current = Self.state
        current.hyperparameters = [("beta", "0.3"), ("learning_rate", "1e-06")]
        #expect(try Self.state.checkResumable(against: current) == ["at step 6: `beta` 0.1 → 0.3"])
        current.dataFingerprint = "ffff"
        current.initialWeightsFingerprint = "eeee"
        let error = try #require(throws: RunError.self) { try Self.state.checkResumable(against: current) }
        #expect(error.description.hasPrefix("cannot resume checkpoint-6: this run changed the data"))
        #expect(error.description.contains("the starting weights"))
    }

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
        #expect(format.description.contains("dpo-dist-checkpoint-3"))

        object["format"] = .string(TrainerState.format)
        object["global_step"] = nil
        #expect(throws: JSONError(file: "trainer_state.json", path: "global_step", problem: .missingKey)) {
            try TrainerState(JSONField(.object(object), file: "trainer_state.json"))
        }
    }
}
