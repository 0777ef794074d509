import Foundation

/// One step of transformers' logits processing: a function of the next-token scores and the sequence so far, with
/// the same arithmetic as its `LogitsProcessor` of that name (in Float, as transformers runs them on float32 scores).
/// Removed tokens get a score of −∞, so softmax gives them probability 0. `GenerationSettings.logitsProcessors`
/// lists them in the order `generate` applies them.
public enum LogitsProcessor: Equatable, Sendable {
    /// `RepetitionPenaltyLogitsProcessor`: the score s of every token in the sequence (prompt included) becomes s / p
    /// when positive and s · p otherwise, once however often the token occurs.
    case repetitionPenalty(Float)
    /// `TemperatureLogitsWarper`: every score divided by the temperature.
    case temperature(Float)
    /// `TopKLogitsWarper`: scores below the k-th largest are removed (ties with it are kept); k is at least 1.
    case topK(Int)
    /// `TopPLogitsWarper`: in increasing order of score, tokens are removed while their cumulative softmax probability
    /// stays at or below 1 − p; the largest is always kept.
    case topP(Double)

    /// Applies the processor to `scores` [vocab] of the token after `sequence`.
    public func apply(to scores: inout [Float], sequence: [Int32]) {
        switch self {
        case .repetitionPenalty(let penalty):
            for token in Set(sequence) where scores.indices.contains(Int(token)) {
                let score = scores[Int(token)]
                scores[Int(token)] = score < 0 ? score * penalty : score / penalty
            }
        case .temperature(let temperature):
            for index in scores.indices { scores[index] /= temperature }
        case .topK(let k):
            let kept = min(max(k, 1), scores.count)
            guard kept < scores.count else { return }
            let threshold = scores.sorted(by: >)[kept - 1]
            for index in scores.indices where scores[index] < threshold { scores[index] = -.infinity }
        case .topP(let p):
            // Ascending by score; equal scores by index, so the result never depends on the sort's tie order.
            let ascending = scores.indices.sorted { (scores[$0], $0) < (scores[$1], $1) }
            let probabilities = softmax(ascending.map { scores[$0] })
            let removable = Float(1 - p)
            var cumulative: Float = 0
            for (rank, index) in ascending.enumerated().dropLast() {
                cumulative += probabilities[rank]
                if cumulative <= removable { scores[index] = -.infinity }
            }
        }
    }
}

/// softmax(scores) in Float: exp(s − max) / Σ exp(s − max).
func softmax(_ scores: [Float]) -> [Float] {
    let maximum = scores.max() ?? 0
    let exponentials = scores.map { exp($0 - maximum) }
    let total = exponentials.reduce(0, +)
    return exponentials.map { $0 / total }
}
