import Foundation
import Testing
@testable import DPO

/// One pair's inputs: policy and reference log-prob sums, completion lengths, and the batch's mean chosen length.
struct PairInputs: Sendable, CustomTestStringConvertible {
    var policyChosen, policyRejected, referenceChosen, referenceRejected: Double
    var chosenTokens = 7, rejectedTokens = 12
    var meanChosenTokens = 9.5

    var logProbs: PairLogProbs {
        PairLogProbs(policyChosen: policyChosen, policyRejected: policyRejected, referenceChosen: referenceChosen,
                     referenceRejected: referenceRejected, chosenTokens: chosenTokens, rejectedTokens: rejectedTokens)
    }

    var testDescription: String { "π \(policyChosen)/\(policyRejected), ref \(referenceChosen)/\(referenceRejected)" }

    /// Both signs of the margin, a zero margin, log-ratios of either sign and a long/short length mix.
    static let moderate: [PairInputs] = [
        PairInputs(policyChosen: -3, policyRejected: -4, referenceChosen: -3.5, referenceRejected: -3.5),
        PairInputs(policyChosen: -10, policyRejected: -2, referenceChosen: -9, referenceRejected: -2.5),
        PairInputs(policyChosen: -7, policyRejected: -9, referenceChosen: -7, referenceRejected: -9),
        PairInputs(policyChosen: -21, policyRejected: -40, referenceChosen: -30, referenceRejected: -33,
                   chosenTokens: 25, rejectedTokens: 3, meanChosenTokens: 14),
    ]
}

/// Each loss type written out again, independently of the implementation, with the plain logistic function.
/// a, b are the chosen and rejected log-ratios, z = β(a − b), ε the label smoothing.
private func expectedLoss(_ type: DPOLossType, _ pair: PairInputs, beta: Double, epsilon: Double) -> Double {
    func σ(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
    let a = pair.policyChosen - pair.referenceChosen
    let b = pair.policyRejected - pair.referenceRejected
    let z = beta * (a - b)
    switch type {
    case .sigmoid: return -(1 - epsilon) * log(σ(z)) - epsilon * log(σ(-z))
    case .hinge: return max(0, 1 - z)
    case .ipo:
        let delta = a / Double(pair.chosenTokens) - b / Double(pair.rejectedTokens)
        return pow(delta - 1 / (2 * beta), 2)
    case .robust: return (-(1 - epsilon) * log(σ(z)) + epsilon * log(σ(-z))) / (1 - 2 * epsilon)
    case .exoPair: return σ(z) * (log(σ(z)) - log(1 - epsilon)) + σ(-z) * (log(σ(-z)) - log(epsilon))
    case .ncaPair: return -log(σ(beta * a)) - 0.5 * log(σ(-beta * a)) - 0.5 * log(σ(-beta * b))
    case .sppoHard: return pow(a - 0.5 / beta, 2) + pow(b + 0.5 / beta, 2)
    case .apoZero: return (1 - σ(beta * a)) + σ(beta * b)
    case .apoDown: return σ(beta * a) + (1 - σ(beta * (a - b)))
    case .sft: return -pair.policyChosen / pair.meanChosenTokens
    }
}

private func evaluate(_ loss: DPOLoss, _ pair: PairInputs) -> PairLoss {
    loss.evaluate(pair.logProbs, meanChosenTokens: pair.meanChosenTokens)
}

@Suite struct DPOLossTests {
    @Test(arguments: DPOLossType.allCases, PairInputs.moderate)
    func valueMatchesFormula(_ type: DPOLossType, _ pair: PairInputs) {
        let loss = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)])
        let result = evaluate(loss, pair)
        let expected = expectedLoss(type, pair, beta: 0.2, epsilon: 0.1)
        #expect(abs(result.loss - expected) <= 1e-12 * max(1, abs(expected)), "\(result.loss) vs \(expected)")
        // Rewards are β·log-ratio whatever the loss (TRL's rewards/chosen and rewards/rejected).
        #expect(result.chosenReward == 0.2 * (pair.policyChosen - pair.referenceChosen))
        #expect(result.rejectedReward == 0.2 * (pair.policyRejected - pair.referenceRejected))
    }

    /// ∂loss/∂ log π(y_w) and ∂loss/∂ log π(y_l) against central differences of the loss itself.
    @Test(arguments: DPOLossType.allCases, PairInputs.moderate)
    func derivativesMatchCentralDifferences(_ type: DPOLossType, _ pair: PairInputs) {
        let loss = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)])
        let result = evaluate(loss, pair)
        let h = 1e-5
        func difference(_ shift: (inout PairInputs, Double) -> Void) -> Double {
            var plus = pair, minus = pair
            shift(&plus, h)
            shift(&minus, -h)
            return (evaluate(loss, plus).loss - evaluate(loss, minus).loss) / (2 * h)
        }
        let dChosen = difference { $0.policyChosen += $1 }
        let dRejected = difference { $0.policyRejected += $1 }
        #expect(abs(result.dPolicyChosen - dChosen) <= 1e-7 * max(1, abs(dChosen)), "\(result.dPolicyChosen) vs \(dChosen)")
        #expect(abs(result.dPolicyRejected - dRejected) <= 1e-7 * max(1, abs(dRejected)),
                "\(result.dPolicyRejected) vs \(dRejected)")
    }

    /// Margins of thousands of nats (a badly wrong or a very confident policy) give finite values and derivatives.
    @Test(arguments: DPOLossType.allCases)
    func extremeMarginsStayFinite(_ type: DPOLossType) {
        let loss = DPOLoss(beta: 1, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)])
        for (chosen, rejected) in [(0.0, -5000.0), (-5000.0, 0.0), (-5000.0, -5000.0), (-1e-3, -8000.0)] {
            let result = evaluate(loss, PairInputs(policyChosen: chosen, policyRejected: rejected,
                                                   referenceChosen: 0, referenceRejected: 0))
            #expect(result.loss.isFinite && result.dPolicyChosen.isFinite && result.dPolicyRejected.isFinite,
                    "\(type) at \(chosen), \(rejected): \(result)")
        }
    }

    @Test func sigmoidAtExtremeMarginsHasTheRightLimits() {
        let loss = DPOLoss(beta: 1)
        let confident = evaluate(loss, PairInputs(policyChosen: 0, policyRejected: -5000, referenceChosen: 0, referenceRejected: 0))
        #expect(confident.loss < 1e-12 && abs(confident.dPolicyChosen) < 1e-12)
        let wrong = evaluate(loss, PairInputs(policyChosen: -5000, policyRejected: 0, referenceChosen: 0, referenceRejected: 0))
        #expect(abs(wrong.loss - 5000) < 1e-9)
        #expect(abs(wrong.dPolicyChosen - -1) < 1e-12 && abs(wrong.dPolicyRejected - 1) < 1e-12)
    }

    @Test func zeroMarginSigmoidIsLogTwo() {
        let result = evaluate(DPOLoss(beta: 0.5), PairInputs.moderate[2])
        #expect(abs(result.loss - log(2)) < 1e-15)
        #expect(abs(result.dPolicyChosen - -0.25) < 1e-15)  // −β·σ(0)
        #expect(abs(result.dPolicyRejected - 0.25) < 1e-15)
    }

    @Test func defaultIsUnsmoothedSigmoidWithAReference() {
        let loss = DPOLoss()
        #expect(loss.terms == [WeightedLossTerm(.sigmoid, weight: 1)])
        #expect(loss.beta == 0.1 && loss.labelSmoothing == 0 && !loss.referenceFree)
    }

    /// Conservative DPO mixes the loss of the flipped label: (1 − ε)·L(z) + ε·L(−z).
    @Test func sigmoidLabelSmoothingMixesTheFlippedLoss() {
        let pair = PairInputs.moderate[0]
        let flipped = PairInputs(policyChosen: pair.policyRejected, policyRejected: pair.policyChosen,
                                 referenceChosen: pair.referenceRejected, referenceRejected: pair.referenceChosen)
        let plain = DPOLoss(beta: 0.3)
        let smoothed = evaluate(DPOLoss(beta: 0.3, labelSmoothing: 0.2), pair).loss
        #expect(abs(smoothed - (0.8 * evaluate(plain, pair).loss + 0.2 * evaluate(plain, flipped).loss)) < 1e-14)
    }

    /// Robust DPO is unbiased: its expectation over labels flipped with probability ε is the clean DPO loss.
    @Test(arguments: [0.0, 0.1, 0.3, 0.45])
    func robustIsUnbiasedUnderLabelFlips(_ epsilon: Double) {
        let robust = DPOLoss(beta: 0.3, labelSmoothing: epsilon, terms: [WeightedLossTerm(.robust)])
        for pair in PairInputs.moderate {
            let flipped = PairInputs(policyChosen: pair.policyRejected, policyRejected: pair.policyChosen,
                                     referenceChosen: pair.referenceRejected, referenceRejected: pair.referenceChosen)
            let expectation = (1 - epsilon) * evaluate(robust, pair).loss + epsilon * evaluate(robust, flipped).loss
            let clean = evaluate(DPOLoss(beta: 0.3), pair).loss
            #expect(abs(expectation - clean) < 1e-12 * max(1, clean))
        }
    }

    /// EXO is a KL divergence: zero, with zero gradient, where σ(z) equals the smoothed label 1 − ε, positive elsewhere.
    @Test(arguments: [1e-3, 0.1])
    func exoVanishesWhereThePolicyMatchesTheSmoothedLabel(_ epsilon: Double) {
        let beta = 0.5
        let loss = DPOLoss(beta: beta, labelSmoothing: epsilon, terms: [WeightedLossTerm(.exoPair)])
        let optimalMargin = log((1 - epsilon) / epsilon) / beta
        let atOptimum = evaluate(loss, PairInputs(policyChosen: optimalMargin - 3, policyRejected: -3,
                                                  referenceChosen: 0, referenceRejected: 0))
        #expect(abs(atOptimum.loss) < 1e-12 && abs(atOptimum.dPolicyChosen) < 1e-12)
        let beyond = evaluate(loss, PairInputs(policyChosen: optimalMargin + 1, policyRejected: 0,
                                               referenceChosen: 0, referenceRejected: 0))
        #expect(beyond.loss > 0 && beyond.dPolicyChosen > 0)
    }

    /// Reference-free: the reference log-probs given are ignored, as if they were 0, in loss and rewards alike.
    @Test(arguments: DPOLossType.allCases)
    func referenceFreeTakesReferenceLogProbsAsZero(_ type: DPOLossType) {
        let terms = [WeightedLossTerm(type)]
        let referenceFree = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: terms, referenceFree: true)
        let withZeroReference = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: terms)
        for var pair in PairInputs.moderate {
            let free = evaluate(referenceFree, pair)
            pair.referenceChosen = 0
            pair.referenceRejected = 0
            #expect(free == evaluate(withZeroReference, pair))
            #expect(free.chosenReward == 0.2 * pair.policyChosen && free.rejectedReward == 0.2 * pair.policyRejected)
        }
    }

    /// A list of loss types with weights is the weighted sum of the single losses, derivatives included.
    @Test func combinedLossIsTheWeightedSumOfItsTerms() {
        let mix: [(DPOLossType, Double)] = [(.sigmoid, 0.8), (.sft, 0.2), (.ipo, 1.5), (.apoDown, 0.3)]
        let combined = DPOLoss(beta: 0.25, labelSmoothing: 0.05, terms: mix.map { WeightedLossTerm($0, weight: $1) })
        for pair in PairInputs.moderate {
            let whole = evaluate(combined, pair)
            let parts = mix.map { type, weight in
                (evaluate(DPOLoss(beta: 0.25, labelSmoothing: 0.05, terms: [WeightedLossTerm(type)]), pair), weight)
            }
            func weighted(_ value: (PairLoss) -> Double) -> Double { parts.reduce(0) { $0 + $1.1 * value($1.0) } }
            #expect(abs(whole.loss - weighted(\.loss)) < 1e-12)
            #expect(abs(whole.dPolicyChosen - weighted(\.dPolicyChosen)) < 1e-12)
            #expect(abs(whole.dPolicyRejected - weighted(\.dPolicyRejected)) < 1e-12)
            #expect(whole.chosenReward == parts[0].0.chosenReward)
        }
    }

    /// The `sft` term averaged over a batch's pairs is the mean negative log-likelihood per chosen token of the
    /// whole batch, and its gradient is −1/N for every chosen completion.
    @Test func sftIsTheBatchNegativeLogLikelihoodPerChosenToken() {
        let chosen: [(logProb: Double, tokens: Int)] = [(-12, 4), (-30, 11), (-2.5, 1)]
        let tokens = chosen.reduce(0) { $0 + $1.tokens }
        let normalization = LossNormalization(pairs: chosen.count, chosenTokens: tokens)
        let sft = DPOLoss(terms: [WeightedLossTerm(.sft)])
        let results = chosen.map { logProb, count in
            sft.evaluate(PairLogProbs(policyChosen: logProb, policyRejected: -50, referenceChosen: -9, referenceRejected: -8,
                                      chosenTokens: count, rejectedTokens: 5),
                         meanChosenTokens: normalization.meanChosenTokens)
        }
        let meanLoss = results.reduce(0) { $0 + $1.loss } / Double(chosen.count)
        #expect(abs(meanLoss - 44.5 / Double(tokens)) < 1e-14)
        for result in results {
            #expect(abs(result.dPolicyChosen / Double(chosen.count) - -1 / Double(tokens)) < 1e-15)
            #expect(result.dPolicyRejected == 0)
        }
    }

    /// IPO compares per-token log-ratios, so its value does not change when both completions and their log-ratios
    /// grow by the same factor.
    @Test func ipoIsLengthNormalized() {
        let ipo = DPOLoss(beta: 0.1, terms: [WeightedLossTerm(.ipo)])
        let short = PairInputs(policyChosen: -6, policyRejected: -9, referenceChosen: -7, referenceRejected: -8,
                               chosenTokens: 3, rejectedTokens: 4)
        let long = PairInputs(policyChosen: -60, policyRejected: -90, referenceChosen: -70, referenceRejected: -80,
                              chosenTokens: 30, rejectedTokens: 40)
        #expect(abs(evaluate(ipo, short).loss - evaluate(ipo, long).loss) < 1e-12)
    }
}

@Suite struct PreferenceMetricSumsTests {
    @Test func meansUseTRLNamesAndSumsAddExactly() {
        let loss = DPOLoss(beta: 0.1)
        var a = PreferenceMetricSums()
        a.add(evaluate(loss, PairInputs(policyChosen: -1, policyRejected: -3, referenceChosen: -2, referenceRejected: -2)),
              chosenLogProb: -1, rejectedLogProb: -3)
        var b = PreferenceMetricSums()
        b.add(evaluate(loss, PairInputs(policyChosen: -4, policyRejected: -1, referenceChosen: -2, referenceRejected: -2)),
              chosenLogProb: -4, rejectedLogProb: -1)
        var total = a
        total += b
        #expect(total == PreferenceMetricSums(values: total.values))
        let means = Dictionary(uniqueKeysWithValues: total.means.map { ($0.name, $0.value) })
        #expect(means["rewards/accuracies"] == 0.5)
        #expect(abs(means["rewards/chosen"]! - 0.1 * ((-1 + 2) + (-4 + 2)) / 2) < 1e-15)
        #expect(abs(means["rewards/margins"]! - (means["rewards/chosen"]! - means["rewards/rejected"]!)) < 1e-15)
        #expect(means["logps/chosen"] == -2.5)
        #expect(means["prefers_chosen"] == 0)
        #expect(total.means.map(\.name) == ["loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
                                            "rewards/margins", "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected",
                                            "entropy", "mean_token_accuracy", "prefers_chosen"])
        #expect(PreferenceMetricSums.metricNames == total.means.map(\.name))
        #expect(PreferenceMetricSums().means.isEmpty)
    }
}
