import Testing
import JSON

/// Parses `text`; a failure is a test failure with the error's message.
private func parse(_ text: String) throws -> JSONValue {
    try JSONValue.parse(Array(text.utf8), file: "test.json")
}

/// The problem `text` is rejected with.
private func malformation(_ text: String) throws -> JSONError.Problem {
    try #require(throws: JSONError.self) { try parse(text) }.problem
}

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" {"n": null, "t": true, "f": false, "i": -12, "d": 2.5, "e": 1E3, "s": "x", "a": [1, [], {}]} "#)
        let expected: JSONValue = .object([
            "n": .null, "t": .bool(true), "f": .bool(false), "i": .integer(-12), "d": .double(2.5), "e": .double(1000),
            "s": .string("x"), "a": .array([.integer(1), .array([]), .object([:])]),
        ])
        #expect(value == expected)
    }

    @Test func numbersKeepTheKindTheirTextGives() throws {
        #expect(try parse("7") == .integer(7))
        #expect(try parse("7.0") == .double(7))
        #expect(try parse("7.0") != .integer(7))
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("9223372036854775807") == .integer(.max))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try parse("1000000000000000019884624838656") == .double(1e30))
        for invalid in ["01", "1.", ".5", "+1", "1e", "-", "1e+"] {
            let problem = try malformation(invalid)
            guard case .malformed(_, _, let reason) = problem else { Issue.record("\(invalid): \(problem)"); continue }
            #expect(reason == "invalid number" || reason.hasPrefix("unexpected") || reason.hasPrefix("expected"), "\(invalid): \(reason)")
        }
        #expect(try malformation("1e999") == .malformed(line: 1, column: 1, reason: "the number 1e999 is out of range"))
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\u4e16""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\té世"))
        #expect(try parse(#""\ud83d\udc4b""#) == .string("👋"))
        #expect(try parse(#""\uD83D\uDC4B""#) == .string("👋"))
        #expect(try malformation(#""\ud83d""#) == .malformed(line: 1, column: 2, reason: "unpaired UTF-16 surrogate"))
        #expect(try malformation(#""\ud83d\u0041""#) == .malformed(line: 1, column: 2, reason: "unpaired UTF-16 surrogate"))
        #expect(try malformation(#""x\udc4b""#) == .malformed(line: 1, column: 3, reason: "unpaired UTF-16 surrogate"))
        #expect(try malformation(#""\x""#) == .malformed(line: 1, column: 2, reason: "invalid escape: 'x' after a backslash"))
        #expect(try malformation(#""\u12""#).description.hasSuffix("needs four hexadecimal digits)"))
    }

    @Test func keysStayByteExact() throws {
        // "é" precomposed and "e" + combining acute are canonically equivalent: Swift's == calls them equal.
        let precomposed = "\u{E9}", decomposed = "e\u{301}"
        #expect(precomposed == decomposed)
        let value = try parse(#"{"\#(precomposed)": 1, "\#(decomposed)": 2}"#)
        guard case .object(let object) = value else { Issue.record("not an object: \(value)"); return }
        #expect(object.members.count == 2)
        #expect(object[precomposed] == .integer(1))
        #expect(object[decomposed] == .integer(2))
        #expect(Array(object.members[1].key.utf8) == [0x65, 0xCC, 0x81])
        #expect(JSONValue.object([precomposed: .null]) != .object([decomposed: .null]))
        #expect(JSONValue.string(precomposed) != .string(decomposed))
    }

    @Test func aRepeatedKeyIsKeptAndLooksUpItsLastValue() throws {
        guard case .object(var object) = try parse(#"{"a": 1, "b": 2, "a": 3}"#) else { Issue.record("not an object"); return }
        #expect(object.members.map(\.key) == ["a", "b", "a"])
        #expect(object["a"] == .integer(3))
        object["a"] = .integer(4)
        #expect(object == ["a": .integer(1), "b": .integer(2), "a": .integer(4)])
        object["a"] = nil
        #expect(object == ["b": .integer(2)])
        object["c"] = .bool(true)
        #expect(object == ["b": .integer(2), "c": .bool(true)])
    }

    @Test func errorsGiveLineAndColumn() throws {
        #expect(try malformation("{\n  \"eos_token\": \"</s>\",\n}\n") == .malformed(line: 3, column: 1, reason: "expected a string key"))
        // Columns count Unicode scalars, not bytes.
        #expect(try malformation(#"["é👋", nul]"#) == .malformed(line: 1, column: 8, reason: "expected 'null'"))
        #expect(try malformation("[1 2]") == .malformed(line: 1, column: 4, reason: "expected ']', found '2'"))
        #expect(try malformation("[1,") == .malformed(line: 1, column: 4, reason: "unexpected end of the input"))
        #expect(try malformation("{\"a\" 1}") == .malformed(line: 1, column: 6, reason: "expected ':', found '1'"))
        #expect(try malformation("\"abc") == .malformed(line: 1, column: 5, reason: "unterminated string"))
        #expect(try malformation("\"a\tb\"") == .malformed(line: 1, column: 3, reason: "control character byte 0x9 inside a string"))
        #expect(try malformation("{} {}") == .malformed(line: 1, column: 4, reason: "unexpected text after the JSON value"))
        #expect(try malformation("") == .malformed(line: 1, column: 1, reason: "unexpected end of the input"))
        #expect(try malformation("\r\n  @") == .malformed(line: 2, column: 3, reason: "unexpected character '@'"))
        let error = try #require(throws: JSONError.self) { try parse("[tru]") }
        #expect(error.description == "test.json: malformed JSON at line 1, column 2: expected 'true'")
    }

    @Test func rejectsInvalidUTF8AndAcceptsAByteOrderMark() throws {
        let invalid: [UInt8] = Array("[\"ab".utf8) + [0xFF] + Array("\"]".utf8)
        let error = try #require(throws: JSONError.self) { try JSONValue.parse(invalid, file: "bad.json") }
        #expect(error.problem == .malformed(line: 1, column: 2, reason: "the string is not valid UTF-8"))
        #expect(try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("\n [1]".utf8), file: "bom.json") == .array([.integer(1)]))
        let afterMark = try #require(throws: JSONError.self) {
            try JSONValue.parse([0xEF, 0xBB, 0xBF] + Array("x".utf8), file: "bom.json")
        }
        #expect(afterMark.problem == .malformed(line: 1, column: 1, reason: "unexpected character 'x'"))
    }

    @Test func nestingIsLimited() throws {
        let depth = JSONValue.maximumDepth
        #expect(depth == 512)
        var deepest: JSONValue = .array([])
        for _ in 1..<depth { deepest = .array([deepest]) }
        #expect(try parse(String(repeating: "[", count: depth) + String(repeating: "]", count: depth)) == deepest)
        #expect(try parse(String(repeating: "{\"k\":", count: depth) + "0" + String(repeating: "}", count: depth)) != .null)
        #expect(try malformation(String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1))
                == .malformed(line: 1, column: depth + 1, reason: "nesting deeper than 512 levels"))
        #expect(try malformation(String(repeating: "[", count: depth) + "{}" + String(repeating: "]", count: depth))
                == .malformed(line: 1, column: depth + 1, reason: "nesting deeper than 512 levels"))
    }
}
