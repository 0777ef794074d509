/// Right-padded token rows with their score masks, row-major `[2·pairs, length]`.
/// Rows `0..<pairs` are prompt+chosen of pair `i`; rows `pairs..<2·pairs` are prompt+rejected of pair `i − pairs`
/// (TRL's concatenated layout). `scoreMask` is 1 exactly on completion tokens (including a kept EOS) and 0 on prompt
/// tokens and padding.
public struct PaddedPreferenceBatch: Equatable, Sendable {
    public let pairs: Int
    /// Tokens per row: the longest prompt+completion in the batch.
    public let length: Int
    public var tokens: [Int32]
    public var scoreMask: [UInt8]

    /// Number of rows, `2 · pairs`.
    public var rows: Int { 2 * pairs }
}

/// Lays out `pairs` as a `PaddedPreferenceBatch`, padding every row on the right with `padTokenID` to the longest row.
/// Pairs from `tokenizePairs` have a non-empty prompt, so column 0 is never scored.
public func padPreferenceBatch(_ pairs: [TokenizedPair], padTokenID: Int32) -> PaddedPreferenceBatch {
    let rows: [(prompt: [Int32], completion: [Int32])] =
        pairs.map { ($0.prompt, $0.chosen) } + pairs.map { ($0.prompt, $0.rejected) }
    let length = rows.map { $0.prompt.count + $0.completion.count }.max() ?? 0
    var tokens = [Int32](repeating: padTokenID, count: rows.count * length)
    var scoreMask = [UInt8](repeating: 0, count: rows.count * length)
    for (rowIndex, row) in rows.enumerated() {
        let rowStart = rowIndex * length
        let completionStart = rowStart + row.prompt.count
        tokens.replaceSubrange(rowStart..<completionStart, with: row.prompt)
        tokens.replaceSubrange(completionStart..<(completionStart + row.completion.count), with: row.completion)
        for index in completionStart..<(completionStart + row.completion.count) { scoreMask[index] = 1 }
    }
    return PaddedPreferenceBatch(pairs: pairs.count, length: length, tokens: tokens, scoreMask: scoreMask)
}
