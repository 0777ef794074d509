/// A parsed JSON document, as tokenizer files need it.
///
/// A hand-written parser rather than `JSONSerialization`, because vocabulary keys must stay exactly as written:
/// Swift `String` equality is canonical equivalence, so `"é"` and `"e\u{301}"` (both real SentencePiece tokens)
/// would collide in a `[String: Any]`, and Foundation's bridging traps on such duplicates. Objects keep their
/// members in file order as `(key, value)` pairs; malformed input is reported with its line and column.
enum JSONValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// Parses a complete UTF-8 JSON document; `file` names it in errors.
    static func parse(_ bytes: [UInt8], file: String) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, file: file)
        return try parser.parseDocument()
    }

    /// The member named `key` of an object (the first one if repeated), nil for other values.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A short name of the value's kind for error messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    let file: String
    var position = 0

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }  // UTF-8 byte-order mark
    }

    mutating func parseDocument() throws -> JSONValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected text after the JSON value") }
        return value
    }

    /// A malformed-JSON error at the current position, with 1-based line and column.
    func error(_ problem: String) -> TokenizerError {
        let consumed = bytes[..<min(position, bytes.count)]
        let line = consumed.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
        let lineStart = consumed.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        return TokenizerError(file: file, problem: "malformed JSON at line \(line), column \(position - lineStart + 1): \(problem)")
    }

    mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nesting deeper than 512 levels") }
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of file") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character \(describe(bytes[position]))")
        }
    }

    func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    mutating func expectLiteral(_ literal: String) throws {
        let expected = Array(literal.utf8)
        guard bytes[position...].starts(with: expected) else { throw error("expected '\(literal)'") }
        position += expected.count
    }

    mutating func expect(_ character: Character) throws {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == character.asciiValue! else {
            throw error(position < bytes.count ? "expected '\(character)', found \(describe(bytes[position]))"
                                              : "expected '\(character)', found the end of the file")
        }
        position += 1
    }

    /// True (and consumes it) if the next non-blank byte is `character`.
    mutating func consume(_ character: Character) -> Bool {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == character.asciiValue! else { return false }
        position += 1
        return true
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        if consume("}") { return .object(members) }
        repeat {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let key = try parseString()
            try expect(":")
            members.append((key, try parseValue(depth: depth + 1)))
        } while consume(",")
        try expect("}")
        return .object(members)
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        if consume("]") { return .array(elements) }
        repeat {
            elements.append(try parseValue(depth: depth + 1))
        } while consume(",")
        try expect("]")
        return .array(elements)
    }

    mutating func parseNumber() throws -> Double {
        let start = position
        while position < bytes.count,
              "+-.eE0123456789".utf8.contains(bytes[position]) { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let value = Double(text) else { position = start; throw error("invalid number '\(text)'") }
        return value
    }

    /// A string literal starting at the opening quote; escapes (including UTF-16 surrogate pairs) decoded.
    mutating func parseString() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                let string = String(decoding: utf8, as: UTF8.self)
                guard string.utf8.elementsEqual(utf8) else { throw error("string is not valid UTF-8") }
                return string
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case 0..<0x20:
                position -= 1
                throw error("control character \(describe(byte)) inside a string")
            default:
                utf8.append(byte)
            }
        }
    }

    mutating func parseEscape(into utf8: inout [UInt8]) throws {
        guard position < bytes.count else { throw error("unterminated string") }
        let escape = bytes[position]
        position += 1
        let simple: [UInt8: UInt8] = [UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C, UInt8(ascii: "/"): 0x2F,
                                      UInt8(ascii: "b"): 0x08, UInt8(ascii: "f"): 0x0C, UInt8(ascii: "n"): 0x0A,
                                      UInt8(ascii: "r"): 0x0D, UInt8(ascii: "t"): 0x09]
        if let byte = simple[escape] {
            utf8.append(byte)
            return
        }
        guard escape == UInt8(ascii: "u") else { throw error("invalid escape '\\\(describe(escape))'") }
        var code = try parseHex4()
        if (0xD800..<0xDC00).contains(code) {
            guard bytes[position...].starts(with: Array("\\u".utf8)) else { throw error("unpaired UTF-16 surrogate") }
            position += 2
            let low = try parseHex4()
            guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired UTF-16 surrogate") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(code) else { throw error("unpaired UTF-16 surrogate") }
        utf8.append(contentsOf: scalar.utf8)
    }

    mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= bytes.count,
              let code = UInt32(String(decoding: bytes[position..<position + 4], as: UTF8.self), radix: 16) else {
            throw error("invalid \\u escape")
        }
        position += 4
        return code
    }
}
