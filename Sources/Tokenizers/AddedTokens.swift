import JSON

/// One entry of tokenizer.json's `added_tokens`.
struct AddedToken {
    let id: Int32
    let content: [Unicode.Scalar]
    /// Special tokens (BOS, EOS, chat markers) can be skipped when decoding.
    let special: Bool
    /// The match also swallows the whitespace before it…
    let lstrip: Bool
    /// …or after it.
    let rstrip: Bool
    /// Matches only where no word character (`\w`) touches it on either side.
    let singleWord: Bool
    /// Matched in the normalized text (with its content normalized too) instead of the raw input.
    let normalized: Bool

    init(_ field: JSONField) throws {
        id = try field.required("id").tokenID()
        let contentField = try field.required("content")
        content = Array(try contentField.string().unicodeScalars)
        guard !content.isEmpty else { throw contentField.error("an added token cannot be empty") }
        special = try field.bool("special", default: false)
        lstrip = try field.bool("lstrip", default: false)
        rstrip = try field.bool("rstrip", default: false)
        singleWord = try field.bool("single_word", default: false)
        normalized = try field.bool("normalized", default: !special)
    }

    var text: String {
        var string = ""
        string.unicodeScalars.append(contentsOf: content)
        return string
    }
}

/// What the added-token pass leaves: text still to be tokenized by the model, or an added token's id.
enum Segment {
    case text(TextPiece)
    case token(Int32)
}

/// Finds added tokens in text the way `tokenizers`' AddedVocabulary does: leftmost-longest matches over the token
/// contents, scanning on from the end of each match (a `single_word` match that is rejected is skipped over, not
/// searched again), with `lstrip`/`rstrip` widening a match over adjacent whitespace.
struct AddedTokenMatcher {
    /// Token patterns by first scalar, longest first.
    private let candidates: [Unicode.Scalar: [(pattern: [Unicode.Scalar], token: AddedToken)]]
    /// ASCII scalars that start some pattern, so that most positions are rejected without hashing.
    private let asciiStarts: [Bool]
    private let hasNonASCIIStarts: Bool

    init(_ patterns: [(pattern: [Unicode.Scalar], token: AddedToken)]) {
        candidates = Dictionary(grouping: patterns.filter { !$0.pattern.isEmpty }, by: { $0.pattern[0] })
            .mapValues { $0.sorted { $0.pattern.count > $1.pattern.count } }
        var asciiStarts = [Bool](repeating: false, count: 128)
        for first in candidates.keys where first.isASCII { asciiStarts[Int(first.value)] = true }
        self.asciiStarts = asciiStarts
        hasNonASCIIStarts = candidates.keys.contains { !$0.isASCII }
    }

    var isEmpty: Bool { candidates.isEmpty }

    /// Splits `piece` into text and token segments; empty text segments are dropped.
    func split(_ piece: TextPiece, into segments: inout [Segment]) {
        let text = piece.scalars
        guard !candidates.isEmpty else {
            if !text.isEmpty { segments.append(.text(piece)) }
            return
        }
        var emitted = 0  // end of the last segment written
        var position = 0
        while position < text.count {
            guard let match = longestMatch(in: text, at: position) else {
                position += 1
                continue
            }
            var start = position
            var end = position + match.pattern.count
            position = end
            let token = match.token
            if token.singleWord {
                let wordBefore = start > 0 && ScalarClass.isWordCharacter(text[start - 1])
                let wordAfter = end < text.count && ScalarClass.isWordCharacter(text[end])
                if wordBefore || wordAfter { continue }
            }
            if token.lstrip {
                while start > emitted, ScalarClass.isWhitespace(text[start - 1]) { start -= 1 }
            }
            if token.rstrip {
                while end < text.count, ScalarClass.isWhitespace(text[end]) { end += 1 }
                position = end
            }
            if emitted < start {
                segments.append(.text(TextPiece(scalars: Array(text[emitted..<start]),
                                                startsText: piece.startsText && emitted == 0)))
            }
            segments.append(.token(token.id))
            emitted = end
        }
        if emitted < text.count {
            segments.append(.text(TextPiece(scalars: Array(text[emitted...]), startsText: piece.startsText && emitted == 0)))
        }
    }

    private func longestMatch(in text: [Unicode.Scalar], at position: Int) -> (pattern: [Unicode.Scalar], token: AddedToken)? {
        let first = text[position]
        guard first.isASCII ? asciiStarts[Int(first.value)] : hasNonASCIIStarts, let options = candidates[first] else {
            return nil
        }
        return options.first { option in
            position + option.pattern.count <= text.count
                && text[position..<position + option.pattern.count].elementsEqual(option.pattern)
        }
    }
}

/// The added tokens of a tokenizer and the two passes that find them: first the non-normalized ones in the raw
/// input, then — after each remaining stretch is normalized — the normalized ones.
struct AddedVocabulary {
    let tokens: [AddedToken]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher

    init(_ tokens: [AddedToken], normalizer: Normalizer?) {
        self.tokens = tokens
        rawMatcher = AddedTokenMatcher(tokens.filter { !$0.normalized }.map { ($0.content, $0) })
        normalizedMatcher = AddedTokenMatcher(tokens.filter(\.normalized).map { token in
            (normalizer?.apply(token.content) ?? token.content, token)
        })
    }

    /// Added tokens found and the text between them normalized.
    func extractAndNormalize(_ text: [Unicode.Scalar], normalizer: Normalizer?) -> [Segment] {
        var raw: [Segment] = []
        rawMatcher.split(TextPiece(scalars: text, startsText: true), into: &raw)
        guard normalizer != nil || !normalizedMatcher.isEmpty else { return raw }
        var segments: [Segment] = []
        segments.reserveCapacity(raw.count)
        for segment in raw {
            guard case .text(var piece) = segment else {
                segments.append(segment)
                continue
            }
            if let normalizer { piece.scalars = normalizer.apply(piece.scalars) }
            normalizedMatcher.split(piece, into: &segments)
        }
        return segments
    }
}
