import Foundation
import JSON

/// The pattern of a `Replace` normalizer or decoder: a literal string or a regex (tokenizer.json's
/// `{"String": …}` / `{"Regex": …}`). Matching is on Unicode scalars, never on canonically equivalent text.
enum ReplacePattern {
    case literal([Unicode.Scalar])
    case regex(SplitPattern)

    init(_ field: JSONField) throws {
        if let literal = try field.optional("String") {
            let scalars = Array(try literal.string().unicodeScalars)
            guard !scalars.isEmpty else { throw literal.error("empty Replace pattern") }
            self = .literal(scalars)
        } else if let regex = try field.optional("Regex") {
            self = .regex(try SplitPattern(compiling: regex))
        } else {
            throw field.error("expected {\"String\": …} or {\"Regex\": …}")
        }
    }

    /// Non-overlapping occurrences, left to right.
    func matches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .regex(let pattern): return pattern.matches(in: text)
        case .literal(let needle):
            var ranges: [Range<Int>] = []
            var start = 0
            while start + needle.count <= text.count {
                if text[start] == needle[0], text[start..<start + needle.count].elementsEqual(needle) {
                    ranges.append(start..<start + needle.count)
                    start += needle.count
                } else {
                    start += 1
                }
            }
            return ranges
        }
    }

    func replaceAll(in text: [Unicode.Scalar], with content: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let ranges = matches(in: text)
        guard !ranges.isEmpty else { return text }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var copied = 0
        for range in ranges {
            result.append(contentsOf: text[copied..<range.lowerBound])
            result.append(contentsOf: content)
            copied = range.upperBound
        }
        result.append(contentsOf: text[copied...])
        return result
    }
}

extension SplitPattern {
    /// A `{"Regex": "…"}` pattern value, with a compile failure reported at its key.
    init(compiling field: JSONField) throws {
        let source = try field.string()
        do {
            try self.init(source: source)
        } catch {
            throw field.error("cannot compile regex \(source): \(error)")
        }
    }
}

/// A tokenizer.json `normalizer`: applied to the text between added tokens before pre-tokenization.
indirect enum Normalizer {
    case unicode(UnicodeForm)
    /// Prepends its text to any non-empty input (Llama-2's `▁`).
    case prepend([Unicode.Scalar])
    case replace(ReplacePattern, content: [Unicode.Scalar])
    case sequence([Normalizer])

    enum UnicodeForm: String { case NFC, NFD, NFKC, NFKD }

    init(_ field: JSONField) throws {
        let type = try field.componentType()
        switch type {
        case "NFC", "NFD", "NFKC", "NFKD": self = .unicode(UnicodeForm(rawValue: type)!)
        case "Prepend": self = .prepend(Array(try field.string("prepend").unicodeScalars))
        case "Replace":
            self = .replace(try ReplacePattern(field.required("pattern")),
                            content: Array(try field.string("content").unicodeScalars))
        case "Sequence": self = .sequence(try field.required("normalizers").array().map(Normalizer.init))
        default: throw field.unsupported("normalizer", type: type)
        }
    }

    func apply(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .unicode(let form):
            if form == .NFC && text.allSatisfy(Self.isNFCStable) { return text }
            var string = ""
            string.unicodeScalars.append(contentsOf: text)
            let normalized: String
            switch form {
            case .NFC: normalized = string.precomposedStringWithCanonicalMapping
            case .NFD: normalized = string.decomposedStringWithCanonicalMapping
            case .NFKC: normalized = string.precomposedStringWithCompatibilityMapping
            case .NFKD: normalized = string.decomposedStringWithCompatibilityMapping
            }
            return Array(normalized.unicodeScalars)
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return pattern.replaceAll(in: text, with: content)
        case .sequence(let normalizers):
            return normalizers.reduce(text) { $1.apply($0) }
        }
    }

    /// Scalars in blocks where every character is unchanged by NFC, has combining class 0 and never composes with
    /// what precedes it (NFC_Quick_Check=Yes): text made only of these is already NFC, which spares the Foundation
    /// round trip for almost all real text (ASCII/Latin, CJK ideographs, Hangul syllables, emoji).
    static func isNFCStable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x300, 0x4E00..<0xA000, 0xAC00..<0xD7A4, 0x1F300..<0x1FB00: true
        default: false
        }
    }
}
