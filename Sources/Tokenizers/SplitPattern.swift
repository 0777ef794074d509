/// Unicode classes as the `tokenizers` library's Oniguruma regexes see them (`\s`, `\p{L}`, `\p{N}`), with an
/// ASCII fast path.
enum ScalarClass {
    /// `\s`: U+0009–U+000D, U+0085 and the separators Zs/Zl/Zp — exactly the Unicode White_Space property.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return scalar.value == 0x20 || (0x09...0x0D).contains(scalar.value) }
        return scalar.properties.isWhitespace
    }

    /// `\p{L}`: general category Lu, Ll, Lt, Lm or Lo.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 {
            return (0x41...0x5A).contains(scalar.value) || (0x61...0x7A).contains(scalar.value)
        }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`: general category Nd, Nl or No.
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return (0x30...0x39).contains(scalar.value) }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `[^\s\p{L}\p{N}]`: punctuation, symbols, emoji, marks, controls that are not whitespace…
    static func isOther(_ scalar: Unicode.Scalar) -> Bool {
        !isWhitespace(scalar) && !isLetter(scalar) && !isNumber(scalar)
    }

    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { scalar == "\n" || scalar == "\r" }

    /// Rust regex `\w` (used by added tokens' `single_word`): alphabetic, marks, decimal digits, connector
    /// punctuation and join controls.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// The regex of a `Split` pre-tokenizer (or the one built into `ByteLevel`).
///
/// The three patterns real byte-level tokenizers use are recognized by their exact text and run by hand-written
/// scanners that follow Oniguruma's leftmost-first alternation and backtracking; any other pattern runs on Swift
/// `Regex` with Unicode-scalar semantics (slower; `\s` there is also White_Space).
enum SplitPattern {
    /// GPT-2's pattern (also the one `ByteLevel(use_regex: true)` applies).
    static let gpt2Source = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama-3's pattern: case-insensitive contractions, one optional non-letter before a word, digit groups of 1–3.
    static let llama3Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern: Llama-3's with single digits.
    static let qwen2Source = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    case gpt2
    /// The Llama-3 family; `maxDigits` is 3 for Llama-3 and 1 for Qwen2.
    case llama3(maxDigits: Int)
    case regex(Regex<AnyRegexOutput>)

    /// The scanner for a known pattern, else the pattern compiled with Swift Regex (`useScanners: false` forces the
    /// regex path; tests use it to check the scanners against it).
    init(source: String, useScanners: Bool = true) throws {
        switch source {
        case Self.gpt2Source where useScanners: self = .gpt2
        case Self.llama3Source where useScanners: self = .llama3(maxDigits: 3)
        case Self.qwen2Source where useScanners: self = .llama3(maxDigits: 1)
        default: self = .regex(try Regex(source).matchingSemantics(.unicodeScalar))
        }
    }

    /// The non-overlapping matches in `text`, left to right, as half-open scalar index ranges.
    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .gpt2: return Self.scanAll(text, matchLength: Self.gpt2MatchLength)
        case .llama3(let maxDigits):
            return Self.scanAll(text) { Self.llama3MatchLength($0, at: $1, maxDigits: maxDigits) }
        case .regex(let regex): return Self.regexMatches(regex, in: text)
        }
    }

    /// The known patterns match at every position (their alternatives cover every scalar), so scanning is a walk
    /// of consecutive matches.
    private static func scanAll(_ text: [Unicode.Scalar], matchLength: ([Unicode.Scalar], Int) -> Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        while start < text.count {
            let length = matchLength(text, start)
            ranges.append(start..<start + length)
            start += length
        }
        return ranges
    }

    /// The end of the run of scalars satisfying `predicate` starting at `start`.
    private static func runEnd(_ text: [Unicode.Scalar], from start: Int, limit: Int = .max,
                               while predicate: (Unicode.Scalar) -> Bool) -> Int {
        var end = start
        while end < text.count, end - start < limit, predicate(text[end]) { end += 1 }
        return end
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `start` (an apostrophe), optionally case-insensitive; the length or 0.
    /// Case-insensitive matching folds like Oniguruma: ASCII case plus U+017F LATIN SMALL LETTER LONG S → s.
    private static func contractionLength(_ text: [Unicode.Scalar], at start: Int, caseInsensitive: Bool) -> Int {
        func letter(_ offset: Int) -> Unicode.Scalar? {
            guard start + offset < text.count else { return nil }
            let scalar = text[start + offset]
            guard caseInsensitive else { return scalar }
            if scalar == "\u{17F}" { return "s" }
            return scalar.isASCII ? Unicode.Scalar(UInt8(ascii: scalar) | 0x20) : scalar
        }
        guard text[start] == "'", let first = letter(1) else { return 0 }
        switch first {
        case "s", "t", "m", "d": return 2
        case "r", "v": return letter(2) == "e" ? 3 : 0
        case "l": return letter(2) == "l" ? 3 : 0
        default: return 0
        }
    }

    /// `\s+(?!\S)|\s+` at `start`, a whitespace scalar: a whitespace run leaves its last scalar to the next word
    /// when a non-space follows it (unless the run is that single scalar).
    private static func whitespaceLength(_ text: [Unicode.Scalar], at start: Int) -> Int {
        let end = runEnd(text, from: start, while: ScalarClass.isWhitespace)
        if end == text.count || end - start == 1 { return end - start }
        return end - 1 - start
    }

    private static func gpt2MatchLength(_ text: [Unicode.Scalar], at start: Int) -> Int {
        let contraction = contractionLength(text, at: start, caseInsensitive: false)
        if contraction > 0 { return contraction }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        // A leading space joins the run only when the next scalar starts one (a space itself is in none of them).
        let afterSpace = text[start] == " " && start + 1 < text.count ? start + 1 : start
        for isMember in [ScalarClass.isLetter, ScalarClass.isNumber, ScalarClass.isOther] {
            if isMember(text[afterSpace]) { return runEnd(text, from: afterSpace, while: isMember) - start }
        }
        return whitespaceLength(text, at: start)
    }

    private static func llama3MatchLength(_ text: [Unicode.Scalar], at start: Int, maxDigits: Int) -> Int {
        let contraction = contractionLength(text, at: start, caseInsensitive: true)
        if contraction > 0 { return contraction }
        let first = text[start]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if ScalarClass.isLetter(first) { return runEnd(text, from: start, while: ScalarClass.isLetter) - start }
        if !ScalarClass.isLineBreak(first), !ScalarClass.isNumber(first), start + 1 < text.count,
           ScalarClass.isLetter(text[start + 1]) {
            return runEnd(text, from: start + 1, while: ScalarClass.isLetter) - start
        }
        // `\p{N}{1,maxDigits}`
        if ScalarClass.isNumber(first) {
            return runEnd(text, from: start, limit: maxDigits, while: ScalarClass.isNumber) - start
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let afterSpace = first == " " && start + 1 < text.count && ScalarClass.isOther(text[start + 1]) ? start + 1 : start
        if ScalarClass.isOther(text[afterSpace]) {
            let symbolsEnd = runEnd(text, from: afterSpace, while: ScalarClass.isOther)
            return runEnd(text, from: symbolsEnd, while: ScalarClass.isLineBreak) - start
        }
        // `\s*[\r\n]+`: the whitespace run up to and including its last line break.
        let spaceEnd = runEnd(text, from: start, while: ScalarClass.isWhitespace)
        if let lastBreak = text[start..<spaceEnd].lastIndex(where: ScalarClass.isLineBreak) {
            return lastBreak + 1 - start
        }
        return whitespaceLength(text, at: start)
    }

    private static func regexMatches(_ regex: Regex<AnyRegexOutput>, in text: [Unicode.Scalar]) -> [Range<Int>] {
        var string = ""
        string.unicodeScalars.append(contentsOf: text)
        let scalars = string.unicodeScalars
        var ranges: [Range<Int>] = []
        var offset = 0
        var lastIndex = scalars.startIndex
        for match in string.matches(of: regex) where !match.range.isEmpty {
            let lower = offset + scalars.distance(from: lastIndex, to: match.range.lowerBound)
            let upper = lower + scalars.distance(from: match.range.lowerBound, to: match.range.upperBound)
            ranges.append(lower..<upper)
            offset = upper
            lastIndex = match.range.upperBound
        }
        return ranges
    }
}
