import JSON

/// A stretch of normalized text on its way to the model. `startsText` is true only for the piece that begins at
/// the start of the input (what `Metaspace`'s `prepend_scheme: "first"` looks at).
struct TextPiece {
    var scalars: [Unicode.Scalar]
    var startsText: Bool
}

/// How a pre-tokenizer's matches become pieces (`tokenizers`' SplitDelimiterBehavior).
enum SplitBehavior: String {
    /// Matches and the text between them are all pieces.
    case isolated = "Isolated"
    /// Only the text between matches is kept.
    case removed = "Removed"
    /// Each match starts a piece that runs to the next match.
    case mergedWithNext = "MergedWithNext"
}

/// When `Metaspace` puts its replacement character in front of a piece.
enum PrependScheme: String {
    case always, first, never
}

/// A tokenizer.json `pre_tokenizer`: cuts normalized text into the words the model tokenizes one by one.
indirect enum PreTokenizer {
    /// Optionally a leading space and GPT-2's regex split, then every UTF-8 byte mapped to its printable stand-in.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, behavior: SplitBehavior)
    /// Spaces become `replacement`, which is prepended per `prependScheme`; `split` cuts before each replacement.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// Numbers (`\p{N}`) split off, one piece per digit or per run.
    case digits(individual: Bool)
    case sequence([PreTokenizer])

    init(_ field: JSONField) throws {
        let type = try field.componentType()
        switch type {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try field.bool("add_prefix_space", default: true),
                              useRegex: try field.bool("use_regex", default: true))
        case "Split":
            let behaviorField = try field.required("behavior")
            guard let behavior = SplitBehavior(rawValue: try behaviorField.string()), behavior != .mergedWithNext else {
                throw behaviorField.error("unsupported Split behavior \(try behaviorField.string()) (Isolated and Removed are)")
            }
            if try field.bool("invert", default: false) {
                throw try field.required("invert").error("Split with invert: true is not supported")
            }
            let patternField = try field.required("pattern")
            let pattern: SplitPattern
            if let regex = try patternField.optional("Regex") {
                pattern = try SplitPattern(compiling: regex)
            } else {
                throw patternField.error("only {\"Regex\": …} Split patterns are supported")
            }
            self = .split(pattern, behavior: behavior)
        case "Metaspace":
            let settings = try Self.metaspaceSettings(field)
            self = .metaspace(replacement: settings.replacement, prependScheme: settings.prependScheme,
                              split: try field.bool("split", default: true))
        case "Digits":
            self = .digits(individual: try field.bool("individual_digits", default: false))
        case "Sequence":
            self = .sequence(try field.required("pretokenizers").array().map(PreTokenizer.init))
        default:
            throw field.unsupported("pre-tokenizer", type: type)
        }
    }

    /// The replacement character and prepend scheme of a `Metaspace` pre-tokenizer or decoder.
    static func metaspaceSettings(_ field: JSONField) throws -> (replacement: Unicode.Scalar, prependScheme: PrependScheme) {
        let replacementField = try field.required("replacement")
        let replacement = Array(try replacementField.string().unicodeScalars)
        guard replacement.count == 1 else { throw replacementField.error("expected a single character") }
        guard let schemeField = try field.optional("prepend_scheme") else {  // files written before prepend_scheme
            return (replacement[0], try field.bool("add_prefix_space", default: true) ? .always : .never)
        }
        guard let scheme = PrependScheme(rawValue: try schemeField.string()) else {
            throw schemeField.error("expected \"always\", \"first\" or \"never\"")
        }
        return (replacement[0], scheme)
    }

    /// Pre-tokenizes every piece; empty pieces are dropped, as `tokenizers` does.
    func apply(_ pieces: [TextPiece]) -> [TextPiece] {
        var result: [TextPiece] = []
        result.reserveCapacity(pieces.count * 4)
        for piece in pieces { apply(piece, into: &result) }
        return result
    }

    private func apply(_ piece: TextPiece, into result: inout [TextPiece]) {
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            var piece = piece
            if addPrefixSpace && piece.scalars.first != " " { piece.scalars.insert(" ", at: 0) }
            if useRegex {  // GPT-2's pattern matches everywhere, so its matches tile the piece
                for range in SplitPattern.gpt2.matches(in: piece.scalars) {
                    result.append(TextPiece(scalars: ByteLevelAlphabet.mapped(piece.scalars[range]),
                                            startsText: piece.startsText && range.lowerBound == 0))
                }
            } else {
                result.append(TextPiece(scalars: ByteLevelAlphabet.mapped(piece.scalars[...]), startsText: piece.startsText))
            }
        case .split(let pattern, let behavior):
            Self.split(piece, at: pattern.matches(in: piece.scalars), behavior: behavior, into: &result)
        case .metaspace(let replacement, let prependScheme, let split):
            var piece = piece
            piece.scalars = piece.scalars.map { $0 == " " ? replacement : $0 }
            let prepend = switch prependScheme {
            case .always: piece.scalars.first != replacement
            case .first: piece.scalars.first != replacement && piece.startsText
            case .never: false
            }
            if prepend { piece.scalars.insert(replacement, at: 0) }
            if split {
                let matches = piece.scalars.indices.filter { piece.scalars[$0] == replacement }.map { $0..<$0 + 1 }
                Self.split(piece, at: matches, behavior: .mergedWithNext, into: &result)
            } else if !piece.scalars.isEmpty {
                result.append(piece)
            }
        case .digits(let individual):
            var runs: [Range<Int>] = []
            for (index, scalar) in piece.scalars.enumerated() where ScalarClass.isNumber(scalar) {
                if !individual, let last = runs.last, last.upperBound == index {
                    runs[runs.count - 1] = last.lowerBound..<index + 1
                } else {
                    runs.append(index..<index + 1)
                }
            }
            Self.split(piece, at: runs, behavior: .isolated, into: &result)
        case .sequence(let preTokenizers):
            var pieces = [piece]
            for preTokenizer in preTokenizers { pieces = preTokenizer.apply(pieces) }
            result.append(contentsOf: pieces)
        }
    }

    /// Cuts `piece` at the (sorted, non-overlapping) `matches`; only the first resulting piece keeps `startsText`.
    private static func split(_ piece: TextPiece, at matches: [Range<Int>], behavior: SplitBehavior,
                              into result: inout [TextPiece]) {
        var cuts: [(range: Range<Int>, keep: Bool)] = []
        var position = 0
        for match in matches {
            switch behavior {
            case .isolated:
                cuts.append((position..<match.lowerBound, true))
                cuts.append((match, true))
                position = match.upperBound
            case .removed:
                cuts.append((position..<match.lowerBound, true))
                cuts.append((match, false))
                position = match.upperBound
            case .mergedWithNext:
                cuts.append((position..<match.lowerBound, true))
                position = match.lowerBound
            }
        }
        cuts.append((position..<piece.scalars.count, true))
        for (range, keep) in cuts where keep && !range.isEmpty {
            result.append(TextPiece(scalars: Array(piece.scalars[range]), startsText: piece.startsText && range.lowerBound == 0))
        }
    }
}

/// GPT-2's reversible byte ↔ printable-character map: printable Latin-1 bytes stand for themselves, the other 68
/// bytes (controls, space, …) take U+0100 onwards in byte order, so `Ġ` (U+0120) is the space.
enum ByteLevelAlphabet {
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let byteForScalar: [UInt32: UInt8] = Dictionary(
        uniqueKeysWithValues: scalarForByte.enumerated().map { ($1.value, UInt8($0)) })

    /// The UTF-8 bytes of `text`, each as its stand-in scalar.
    static func mapped(_ text: ArraySlice<Unicode.Scalar>) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.count)
        for scalar in text {
            if scalar.isASCII {
                scalars.append(scalarForByte[Int(scalar.value)])
            } else {
                for byte in scalar.utf8 { scalars.append(scalarForByte[Int(byte)]) }
            }
        }
        return scalars
    }
}
