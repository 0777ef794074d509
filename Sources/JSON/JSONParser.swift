import Foundation

extension JSONValue {
    /// Containers may nest this deep: real files nest a few levels, and the limit keeps hostile input from
    /// exhausting the stack.
    public static let maximumDepth = 512

    /// Parses one complete JSON document: UTF-8 text, optionally after a byte-order mark, with nothing but whitespace
    /// after the value. `file` names the document in the `JSONError`, which gives the line and column of the problem.
    public static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> JSONValue {
        guard let start = bytes.baseAddress, !bytes.isEmpty else {
            throw JSONError(file: file, problem: .malformed(line: 1, column: 1, reason: "unexpected end of the input"))
        }
        var parser = JSONParser(start.assumingMemoryBound(to: UInt8.self), count: bytes.count, file: file)
        return try parser.document()
    }

    /// `parse` of the bytes of a `Data` or `[UInt8]`.
    public static func parse(_ bytes: some ContiguousBytes, file: String) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0, file: file) }
    }
}

// The bytes the grammar is made of.
private let quote: UInt8 = 0x22, backslash: UInt8 = 0x5C, slash: UInt8 = 0x2F, comma: UInt8 = 0x2C, colon: UInt8 = 0x3A
private let openBrace: UInt8 = 0x7B, closeBrace: UInt8 = 0x7D, openBracket: UInt8 = 0x5B, closeBracket: UInt8 = 0x5D
private let minus: UInt8 = 0x2D, plus: UInt8 = 0x2B, dot: UInt8 = 0x2E, zero: UInt8 = 0x30, nine: UInt8 = 0x39
private let newline: UInt8 = 0x0A

/// A recursive-descent parser over the raw bytes, in one pass.
private struct JSONParser {
    /// The text, as a typed pointer rather than a buffer because its subscript is inlined even in debug builds.
    let bytes: UnsafePointer<UInt8>
    let count: Int
    let file: String
    /// Where the text starts (after a byte-order mark); lines and columns count from here.
    let start: Int
    var position: Int

    init(_ bytes: UnsafePointer<UInt8>, count: Int, file: String) {
        self.bytes = bytes
        self.count = count
        self.file = file
        start = UnsafeBufferPointer(start: bytes, count: count).starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        position = start
    }

    /// The bytes in `range`.
    func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: bytes + range.lowerBound, count: range.count)
    }

    mutating func document() throws -> JSONValue {
        let value = try value(depth: 0)
        skipWhitespace()
        guard position == count else { throw error("unexpected text after the JSON value") }
        return value
    }

    /// A malformed-JSON error at the current position.
    func error(_ reason: String) -> JSONError {
        var (line, column) = (1, 1)
        for byte in slice(start..<min(position, count)) {
            if byte == newline {
                (line, column) = (line + 1, 1)
            } else if byte & 0xC0 != 0x80 {  // not a UTF-8 continuation byte
                column += 1
            }
        }
        return JSONError(file: file, problem: .malformed(line: line, column: column, reason: reason))
    }

    func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    mutating func skipWhitespace() {
        while position < count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// True (and consumes it) if the next non-blank byte is `byte`.
    mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard position < count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func expect(_ byte: UInt8) throws {
        guard !consume(byte) else { return }
        let expected = "expected '\(Character(Unicode.Scalar(byte)))'"
        throw error(position < count ? "\(expected), found \(describe(bytes[position]))"
                                          : "\(expected), found the end of the input")
    }

    /// A value whose enclosing containers are `depth` deep.
    mutating func value(depth: Int) throws -> JSONValue {
        skipWhitespace()
        guard position < count else { throw error("unexpected end of the input") }
        switch bytes[position] {
        case openBrace: return try object(depth: depth + 1)
        case openBracket: return try array(depth: depth + 1)
        case quote: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        case minus, zero...nine: return try number()
        case let byte: throw error("unexpected character \(describe(byte))")
        }
    }

    mutating func literal(_ text: StaticString) throws {
        let expected = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        guard count - position >= expected.count,
              expected.indices.allSatisfy({ bytes[position + $0] == expected[$0] }) else {
            throw error("expected '\(text)'")
        }
        position += expected.count
    }

    mutating func object(depth: Int) throws -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nesting deeper than \(JSONValue.maximumDepth) levels") }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        if consume(closeBrace) { return .object(JSONObject(members)) }
        repeat {
            skipWhitespace()
            guard position < count, bytes[position] == quote else { throw error("expected a string key") }
            let key = try string()
            try expect(colon)
            members.append((key, try value(depth: depth)))
        } while consume(comma)
        try expect(closeBrace)
        return .object(JSONObject(members))
    }

    mutating func array(depth: Int) throws -> JSONValue {
        guard depth <= JSONValue.maximumDepth else { throw error("nesting deeper than \(JSONValue.maximumDepth) levels") }
        position += 1
        var elements: [JSONValue] = []
        if consume(closeBracket) { return .array(elements) }
        repeat {
            elements.append(try value(depth: depth))
        } while consume(comma)
        try expect(closeBracket)
        return .array(elements)
    }

    func isDigit(at index: Int) -> Bool {
        index < count && (zero...nine).contains(bytes[index])
    }

    mutating func skipDigits() {
        while isDigit(at: position) { position += 1 }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: an `.integer` when it has neither fraction nor exponent and
    /// fits, else a `.double`.
    mutating func number() throws -> JSONValue {
        let numberStart = position
        func invalid() -> JSONError {
            position = numberStart
            return error("invalid number")
        }
        if bytes[position] == minus { position += 1 }
        guard isDigit(at: position) else { throw invalid() }
        if bytes[position] == zero { position += 1 } else { skipDigits() }
        var isInteger = true
        if position < count, bytes[position] == dot {
            isInteger = false
            position += 1
            guard isDigit(at: position) else { throw invalid() }
            skipDigits()
        }
        if position < count, bytes[position] | 0x20 == 0x65 {  // e or E
            isInteger = false
            position += 1
            if position < count, bytes[position] == plus || bytes[position] == minus { position += 1 }
            guard isDigit(at: position) else { throw invalid() }
            skipDigits()
        }
        let text = String(decoding: slice(numberStart..<position), as: UTF8.self)
        if isInteger, let integer = Int(text) { return .integer(integer) }
        guard let number = Double(text), number.isFinite else {
            position = numberStart
            throw error("the number \(text) is out of range")
        }
        return .double(number)
    }

    /// A string literal starting at the opening quote, with its escapes (including UTF-16 surrogate pairs) decoded.
    mutating func string() throws -> String {
        let opening = position
        position += 1
        // The text between escapes is copied a run at a time; a string without escapes is not copied at all.
        var runStart = position
        var decoded: [UInt8] = []
        var hasEscapes = false
        while position < count {
            let byte = bytes[position]
            if byte == quote {
                let end = position
                position += 1
                guard hasEscapes else { return try validated(slice(runStart..<end), opening) }
                decoded.append(contentsOf: slice(runStart..<end))
                return try decoded.withUnsafeBufferPointer { try validated($0, opening) }
            } else if byte == backslash {
                hasEscapes = true
                decoded.append(contentsOf: slice(runStart..<position))
                try escape(into: &decoded)
                runStart = position
            } else if byte < 0x20 {
                throw error("control character \(describe(byte)) inside a string")
            } else {
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// The text of a string's bytes, or an error at its opening quote if they are not UTF-8.
    mutating func validated(_ utf8: UnsafeBufferPointer<UInt8>, _ opening: Int) throws -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else {
            position = opening
            throw error("the string is not valid UTF-8")
        }
        return text
    }

    /// Decodes the escape at the backslash under `position`.
    mutating func escape(into utf8: inout [UInt8]) throws {
        let backslashPosition = position
        position += 1
        guard position < count else { throw error("unterminated string") }
        let escape = bytes[position]
        position += 1
        switch escape {
        case quote, backslash, slash: utf8.append(escape)
        case 0x62: utf8.append(0x08)  // b
        case 0x66: utf8.append(0x0C)  // f
        case 0x6E: utf8.append(0x0A)  // n
        case 0x72: utf8.append(0x0D)  // r
        case 0x74: utf8.append(0x09)  // t
        case 0x75:  // u
            var code = try hex4()
            if (0xD800..<0xDC00).contains(code) {
                guard count - position >= 2, bytes[position] == backslash, bytes[position + 1] == 0x75 else {
                    position = backslashPosition
                    throw error("unpaired UTF-16 surrogate")
                }
                position += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    position = backslashPosition
                    throw error("unpaired UTF-16 surrogate")
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(code) else {
                position = backslashPosition
                throw error("unpaired UTF-16 surrogate")
            }
            utf8.append(contentsOf: scalar.utf8)
        default:
            position = backslashPosition
            throw error("invalid escape: \(describe(escape)) after a backslash")
        }
    }

    mutating func hex4() throws -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard position < count, let digit = hexDigitValue(bytes[position]) else {
                throw error("invalid \\u escape (it needs four hexadecimal digits)")
            }
            code = code << 4 | digit
            position += 1
        }
        return code
    }

    func hexDigitValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case zero...nine: UInt32(byte - zero)
        case 0x41...0x46: UInt32(byte - 0x41 + 10)
        case 0x61...0x66: UInt32(byte - 0x61 + 10)
        default: nil
        }
    }
}
