import JSON

/// A tokenizer.json `decoder`: turns the token strings of an id sequence back into text. Each step maps the list of
/// token strings to a new list (`tokenizers`' decode_chain); the final list is concatenated.
indirect enum TokenDecoder {
    /// Maps GPT-2's byte stand-ins back to bytes and decodes the whole sequence as UTF-8 (invalid bytes → U+FFFD).
    case byteLevel
    case replace(ReplacePattern, content: [Unicode.Scalar])
    /// Runs of `<0xNN>` tokens become the text of their bytes, or one U+FFFD per byte if not valid UTF-8.
    case byteFallback
    /// Joins all tokens into one.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from every token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// The replacement character becomes a space, except in the first token where it is dropped unless the
    /// prepend scheme is `never`.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case sequence([TokenDecoder])

    init(_ field: JSONField) throws {
        let type = try field.componentType()
        switch type {
        case "ByteLevel": self = .byteLevel
        case "Replace":
            self = .replace(try ReplacePattern(field.required("pattern")),
                            content: Array(try field.string("content").unicodeScalars))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let contentField = try field.required("content")
            let content = Array(try contentField.string().unicodeScalars)
            guard content.count == 1 else { throw contentField.error("expected a single character") }
            self = .strip(content: content[0], start: Int(try field.required("start").tokenID()),
                          stop: Int(try field.required("stop").tokenID()))
        case "Metaspace":
            let settings = try PreTokenizer.metaspaceSettings(field)
            self = .metaspace(replacement: settings.replacement, prependScheme: settings.prependScheme)
        case "Sequence": self = .sequence(try field.required("decoders").array().map(TokenDecoder.init))
        default: throw field.unsupported("decoder", type: type)
        }
    }

    func decodeChain(_ tokens: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                let mapped = token.compactMap { ByteLevelAlphabet.byteForScalar[$0.value] }
                if mapped.count == token.count {
                    bytes.append(contentsOf: mapped)
                } else {  // e.g. an added token: its own UTF-8
                    for scalar in token { bytes.append(contentsOf: scalar.utf8) }
                }
            }
            return [Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)]
        case .replace(let pattern, let content):
            return tokens.map { pattern.replaceAll(in: $0, with: content) }
        case .byteFallback:
            var result: [[Unicode.Scalar]] = []
            var pendingBytes: [UInt8] = []
            func flush() {
                guard !pendingBytes.isEmpty else { return }
                let text = String(decoding: pendingBytes, as: UTF8.self)
                if text.utf8.elementsEqual(pendingBytes) {
                    result.append(Array(text.unicodeScalars))
                } else {
                    result.append(contentsOf: repeatElement(["\u{FFFD}"], count: pendingBytes.count))
                }
                pendingBytes.removeAll()
            }
            for token in tokens {
                if let byte = Self.fallbackByte(token) {
                    pendingBytes.append(byte)
                } else {
                    flush()
                    result.append(token)
                }
            }
            flush()
            return result
        case .fuse:
            return [tokens.flatMap { $0 }]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                let startCut = token.prefix(start).prefix { $0 == content }.count
                let stopCut = token[startCut...].suffix(stop).reversed().prefix { $0 == content }.count
                return Array(token[startCut..<token.count - stopCut])
            }
        case .metaspace(let replacement, let prependScheme):
            return tokens.enumerated().map { index, token in
                if index == 0 && prependScheme != .never { return token.filter { $0 != replacement } }
                return token.map { $0 == replacement ? " " : $0 }
            }
        case .sequence(let decoders):
            return decoders.reduce(tokens) { $1.decodeChain($0) }
        }
    }

    /// The byte of a `<0xNN>` token.
    private static func fallbackByte(_ token: [Unicode.Scalar]) -> UInt8? {
        guard token.count == 6, token[0] == "<", token[1] == "0", token[2] == "x", token[5] == ">" else { return nil }
        var hex = ""
        hex.unicodeScalars.append(contentsOf: token[3..<5])
        return UInt8(hex, radix: 16)
    }
}
