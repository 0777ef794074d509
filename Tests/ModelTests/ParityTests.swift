import Foundation
import Model
import Testing

// Parity with PyTorch/transformers for tiny models of every family with fixed weights: GPT-2 (gpt2_tiny), Llama with
// grouped-query attention, head_dim ≠ hidden/heads, an untied head and llama3 rope scaling (llama_tiny), and Qwen2
// with q/k/v biases and a tied head (qwen2_tiny). The fixtures in Tests/ModelTests/Fixtures are made by
// tools/make_gpt2_fixtures.py and tools/make_llama_fixtures.py (see there and tools/parity_fixtures.py for the
// models, weights and batch); regenerate them with
//     /tmp/oracle/venv/bin/python tools/make_gpt2_fixtures.py
//     /tmp/oracle/venv/bin/python tools/make_llama_fixtures.py
// Each model is built from the config.json transformers wrote, so the tests also cover reading config.json.
//
// Tolerance, per tensor: max_i |actual_i − expected_i| ≤ 1e-4 · max_i |expected_i|.
// The error is measured against the tensor's largest magnitude, not element by element: float32 rounding in a sum
// is proportional to the magnitude of its terms, so an element that is small only through cancellation (a gradient
// near zero, a key bias gradient that is exactly zero in exact arithmetic) carries absolute error of the tensor's
// scale, and element-wise relative error would flag it unfairly. It is still strict: the generators check that their
// own float32 results agree with a float64 run to within 1e-5 by this measure (they agree to 0.8e-6 (GPT-2),
// 1.7e-6 (Llama) and 2.5e-6 (Qwen2)), and the Swift model agrees with the fixtures to at most 1.0e-6 (GPT-2),
// 2.0e-6 (Llama) and 2.2e-6 (Qwen2), the worst being a gradient (logits: at most 9e-7), so 1e-4 leaves room for a
// different summation order but not for a wrong term: even doubling the LayerNorm epsilon (1e-5 → 2e-5) fails it,
// and so does computing Llama's rotary frequencies without the llama3 scaling.
// Scalars (the loss) use the same rule with max|expected| = |loss|.

/// The fixture prefixes of the parity cases.
private let parityCases = ["gpt2_tiny", "llama_tiny", "qwen2_tiny"]

@Suite("Parity with PyTorch (tiny GPT-2, Llama and Qwen2 models; fixtures from tools/make_*_fixtures.py)")
struct ParityTests {
    @Test("the test's DPO loss and its derivative reproduce PyTorch autograd on the fixture's log-probs", arguments: parityCases)
    func dpoFormula(prefix: String) throws {
        let parityCase = try ParityFixtures(prefix: prefix).parityCase()
        let dpo = SigmoidDPO(policy: parityCase.policyLogProbSums, reference: parityCase.referenceLogProbSums,
                             beta: parityCase.beta)
        expectParity("DPO loss", actual: [Float(dpo.loss)], expected: [Float(parityCase.loss)])
        expectParity("chosen rewards", actual: dpo.chosenRewards, expected: parityCase.chosenRewards)
        expectParity("rejected rewards", actual: dpo.rejectedRewards, expected: parityCase.rejectedRewards)
        expectParity("d loss / d policy log-prob sums", actual: dpo.dLogProbSums,
                     expected: parityCase.lossGradientWithRespectToPolicyLogProbSums)
    }

    @Test("policy logits match transformers", arguments: parityCases)
    func logits(prefix: String) throws {
        let fixtures = ParityFixtures(prefix: prefix)
        let parityCase = try fixtures.parityCase()
        let policy = try fixtures.model("policy", trainable: false)
        let expected = try #require(try fixtures.safeTensors("outputs")["logits"])
        #expect(expected.shape == [parityCase.rows, parityCase.length, policy.config.vocabSize])
        expectParity("\(prefix) logits", actual: policy.logits(parityCase.batch), expected: try expected.floats())
    }

    @Test("completion log-prob sums, entropies, argmax hits, DPO loss and rewards match PyTorch", arguments: parityCases)
    func scoresAndLoss(prefix: String) throws {
        let fixtures = ParityFixtures(prefix: prefix)
        let parityCase = try fixtures.parityCase()
        let batch = parityCase.batch
        let policy = try fixtures.model("policy", trainable: false)
        let reference = try fixtures.model("reference", trainable: false)
        let policyScores = policy.score(batch, training: false)
        let referenceScores = reference.score(batch, training: false)
        expectParity("\(prefix) policy log-prob sums", actual: policyScores.logProbSums, expected: parityCase.policyLogProbSums)
        expectParity("\(prefix) reference log-prob sums", actual: referenceScores.logProbSums,
                     expected: parityCase.referenceLogProbSums)
        #expect(policyScores.tokenCounts == parityCase.scoreMask.map { $0.reduce(0) { $0 + Int($1) } })
        expectParity("\(prefix) policy entropy sums", actual: policyScores.entropySums.map(Float.init),
                     expected: parityCase.policyEntropySums)
        #expect(policyScores.correctTokenCounts == parityCase.policyCorrectTokenCounts)

        let dpo = SigmoidDPO(policy: policyScores.logProbSums, reference: referenceScores.logProbSums, beta: parityCase.beta)
        expectParity("\(prefix) DPO loss", actual: [Float(dpo.loss)], expected: [Float(parityCase.loss)])
        expectParity("\(prefix) chosen rewards", actual: dpo.chosenRewards, expected: parityCase.chosenRewards)
        expectParity("\(prefix) rejected rewards", actual: dpo.rejectedRewards, expected: parityCase.rejectedRewards)
    }

    @Test("every policy parameter gradient of the DPO loss matches PyTorch", arguments: parityCases)
    func gradients(prefix: String) throws {
        let fixtures = ParityFixtures(prefix: prefix)
        let parityCase = try fixtures.parityCase()
        let batch = parityCase.batch
        let policy = try fixtures.model("policy", trainable: true)
        let reference = try fixtures.model("reference", trainable: false)
        let referenceScores = reference.score(batch, training: false)
        policy.zeroGradients()
        let policyScores = policy.score(batch, training: true)
        let dpo = SigmoidDPO(policy: policyScores.logProbSums, reference: referenceScores.logProbSums, beta: parityCase.beta)
        policy.backward(dLogProbSums: dpo.dLogProbSums)

        let expected = try fixtures.safeTensors("gradients")
        let actual = policy.huggingFaceTensors(from: UnsafeBufferPointer(policy.gradients))
        #expect(Set(actual.map(\.name)) == Set(expected.names), "exported gradient names differ from the fixture's")
        for tensor in actual {
            guard let reference = expected[tensor.name] else { continue }
            #expect(tensor.shape == reference.shape, "\(tensor.name): shape \(tensor.shape), expected \(reference.shape)")
            expectParity("\(prefix) gradient \(tensor.name)", actual: tensor.values, expected: try reference.floats())
        }
    }
}
