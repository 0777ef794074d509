/// One prompt+completion row as TRL's collator (`DataCollatorForPreference`) keeps it after `max_length` truncation.
public struct PreferenceRow: Equatable, Sendable {
    public var tokens: [Int32]
    /// How many leading `tokens` are prompt; the rest are completion.
    public var promptTokens: Int

    public init(tokens: [Int32], promptTokens: Int) {
        self.tokens = tokens
        self.promptTokens = promptTokens
    }

    /// Cuts `prompt + completion` to `maxLength` tokens: `keep_start` keeps `row[:maxLength]`, `keep_end`
    /// keeps `row[-maxLength:]`.
    init(prompt: [Int32], completion: [Int32], maxLength: Int, truncationMode: TruncationMode) {
        let row = prompt + completion
        let cut = max(0, row.count - max(0, maxLength))
        switch truncationMode {
        case .keepStart: self.init(tokens: Array(row.dropLast(cut)), promptTokens: min(prompt.count, row.count - cut))
        case .keepEnd: self.init(tokens: Array(row.dropFirst(cut)), promptTokens: max(0, prompt.count - cut))
        }
    }

    /// Position of the first scored token: the first completion token, but never position 0, which has no preceding
    /// token to predict it (a row whose prompt was cut away entirely does not score its first token).
    public var firstScoredPosition: Int { max(promptTokens, 1) }

    /// Completion tokens whose log-prob is summed; 0 when truncation removed the whole completion.
    public var scoredTokens: Int { max(0, tokens.count - firstScoredPosition) }
}

/// A pair's prompt+chosen and prompt+rejected rows after truncation: what a DPO micro-batch is padded from.
public struct PreferenceRows: Equatable, Sendable {
    public var chosen: PreferenceRow
    public var rejected: PreferenceRow

    public init(chosen: PreferenceRow, rejected: PreferenceRow) {
        self.chosen = chosen
        self.rejected = rejected
    }

    /// Tokens of both rows without padding: what TRL's `num_tokens` counts (the attention mask).
    public var tokenCount: Int { chosen.tokens.count + rejected.tokens.count }
}

extension TokenizedPair {
    /// The pair's prompt+chosen and prompt+rejected rows, each cut to `maxLength` on its own, as TRL's collator does:
    /// with `keep_end` the two rows can keep different amounts of prompt.
    public func rows(maxLength: Int, truncationMode: TruncationMode) -> PreferenceRows {
        PreferenceRows(
            chosen: PreferenceRow(prompt: prompt, completion: chosen, maxLength: maxLength, truncationMode: truncationMode),
            rejected: PreferenceRow(prompt: prompt, completion: rejected, maxLength: maxLength, truncationMode: truncationMode))
    }
}

extension TokenizedCompletion {
    /// The example's prompt+completion row cut to `maxLength`, as TRL's SFT collator does.
    public func row(maxLength: Int, truncationMode: TruncationMode) -> PreferenceRow {
        PreferenceRow(prompt: prompt, completion: completion, maxLength: maxLength, truncationMode: truncationMode)
    }
}

/// Right-padded token rows with their score masks, row-major `[rows, length]`. `scoreMask` is 1 exactly on the kept
/// completion tokens (including a kept EOS) from position 1 on, and 0 on prompt tokens, padding and position 0.
public struct PaddedRows: Equatable, Sendable {
    public let rows: Int
    /// Tokens per row: the longest row.
    public let length: Int
    public var tokens: [Int32]
    public var scoreMask: [UInt8]
}

/// Lays out already truncated rows as `PaddedRows`, padded on the right with `padTokenID` to the longest.
public func padRows(_ rows: [PreferenceRow], padTokenID: Int32) -> PaddedRows {
    let length = rows.map(\.tokens.count).max() ?? 0
    var tokens = [Int32](repeating: padTokenID, count: rows.count * length)
    var scoreMask = [UInt8](repeating: 0, count: rows.count * length)
    for (rowIndex, row) in rows.enumerated() {
        let rowStart = rowIndex * length
        tokens.replaceSubrange(rowStart..<(rowStart + row.tokens.count), with: row.tokens)
        for position in row.firstScoredPosition..<max(row.firstScoredPosition, row.tokens.count) {
            scoreMask[rowStart + position] = 1
        }
    }
    return PaddedRows(rows: rows.count, length: length, tokens: tokens, scoreMask: scoreMask)
}

/// A preference batch in TRL's concatenated layout: rows `0..<P` are prompt+chosen of pair `i`, rows `P..<2P`
/// prompt+rejected of pair `i − P`.
public func padPreferenceBatch(_ pairs: [PreferenceRows], padTokenID: Int32) -> PaddedRows {
    padRows(pairs.map(\.chosen) + pairs.map(\.rejected), padTokenID: padTokenID)
}
