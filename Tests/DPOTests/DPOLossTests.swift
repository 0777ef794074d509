import Foundation
import Testing
@testable import DPO

@Suite struct DPOLossTests {
    /// The loss against the paper's formula written out directly, for both signs of the margin.
    @Test(arguments: [(-3.0, -4.0, -3.5, -3.5), (-10.0, -2.0, -9.0, -2.5), (0.0, 0.0, 0.0, 0.0), (-200.0, -1.0, -1.0, -200.0)])
    func matchesFormula(_ values: (Double, Double, Double, Double)) {
        let (pc, pr, rc, rr) = values
        let result = DPOLoss(beta: 0.1).evaluate(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr)
        let z = 0.1 * ((pc - rc) - (pr - rr))
        #expect(abs(result.loss - -log(1 / (1 + exp(-z)))) <= 1e-12 * max(1, result.loss))
        #expect(result.chosenReward == 0.1 * (pc - rc))
        #expect(result.rejectedReward == 0.1 * (pr - rr))
    }

    @Test func zeroMarginIsLogTwo() {
        let result = DPOLoss(beta: 0.5).evaluate(policyChosen: -7, policyRejected: -9, referenceChosen: -7, referenceRejected: -9)
        #expect(abs(result.loss - log(2)) < 1e-15)
        #expect(abs(result.dPolicyChosen - -0.25) < 1e-15)  // −β·σ(0)
        #expect(abs(result.dPolicyRejected - 0.25) < 1e-15)
    }

    /// Extreme margins stay finite (no overflow of exp) and the gradient vanishes on the right side.
    @Test func extremeMarginsAreFinite() {
        let loss = DPOLoss(beta: 1)
        let confident = loss.evaluate(policyChosen: 0, policyRejected: -5000, referenceChosen: 0, referenceRejected: 0)
        #expect(confident.loss.isFinite && confident.loss < 1e-12)
        #expect(abs(confident.dPolicyChosen) < 1e-12)
        let wrong = loss.evaluate(policyChosen: -5000, policyRejected: 0, referenceChosen: 0, referenceRejected: 0)
        #expect(abs(wrong.loss - 5000) < 1e-9)
        #expect(abs(wrong.dPolicyChosen - -1) < 1e-12)
    }

    /// Derivatives against central differences, with and without label smoothing.
    @Test(arguments: [0.0, 0.1, 0.3])
    func derivativesMatchFiniteDifferences(_ smoothing: Double) {
        let loss = DPOLoss(beta: 0.2, labelSmoothing: smoothing)
        let (pc, pr, rc, rr) = (-12.5, -11.0, -12.0, -13.0)
        let result = loss.evaluate(policyChosen: pc, policyRejected: pr, referenceChosen: rc, referenceRejected: rr)
        let h = 1e-5
        let dChosen = (loss.evaluate(policyChosen: pc + h, policyRejected: pr, referenceChosen: rc, referenceRejected: rr).loss
            - loss.evaluate(policyChosen: pc - h, policyRejected: pr, referenceChosen: rc, referenceRejected: rr).loss) / (2 * h)
        let dRejected = (loss.evaluate(policyChosen: pc, policyRejected: pr + h, referenceChosen: rc, referenceRejected: rr).loss
            - loss.evaluate(policyChosen: pc, policyRejected: pr - h, referenceChosen: rc, referenceRejected: rr).loss) / (2 * h)
        #expect(abs(result.dPolicyChosen - dChosen) < 1e-8)
        #expect(abs(result.dPolicyRejected - dRejected) < 1e-8)
    }

    /// Label smoothing ε: loss = (1−ε)·(−log σ(z)) + ε·(−log σ(−z)).
    @Test func labelSmoothingFormula() {
        let z = 0.1 * ((-3.0 - -4.0) - (-6.0 - -5.0))
        let result = DPOLoss(beta: 0.1, labelSmoothing: 0.2)
            .evaluate(policyChosen: -3, policyRejected: -6, referenceChosen: -4, referenceRejected: -5)
        let expected = 0.8 * -log(1 / (1 + exp(-z))) + 0.2 * -log(1 / (1 + exp(z)))
        #expect(abs(result.loss - expected) < 1e-14)
    }
}

@Suite struct PreferenceMetricSumsTests {
    @Test func meansUseTRLNamesAndSumsAddExactly() {
        var a = PreferenceMetricSums()
        let loss = DPOLoss(beta: 0.1)
        a.add(loss.evaluate(policyChosen: -1, policyRejected: -3, referenceChosen: -2, referenceRejected: -2),
              chosenLogProb: -1, rejectedLogProb: -3)
        var b = PreferenceMetricSums()
        b.add(loss.evaluate(policyChosen: -4, policyRejected: -1, referenceChosen: -2, referenceRejected: -2),
              chosenLogProb: -4, rejectedLogProb: -1)
        var total = a
        total += b
        #expect(total == PreferenceMetricSums(values: total.values))
        let means = Dictionary(uniqueKeysWithValues: total.means.map { ($0.name, $0.value) })
        #expect(means["rewards/accuracies"] == 0.5)
        #expect(abs(means["rewards/chosen"]! - 0.1 * ((-1 + 2) + (-4 + 2)) / 2) < 1e-15)
        #expect(abs(means["rewards/margins"]! - (means["rewards/chosen"]! - means["rewards/rejected"]!)) < 1e-15)
        #expect(means["logps/chosen"] == -2.5)
        #expect(total.means.map(\.name) == ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
                                            "rewards/margins", "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected"])
        #expect(PreferenceMetricSums().means.isEmpty)
    }
}
