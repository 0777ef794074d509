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

    /// Log-ratios within ±2, where the f-divergence scores (exponentials of the log-ratios) stay moderate.
    static let nearReference: [PairInputs] = [
        PairInputs(policyChosen: -3, policyRejected: -4, referenceChosen: -3.5, referenceRejected: -3.5),
        PairInputs(policyChosen: -10, policyRejected: -2, referenceChosen: -9, referenceRejected: -2.5),
        PairInputs(policyChosen: -7, policyRejected: -9, referenceChosen: -7, referenceRejected: -9),
        PairInputs(policyChosen: -21, policyRejected: -40, referenceChosen: -22.5, referenceRejected: -38.2,
                   chosenTokens: 25, rejectedTokens: 3, meanChosenTokens: 14),
    ]

    /// A micro-batch whose policy margins, reference margins, chosen and rejected log-ratios are all ranked
    /// differently, so that `aot` and `aot_unpaired` match every pair with another one.
    static let crossed: [PairInputs] = [
        PairInputs(policyChosen: -3, policyRejected: -4, referenceChosen: -1, referenceRejected: -6),
        PairInputs(policyChosen: -10, policyRejected: -2, referenceChosen: -9, referenceRejected: -2.5),
        PairInputs(policyChosen: -7, policyRejected: -9, referenceChosen: -8, referenceRejected: -5.5),
        PairInputs(policyChosen: -21, policyRejected: -40, referenceChosen: -30, referenceRejected: -33,
                   chosenTokens: 25, rejectedTokens: 3),
    ]
}

/// The score f'(eᵃ) of a log-ratio under each f-divergence, written out again (without TRL's cap on the exponent).
private func expectedScore(_ a: Double, _ divergence: FDivergence, alpha: Double) -> Double {
    switch divergence {
    case .reverseKL: return a
    case .forwardKL: return 1 - 1 / exp(a)
    case .jsDivergence: return log(2 * exp(a) / (1 + exp(a)))
    case .alphaDivergence: return (pow(exp(a), alpha - 1) - 1) / (alpha - 1)
    }
}

/// Each loss type written out again, independently of the implementation, with the plain logistic function, for a
/// micro-batch of one pair (where `aot` and `aot_unpaired` match the pair with itself).
/// a, b are the chosen and rejected log-ratios, s_w, s_l their scores, z = β(s_w − s_l), ε the label smoothing.
private func expectedLoss(_ type: DPOLossType, _ pair: PairInputs, beta: Double, epsilon: Double,
                          divergence: FDivergence = .reverseKL, alpha: Double = 0.5, tau: Double = 0.05) -> Double {
    func σ(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
    let a = pair.policyChosen - pair.referenceChosen
    let b = pair.policyRejected - pair.referenceRejected
    let (sw, sl) = (expectedScore(a, divergence, alpha: alpha), expectedScore(b, divergence, alpha: alpha))
    let z = beta * (sw - sl)
    let (nw, nl) = (Double(pair.chosenTokens), Double(pair.rejectedTokens))
    switch type {
    case .sigmoid: return -(1 - epsilon) * log(σ(z)) - epsilon * log(σ(-z))
    case .hinge: return max(0, 1 - z)
    case .ipo: return pow(sw / nw - sl / nl - 1 / (2 * beta), 2)
    case .sigmoidNorm: return -log(σ(beta * (sw / nw - sl / nl)))
    case .robust: return (-(1 - epsilon) * log(σ(z)) + epsilon * log(σ(-z))) / (1 - 2 * epsilon)
    case .exoPair: return σ(z) * (log(σ(z)) - log(1 - epsilon)) + σ(-z) * (log(σ(-z)) - log(epsilon))
    case .ncaPair: return -log(σ(beta * a)) - 0.5 * log(σ(-beta * a)) - 0.5 * log(σ(-beta * b))
    case .bcoPair: return -log(σ(beta * a)) - log(σ(-beta * b))
    case .sppoHard: return pow(a - 0.5 / beta, 2) + pow(b + 0.5 / beta, 2)
    case .aot, .aotUnpaired:
        let x = beta * (a - b)
        return -(1 - epsilon) * log(σ(x)) - epsilon * log(σ(-x))
    case .apoZero: return (1 - σ(beta * a)) + σ(beta * b)
    case .apoDown: return σ(beta * a) + (1 - σ(beta * (a - b)))
    case .discopop: return (1 - σ(z / tau)) * -log(σ(z)) + σ(z / tau) * exp(-z)
    case .sft: return -pair.policyChosen / pair.meanChosenTokens
    }
}

private func evaluate(_ loss: DPOLoss, _ pair: PairInputs) -> PairLoss {
    loss.evaluate([pair.logProbs], meanChosenTokens: pair.meanChosenTokens)[0]
}

/// Central differences of a micro-batch's total loss with respect to one pair's two policy log-prob sums.
private func centralDifferences(_ loss: DPOLoss, _ pairs: [PairInputs], pair index: Int,
                                step h: Double = 1e-5) -> (chosen: Double, rejected: Double) {
    func total(_ shift: (inout PairInputs) -> Void) -> Double {
        var shifted = pairs
        shift(&shifted[index])
        return loss.evaluate(shifted.map(\.logProbs), meanChosenTokens: pairs[0].meanChosenTokens).reduce(0) { $0 + $1.loss }
    }
    return ((total { $0.policyChosen += h } - total { $0.policyChosen -= h }) / (2 * h),
            (total { $0.policyRejected += h } - total { $0.policyRejected -= h }) / (2 * h))
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
        let (dChosen, dRejected) = centralDifferences(loss, [pair], pair: 0)
        #expect(abs(result.dPolicyChosen - dChosen) <= 1e-7 * max(1, abs(dChosen)), "\(result.dPolicyChosen) vs \(dChosen)")
        #expect(abs(result.dPolicyRejected - dRejected) <= 1e-7 * max(1, abs(dRejected)),
                "\(result.dPolicyRejected) vs \(dRejected)")
    }

    /// The same over a whole micro-batch: each pair's derivatives are those of the batch's total loss, which for the
    /// `aot` losses includes the terms of the other pairs its log-probs were matched with.
    @Test(arguments: DPOLossType.allCases)
    func batchDerivativesMatchCentralDifferencesOfTheTotal(_ type: DPOLossType) {
        let loss = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)])
        let pairs = PairInputs.crossed
        let results = loss.evaluate(pairs.map(\.logProbs), meanChosenTokens: 9.5)
        for index in pairs.indices {
            let (dChosen, dRejected) = centralDifferences(loss, pairs, pair: index)
            #expect(abs(results[index].dPolicyChosen - dChosen) <= 1e-7 * max(1, abs(dChosen)),
                    "pair \(index): \(results[index].dPolicyChosen) vs \(dChosen)")
            #expect(abs(results[index].dPolicyRejected - dRejected) <= 1e-7 * max(1, abs(dRejected)),
                    "pair \(index): \(results[index].dPolicyRejected) vs \(dRejected)")
        }
    }

    /// Every loss type that accepts an f-divergence, under each divergence: value against the formula on the scores,
    /// derivatives against central differences.
    @Test(arguments: FDivergence.allCases, DPOLossType.allCases.filter(\.acceptsFDivergence))
    func fDivergenceScoresReplaceTheLogRatios(_ divergence: FDivergence, _ type: DPOLossType) {
        for alpha in divergence == .alphaDivergence ? [0.5, 1.7, -0.3] : [0.5] {
            let loss = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)], divergence: divergence,
                               alphaDivergenceCoefficient: alpha)
            for pair in PairInputs.nearReference {
                let result = evaluate(loss, pair)
                let expected = expectedLoss(type, pair, beta: 0.2, epsilon: 0.1, divergence: divergence, alpha: alpha)
                #expect(abs(result.loss - expected) <= 1e-10 * max(1, abs(expected)), "α \(alpha): \(result.loss) vs \(expected)")
                #expect(result.chosenReward == 0.2 * (pair.policyChosen - pair.referenceChosen), "rewards keep the log-ratio")
                let (dChosen, dRejected) = centralDifferences(loss, [pair], pair: 0)
                #expect(abs(result.dPolicyChosen - dChosen) <= 1e-7 * max(1, abs(dChosen)),
                        "α \(alpha): \(result.dPolicyChosen) vs \(dChosen)")
                #expect(abs(result.dPolicyRejected - dRejected) <= 1e-7 * max(1, abs(dRejected)),
                        "α \(alpha): \(result.dPolicyRejected) vs \(dRejected)")
            }
        }
    }

    /// Loss types that TRL refuses with an f-divergence keep their log-ratios under one (and α → 1 is reverse KL).
    @Test func fDivergenceLeavesTheOtherLossesAndTheLimitAlone() {
        for type in DPOLossType.allCases where !type.acceptsFDivergence {
            let plain = DPOLoss(beta: 0.2, terms: [WeightedLossTerm(type)])
            var forward = plain
            forward.divergence = .forwardKL
            #expect(PairInputs.moderate.allSatisfy { evaluate(plain, $0) == evaluate(forward, $0) }, "\(type)")
        }
        let alphaOne = DPOLoss(beta: 0.2, divergence: .alphaDivergence, alphaDivergenceCoefficient: 1)
        #expect(PairInputs.moderate.allSatisfy { evaluate(alphaOne, $0) == evaluate(DPOLoss(beta: 0.2), $0) })
        #expect(DPOLossType.allCases.filter(\.acceptsFDivergence).map(\.rawValue).sorted()
                == ["discopop", "exo_pair", "hinge", "ipo", "robust", "sft", "sigmoid", "sigmoid_norm"])
    }

    /// α-divergence caps (α − 1)·a at 80, as TRL does: beyond it the score is constant, so its derivative is 0.
    @Test func alphaDivergenceExponentIsCapped() {
        let loss = DPOLoss(beta: 0.2, divergence: .alphaDivergence, alphaDivergenceCoefficient: 0)
        let capped = evaluate(loss, PairInputs(policyChosen: -95, policyRejected: -10, referenceChosen: -10,
                                               referenceRejected: -10))
        #expect(capped.loss.isFinite && capped.dPolicyChosen == 0 && capped.dPolicyRejected != 0)
    }

    /// AOT over a micro-batch: the sorted policy margins against the sorted reference margins (paired), or the sorted
    /// chosen against the sorted rejected log-ratios (unpaired), written out with sorting.
    @Test func aotMatchesTheSortedMarginsOfTheMicroBatch() {
        let pairs = PairInputs.crossed
        let (beta, epsilon) = (0.2, 0.1)
        func conservative(_ x: Double) -> Double {
            -(1 - epsilon) * log(1 / (1 + exp(-x))) - epsilon * log(1 / (1 + exp(x)))
        }
        let policyMargins = pairs.map { $0.policyChosen - $0.policyRejected }.sorted()
        let referenceMargins = pairs.map { $0.referenceChosen - $0.referenceRejected }.sorted()
        let chosen = pairs.map { $0.policyChosen - $0.referenceChosen }.sorted()
        let rejected = pairs.map { $0.policyRejected - $0.referenceRejected }.sorted()
        let expected: [DPOLossType: Double] = [
            .aot: zip(policyMargins, referenceMargins).reduce(0) { $0 + conservative(beta * ($1.0 - $1.1)) },
            .aotUnpaired: zip(chosen, rejected).reduce(0) { $0 + conservative(beta * ($1.0 - $1.1)) },
        ]
        for (type, total) in expected {
            let loss = DPOLoss(beta: beta, labelSmoothing: epsilon, terms: [WeightedLossTerm(type)])
            let results = loss.evaluate(pairs.map(\.logProbs), meanChosenTokens: 9.5)
            #expect(abs(results.reduce(0) { $0 + $1.loss } - total) < 1e-12, "\(type)")
            // Sorting across pairs makes the batch loss differ from the pairs evaluated one by one.
            #expect(abs(pairs.reduce(0) { $0 + evaluate(loss, $1).loss } - total) > 1e-3, "\(type)")
        }
    }

    /// DiscoPOP at z = 0 blends the two halves equally: ½·log 2 + ½·e⁰.
    @Test func discopopAtZeroMarginIsTheEvenBlend() {
        let result = evaluate(DPOLoss(beta: 0.5, terms: [WeightedLossTerm(.discopop)]), PairInputs.moderate[2])
        #expect(abs(result.loss - (0.5 * log(2) + 0.5)) < 1e-15)
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
            sft.evaluate([PairLogProbs(policyChosen: logProb, policyRejected: -50, referenceChosen: -9, referenceRejected: -8,
                                       chosenTokens: count, rejectedTokens: 5)],
                         meanChosenTokens: normalization.meanChosenTokens)[0]
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

    /// LD-DPO: a and b, the rewards and `logps/*` read shared + α·tail (rounded to Float, as every log-prob sum is),
    /// while `sft` keeps the plain sum. By the chain rule the derivative with respect to the sum is the plain loss's at
    /// the weighted point (every token), and a tail token adds −(1 − α) times the part that came through a and b.
    @Test(arguments: [DPOLossType.sigmoid, .ipo, .aot, .sft, .bcoPair])
    func lengthDesensitizationWeighsTheVerboseTail(_ type: DPOLossType) {
        let alpha = 0.3
        let loss = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)], verboseTailWeight: alpha)
        let plain = DPOLoss(beta: 0.2, labelSmoothing: 0.1, terms: [WeightedLossTerm(type)])
        for pair in PairInputs.moderate {
            var logProbs = pair.logProbs
            logProbs.policyChosenTail = 0.25 * pair.policyChosen
            logProbs.policyRejectedTail = 0.1 * pair.policyRejected
            let result = loss.evaluate([logProbs], meanChosenTokens: pair.meanChosenTokens)[0]

            var weighted = pair
            weighted.policyChosen = Double(Float(pair.policyChosen - (1 - alpha) * logProbs.policyChosenTail))
            weighted.policyRejected = Double(Float(pair.policyRejected - (1 - alpha) * logProbs.policyRejectedTail))
            let expected = evaluate(plain, type == .sft ? pair : weighted)
            #expect(abs(result.loss - expected.loss) <= 1e-12 * max(1, abs(expected.loss)))
            #expect(result.chosenReward == 0.2 * (weighted.policyChosen - pair.referenceChosen))
            #expect(result.chosenLogProb == weighted.policyChosen && result.rejectedLogProb == weighted.policyRejected)
            #expect(abs(result.dPolicyChosen - expected.dPolicyChosen) <= 1e-12)
            #expect(abs(result.dPolicyRejected - expected.dPolicyRejected) <= 1e-12)
            let throughRatios = type == .sft ? (0, 0) : (expected.dPolicyChosen, expected.dPolicyRejected)
            #expect(abs(result.dPolicyChosenTail + (1 - alpha) * throughRatios.0) <= 1e-12)
            #expect(abs(result.dPolicyRejectedTail + (1 - alpha) * throughRatios.1) <= 1e-12)
        }
    }

    /// WPO: each pair's loss and derivatives are the unweighted ones times w(y_w)·w(y_l), w(y) = exp(mean per-token
    /// log π − log Σ π²), a constant; `sft` is scaled by the micro-batch's mean weight instead.
    @Test func wpoScalesEachPairByItsWeight() {
        let pairs = PairInputs.crossed.enumerated().map { index, pair in
            var logProbs = pair.logProbs
            logProbs.chosenLogSumSquaredProbs = pair.policyChosen * (0.6 + 0.1 * Double(index))
            logProbs.rejectedLogSumSquaredProbs = pair.policyRejected * 0.9
            return logProbs
        }
        let weights = pairs.map { pair in
            exp((pair.policyChosen - pair.chosenLogSumSquaredProbs) / Double(pair.chosenTokens))
                * exp((pair.policyRejected - pair.rejectedLogSumSquaredProbs) / Double(pair.rejectedTokens))
        }
        let meanWeight = weights.reduce(0, +) / Double(weights.count)
        for type in [DPOLossType.sigmoid, .ipo, .hinge, .sft] {
            let plain = DPOLoss(beta: 0.2, terms: [WeightedLossTerm(type, weight: 0.7)])
            var weighted = plain
            weighted.wpoWeighting = true
            let unweighted = plain.evaluate(pairs, meanChosenTokens: 9.5)
            for (index, result) in weighted.evaluate(pairs, meanChosenTokens: 9.5).enumerated() {
                let weight = type == .sft ? meanWeight : weights[index]
                #expect(abs(result.loss - weight * unweighted[index].loss) < 1e-12 * max(1, abs(result.loss)), "\(type)")
                #expect(abs(result.dPolicyChosen - weight * unweighted[index].dPolicyChosen) < 1e-12, "\(type)")
                #expect(abs(result.dPolicyRejected - weight * unweighted[index].dPolicyRejected) < 1e-12, "\(type)")
                #expect(result.chosenReward == unweighted[index].chosenReward)
            }
        }
        #expect(weights.allSatisfy { $0 > 0 && $0 != 1 })
    }

}

@Suite struct PreferenceMetricSumsTests {
    @Test func meansUseTRLNamesAndSumsAddExactly() {
        let loss = DPOLoss(beta: 0.1)
        var a = PreferenceMetricSums()
        a.add(evaluate(loss, PairInputs(policyChosen: -1, policyRejected: -3, referenceChosen: -2, referenceRejected: -2)))
        var b = PreferenceMetricSums()
        b.add(evaluate(loss, PairInputs(policyChosen: -4, policyRejected: -1, referenceChosen: -2, referenceRejected: -2)))
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
