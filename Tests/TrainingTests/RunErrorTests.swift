import Diagnostics
import Foundation
import Kernels
import Model
import Optimization
import Testing
import TestSupport
@testable import Training

/// The run's own failures are typed, marked as raised identically on every rank, and leave nothing half-done.
@Suite struct RunErrorTests {
    @Test func aNonFiniteGradientStopsTheStepBeforeAnyUpdate() throws {
        let parallel = Parallel(threads: 1)
        let config = ModelConfig.gpt2(vocabSize: 16, maxPositions: 8, layers: 1, heads: 2, channels: 8)
        let policy = try makeCausalLanguageModel(config: config, trainable: true, parallel: parallel)
        policy.initializeRandomly(seed: 3)
        let before = Array(policy.parameters)
        let step = TrainingStep(trainable: policy.trainableParameters,
                                optimizer: AdamW(for: policy.trainableParameters, settings: AdamW.Settings()),
                                gradientSum: .none, maxGradNorm: 1, parallel: parallel)
        let error = try #require(throws: RunError.self) {
            try step.run([0], update: 7, learningRate: 1e-3) { (_: Int, _) in policy.gradients[5] = Float.nan }
        }
        guard case .diverged(step: 7, _) = error else {
            Issue.record("expected diverged at step 7, got \(error)")
            return
        }
        #expect(error.description.hasPrefix("step 7: the gradient is not finite"))
        #expect(Array(policy.parameters) == before)
        #expect((error as Error) is any IdenticalOnEveryRank)
    }

    @Test func everyRunErrorIsMarkedIdenticalOnEveryRank() {
        let errors: [Error] = [RunError.input("x"), RunError.resumeMismatch(step: 2, changes: ["`seed` (1 → 2)"]),
                               ConfigError("y")]
        #expect(errors.allSatisfy { $0 is any IdenticalOnEveryRank })
        #expect(RunError.resumeMismatch(step: 2, changes: ["`seed` (1 → 2)", "the model shape"]).description
            == "cannot resume checkpoint-2: this run changed `seed` (1 → 2), the model shape")
    }
}
