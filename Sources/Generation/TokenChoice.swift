import Foundation
import SeededRandom

/// How the next token is picked from the processed scores: the largest (greedy decoding), or a draw from their
/// softmax (`do_sample`), as transformers' `generate` does after its logits processors.
enum TokenChoice {
    case greedy
    case sample(Xoshiro256StarStar)

    /// The first index of the largest score (as `torch.argmax`), or a draw from softmax(scores): one uniform number
    /// u in [0, 1) and the first token whose cumulative probability exceeds u. Probabilities are summed in Double;
    /// tokens removed by a processor (−∞) have probability 0 and are never drawn.
    mutating func next(_ scores: [Float]) -> Int32 {
        switch self {
        case .greedy:
            var best = 0
            for index in scores.indices where scores[index] > scores[best] { best = index }
            return Int32(best)
        case .sample(var random):
            defer { self = .sample(random) }
            let maximum = Double(scores.max() ?? 0)
            let weights = scores.map { Foundation.exp(Double($0) - maximum) }
            let target = Double(random.next() >> 11) * 0x1p-53 * weights.reduce(0, +)
            var cumulative = 0.0
            for (index, weight) in weights.enumerated() where weight > 0 {
                cumulative += weight
                if cumulative > target { return Int32(index) }
            }
            // Rounding left the target at the very top: the last token that can be drawn.
            return Int32(weights.lastIndex { $0 > 0 } ?? 0)
        }
    }
}
