/// transformers' `stop_strings`: generation ends with the token that completes one of the strings in the text. As
/// there, a match must end inside the newest token's text (anything earlier was checked when its tokens came), may
/// begin in any earlier token, prompt included, and stays in the output.
///
/// Only the last tokens are decoded each step: as many as the longest string has UTF-8 bytes, plus one, enough for
/// any match that ends in the newest token, since every token decodes to at least one byte.
public struct StopStrings: Sendable {
    public let strings: [String]
    private let windowTokens: Int

    public init(_ strings: [String]) {
        self.strings = strings
        windowTokens = (strings.map(\.utf8.count).max() ?? 0) + 1
    }

    /// Whether `sequence`'s newest token completes one of the strings; `decode` turns token ids into text.
    public func areCompleted(by sequence: [Int32], decode: ([Int32]) -> String) -> Bool {
        guard !strings.isEmpty, !sequence.isEmpty else { return false }
        let window = Array(sequence.suffix(windowTokens))
        let text = Array(decode(window).unicodeScalars)
        let before = Array(decode(Array(window.dropLast())).unicodeScalars)
        // The newest token's text starts where the text without it stops agreeing with the text with it.
        let newestStart = zip(text, before).prefix { $0 == $1 }.count
        return strings.contains { string in
            let target = Array(string.unicodeScalars)
            // A match ending after newestStart starts at or after newestStart − count + 1.
            let firstStart = max(0, newestStart - target.count + 1)
            return stride(from: firstStart, through: text.count - target.count, by: 1).contains { start in
                text[start ..< start + target.count].elementsEqual(target)
            }
        }
    }
}
