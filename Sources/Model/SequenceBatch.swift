/// A batch of right-padded token sequences. scoreMask[b,t] != 0 means token t of sequence b is a completion token
/// whose log-prob (predicted from position t−1) is summed. scoreMask[b,0] must be 0.
public struct SequenceBatch: Sendable {
    public let count: Int
    public let length: Int
    /// Row-major [count, length].
    public var tokens: [Int32]
    /// Row-major [count, length].
    public var scoreMask: [UInt8]

    public init(count: Int, length: Int, tokens: [Int32], scoreMask: [UInt8]) {
        self.count = count
        self.length = length
        self.tokens = tokens
        self.scoreMask = scoreMask
    }

    /// Throws a `ModelError.invalidBatch` naming the first problem that would make the batch unusable for `config`:
    /// wrong array sizes, a length beyond the position table, a token id outside the vocabulary, or a scored first token.
    public func validate(for config: ModelConfig) throws {
        func fail(_ message: String) -> ModelError { .invalidBatch(message) }
        guard count > 0, length > 0 else { throw fail("count (\(count)) and length (\(length)) must be positive") }
        guard length <= config.maxPositions else {
            throw fail("length \(length) exceeds the model's \(config.maxPositions) positions")
        }
        if let window = config.slidingWindow, length > window {
            throw fail("length \(length) exceeds the sliding attention window of \(window) positions")
        }
        guard tokens.count == count * length else {
            throw fail("\(tokens.count) tokens for count \(count) × length \(length)")
        }
        guard scoreMask.count == count * length else {
            throw fail("\(scoreMask.count) mask entries for count \(count) × length \(length)")
        }
        if let index = tokens.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw fail("token \(tokens[index]) at sequence \(index / length), position \(index % length) "
                       + "is outside the vocabulary 0..<\(config.vocabSize)")
        }
        if let sequence = (0 ..< count).first(where: { scoreMask[$0 * length] != 0 }) {
            throw fail("sequence \(sequence) scores position 0, which has no preceding token to predict it")
        }
    }
}

/// Per-sequence results of `CausalLanguageModel.score`; every sum runs over the sequence's scored positions.
public struct SequenceScores: Sendable, Equatable {
    /// Σ of log p(token | preceding tokens).
    public var logProbSums: [Float]
    /// Number of scored tokens.
    public var tokenCounts: [Int]
    /// Σ of the mean logit over the vocabulary (numerator of TRL's logits/* metrics).
    public var meanLogitSums: [Double]
    /// Σ of the entropy −Σ_v p_v·log p_v of the predicted distribution (numerator of TRL's `entropy`).
    public var entropySums: [Double]
    /// Number of positions whose largest logit is the target token (numerator of TRL's `mean_token_accuracy`).
    public var correctTokenCounts: [Int]
    /// Σ of log Σ_v p_v² of the predicted distribution (TRL's `log_sum_sq_probs`, behind WPO's weights).
    public var logSumSquaredProbSums: [Double]
    /// The log-prob of every scored token: sequence by sequence, `tokenCounts[b]` of them in position order (the
    /// per-token values behind `logProbSums`, for LD-DPO's split; what `backward(dTokenLogProbs:)` differentiates).
    public var tokenLogProbs: [Float]

    public init(logProbSums: [Float], tokenCounts: [Int], meanLogitSums: [Double], entropySums: [Double],
                correctTokenCounts: [Int], logSumSquaredProbSums: [Double], tokenLogProbs: [Float]) {
        self.logProbSums = logProbSums
        self.tokenCounts = tokenCounts
        self.meanLogitSums = meanLogitSums
        self.entropySums = entropySums
        self.correctTokenCounts = correctTokenCounts
        self.logSumSquaredProbSums = logSumSquaredProbSums
        self.tokenLogProbs = tokenLogProbs
    }

    /// All zeros for `count` sequences with nothing scored.
    public init(count: Int) {
        self.init(logProbSums: Array(repeating: 0, count: count), tokenCounts: Array(repeating: 0, count: count),
                  meanLogitSums: Array(repeating: 0, count: count), entropySums: Array(repeating: 0, count: count),
                  correctTokenCounts: Array(repeating: 0, count: count),
                  logSumSquaredProbSums: Array(repeating: 0, count: count), tokenLogProbs: [])
    }
}

/// The scored positions of a batch, compacted: entry i is predicted from trunk row `rows[i]` (= b·length + t − 1),
/// its target is token t of sequence `sequences[i]` = b.
struct ScoredPositions {
    var rows: [Int] = []
    var sequences: [Int] = []
    var targets: [Int32] = []

    init(_ batch: SequenceBatch) {
        for b in 0 ..< batch.count {
            for t in 1 ..< batch.length where batch.scoreMask[b * batch.length + t] != 0 {
                rows.append(b * batch.length + t - 1)
                sequences.append(b)
                targets.append(batch.tokens[b * batch.length + t])
            }
        }
    }

    var count: Int { rows.count }
}
