/// One token inside `{{ … }}` or `{% … %}`.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        /// An operator or punctuation: `+ - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }`.
        case symbol(String)
    }

    let kind: Kind
    let location: TemplateLocation

    func isSymbol(_ symbol: String) -> Bool { kind == .symbol(symbol) }
    func isName(_ name: String) -> Bool { kind == .name(name) }
}

/// The template split into literal text and tags, with whitespace control already applied to the text.
enum JinjaSegment {
    case text(String)
    /// `{{ … }}`: the tokens between the delimiters; `location` is the opening `{{`, `end` the closing `}}`.
    case output([JinjaToken], location: TemplateLocation, end: TemplateLocation)
    /// `{% … %}`
    case statement([JinjaToken], location: TemplateLocation, end: TemplateLocation)
}

/// Splits a template the way Jinja's lexer does with transformers' settings (`trim_blocks=True`,
/// `lstrip_blocks=True`, `keep_trailing_newline=False`):
/// - `\r\n` and `\r` become `\n`, and one trailing newline of the source is dropped;
/// - `{%-`, `{{-`, `{#-` strip all whitespace before the tag, `-%}`, `-}}`, `-#}` all whitespace after it;
/// - a block or comment tag eats the newline right after it (trim_blocks), and spaces/tabs between the start of a
///   line and a block or comment tag are removed (lstrip_blocks); `{%+` / `+%}` switch these off;
/// - comments `{# … #}` vanish.
struct JinjaLexer {
    private let source: [Unicode.Scalar]
    private let lineStarts: [Int]
    private var position = 0

    init(template: String) {
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(template.unicodeScalars.count)
        var previousWasCarriageReturn = false
        for scalar in template.unicodeScalars {
            if scalar == "\n" && previousWasCarriageReturn { previousWasCarriageReturn = false; continue }
            previousWasCarriageReturn = scalar == "\r"
            normalized.append(scalar == "\r" ? "\n" : scalar)
        }
        if normalized.last == "\n" { normalized.removeLast() }
        source = normalized
        var starts = [0]
        for (index, scalar) in normalized.enumerated() where scalar == "\n" { starts.append(index + 1) }
        lineStarts = starts
    }

    func location(of offset: Int) -> TemplateLocation {
        var low = 0, high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return TemplateLocation(line: low + 1, column: offset - lineStarts[low] + 1)
    }

    private enum TagKind { case output, statement, comment }

    mutating func segments() throws -> [JinjaSegment] {
        var segments: [JinjaSegment] = []
        var lineStarting = true
        while position < source.count {
            guard let (tagStart, kind) = nextTagStart() else {
                segments.append(.text(String(String.UnicodeScalarView(source[position...]))))
                break
            }
            var text = Array(source[position..<tagStart])
            let signOffset = tagStart + 2
            let sign = signOffset < source.count && (source[signOffset] == "-" || source[signOffset] == "+")
                ? source[signOffset] : nil
            if sign == "-" {
                while let last = text.last, isPythonWhitespace(last) { text.removeLast() }
            } else if sign != "+" && kind != .output {
                // lstrip_blocks: drop the indentation before the tag when nothing else is on its line.
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? 0
                if (lineStart > 0 || lineStarting) && lineStart < text.count
                    && text[lineStart...].allSatisfy({ isPythonWhitespace($0) }) {
                    text.removeSubrange(lineStart...)
                }
            }
            if !text.isEmpty { segments.append(.text(String(String.UnicodeScalarView(text)))) }
            position = signOffset + (sign == nil ? 0 : 1)
            let tagLocation = location(of: tagStart)
            switch kind {
            case .comment:
                lineStarting = try skipComment(openedAt: tagLocation)
            case .output:
                let (tokens, end, endsWithNewline) = try tagTokens(kind: .output, openedAt: tagLocation)
                segments.append(.output(tokens, location: tagLocation, end: end))
                lineStarting = endsWithNewline
            case .statement:
                let (tokens, end, endsWithNewline) = try tagTokens(kind: .statement, openedAt: tagLocation)
                segments.append(.statement(tokens, location: tagLocation, end: end))
                lineStarting = endsWithNewline
            }
        }
        return segments
    }

    private func nextTagStart() -> (Int, TagKind)? {
        var index = position
        while index + 1 < source.count {
            if source[index] == "{" {
                switch source[index + 1] {
                case "{": return (index, .output)
                case "%": return (index, .statement)
                case "#": return (index, .comment)
                default: break
                }
            }
            index += 1
        }
        return nil
    }

    private func startsWith(_ text: String, at offset: Int) -> Bool {
        var index = offset
        for scalar in text.unicodeScalars {
            guard index < source.count, source[index] == scalar else { return false }
            index += 1
        }
        return true
    }

    /// Consumes whitespace after a `-…}` closing tag; returns whether the consumed text ended with a newline.
    private mutating func consumeWhitespace() -> Bool {
        var endsWithNewline = false
        while position < source.count, isPythonWhitespace(source[position]) {
            endsWithNewline = source[position] == "\n"
            position += 1
        }
        return endsWithNewline
    }

    /// Applies the closing rule of a block or comment tag whose `%}`/`#}` starts at `position`, moving past it.
    /// Returns whether the tag's match ended with a newline (Jinja's `line_starting` for the next lstrip).
    private mutating func closeBlockTag(closer: String, strip: Unicode.Scalar?) -> Bool {
        position += closer.unicodeScalars.count + (strip == nil ? 0 : 1)
        switch strip {
        case "-":
            return consumeWhitespace()
        case "+":
            return false
        default:
            if position < source.count, source[position] == "\n" {
                position += 1
                return true
            }
            return false
        }
    }

    private mutating func skipComment(openedAt start: TemplateLocation) throws -> Bool {
        while position < source.count {
            if startsWith("+#}", at: position) { return closeBlockTag(closer: "#}", strip: "+") }
            if startsWith("-#}", at: position) { return closeBlockTag(closer: "#}", strip: "-") }
            if startsWith("#}", at: position) { return closeBlockTag(closer: "#}", strip: nil) }
            position += 1
        }
        throw ChatTemplateError(.syntax, "missing end of comment tag '#}'", at: start)
    }

    /// Tokenizes the inside of `{{ … }}` or `{% … %}` up to its closing delimiter. A `}}` or `%}` only closes the
    /// tag when every bracket opened inside it is closed, so `{{ {'a': {'b': 1}} }}` works as in Jinja.
    /// Returns the tokens, the location of the closing delimiter and whether the closing match ended with a newline.
    private mutating func tagTokens(kind: TagKind, openedAt start: TemplateLocation) throws
        -> ([JinjaToken], TemplateLocation, Bool) {
        var tokens: [JinjaToken] = []
        var openBrackets: [Unicode.Scalar] = []
        while true {
            while position < source.count, isPythonWhitespace(source[position]) { position += 1 }
            guard position < source.count else {
                let closer = kind == .output ? "}}" : "%}"
                throw ChatTemplateError(.syntax, "tag opened here is never closed with '\(closer)'", at: start)
            }
            if openBrackets.isEmpty {
                let end = location(of: position)
                if kind == .output {
                    if startsWith("-}}", at: position) {
                        position += 3
                        return (tokens, end, consumeWhitespace())
                    }
                    if startsWith("}}", at: position) {
                        position += 2
                        return (tokens, end, false)
                    }
                } else {
                    for strip: Unicode.Scalar in ["+", "-"] where startsWith(String(strip) + "%}", at: position) {
                        return (tokens, end, closeBlockTag(closer: "%}", strip: strip))
                    }
                    if startsWith("%}", at: position) { return (tokens, end, closeBlockTag(closer: "%}", strip: nil)) }
                }
            }
            let token = try nextToken()
            if case .symbol(let symbol) = token.kind {
                switch symbol {
                case "(": openBrackets.append(")")
                case "[": openBrackets.append("]")
                case "{": openBrackets.append("}")
                case ")", "]", "}":
                    guard let expected = openBrackets.popLast() else {
                        throw ChatTemplateError(.syntax, "unexpected '\(symbol)'", at: token.location)
                    }
                    guard String(expected) == symbol else {
                        throw ChatTemplateError(.syntax, "unexpected '\(symbol)', expected '\(expected)'",
                                                at: token.location)
                    }
                default: break
                }
            }
            tokens.append(token)
        }
    }

    private static let symbols = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=",
                                  ".", ":", "|", ",", "(", ")", "[", "]", "{", "}", ";"]

    private mutating func nextToken() throws -> JinjaToken {
        let start = position
        let here = location(of: start)
        let scalar = source[position]
        if scalar == "'" || scalar == "\"" {
            return JinjaToken(kind: .string(try stringLiteral(quote: scalar, location: here)), location: here)
        }
        if isDigit(scalar) {
            return JinjaToken(kind: try numberLiteral(location: here), location: here)
        }
        if scalar == "_" || scalar.properties.isXIDStart {
            while position < source.count, source[position] == "_" || source[position].properties.isXIDContinue {
                position += 1
            }
            return JinjaToken(kind: .name(String(String.UnicodeScalarView(source[start..<position]))), location: here)
        }
        for symbol in Self.symbols where startsWith(symbol, at: position) {
            position += symbol.unicodeScalars.count
            return JinjaToken(kind: .symbol(symbol), location: here)
        }
        throw ChatTemplateError(.syntax, "unexpected character '\(Character(scalar))'", at: here)
    }

    private func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    /// Decimal integers and floats (`12`, `1_000`, `1.5`, `2e10`, `1.5e-3`).
    private mutating func numberLiteral(location: TemplateLocation) throws -> JinjaToken.Kind {
        var digits = ""
        func readDigits() {
            while position < source.count, isDigit(source[position]) || source[position] == "_" {
                if source[position] != "_" { digits.unicodeScalars.append(source[position]) }
                position += 1
            }
        }
        readDigits()
        var isFloat = false
        if position + 1 < source.count, source[position] == ".", isDigit(source[position + 1]) {
            isFloat = true
            digits += "."
            position += 1
            readDigits()
        }
        if position < source.count, source[position] == "e" || source[position] == "E" {
            var lookahead = position + 1
            if lookahead < source.count, source[lookahead] == "+" || source[lookahead] == "-" { lookahead += 1 }
            if lookahead < source.count, isDigit(source[lookahead]) {
                isFloat = true
                digits += "e" + String(String.UnicodeScalarView(source[(position + 1)..<lookahead]))
                position = lookahead
                readDigits()
            }
        }
        if isFloat, let value = Double(digits) { return .float(value) }
        if let value = Int(digits) { return .integer(value) }
        throw ChatTemplateError(.unsupported, "number literal \(digits) does not fit a 64-bit integer", at: location)
    }

    /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\xhh`, `\uXXXX`, octal, …), as Jinja
    /// decodes them. An unknown escape such as `\d` keeps its backslash, as in Python.
    private mutating func stringLiteral(quote: Unicode.Scalar, location: TemplateLocation) throws -> String {
        var result = String.UnicodeScalarView()
        position += 1
        while position < source.count {
            let scalar = source[position]
            position += 1
            if scalar == quote { return String(result) }
            guard scalar == "\\", position < source.count else {
                result.append(scalar)
                continue
            }
            let escaped = source[position]
            position += 1
            switch escaped {
            case "\n": break
            case "\\", "'", "\"": result.append(escaped)
            case "a": result.append("\u{07}")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "v": result.append("\u{0B}")
            case "x", "u", "U":
                let width = escaped == "x" ? 2 : escaped == "u" ? 4 : 8
                let end = position + width
                guard end <= source.count,
                      let code = UInt32(String(String.UnicodeScalarView(source[position..<end])), radix: 16),
                      let decoded = Unicode.Scalar(code) else {
                    throw ChatTemplateError(.syntax, "malformed \\\(escaped) escape in string literal", at: location)
                }
                result.append(decoded)
                position = end
            case "0"..."7":
                var code = escaped.value - 48
                var taken = 1
                while taken < 3, position < source.count, ("0"..."7").contains(source[position]) {
                    code = code * 8 + source[position].value - 48
                    position += 1
                    taken += 1
                }
                result.append(Unicode.Scalar(code)!)
            case "N":
                throw ChatTemplateError(.unsupported, "\\N{…} escapes in string literals", at: location)
            default:
                result.append("\\")
                result.append(escaped)
            }
        }
        throw ChatTemplateError(.syntax, "string literal is never closed", at: location)
    }
}

/// Python's `str.isspace()` for the characters templates meet (ASCII whitespace, NEL, NBSP and Unicode spaces).
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
    default: return scalar.properties.isWhitespace
    }
}
