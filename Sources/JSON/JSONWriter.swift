/// How `JSONValue.serialized` lays out the text. The defaults give compact JSON, as safetensors headers are written.
public struct JSONStyle: Sendable {
    /// Indentation per nesting level, with every element and member on its own line; nil puts it all on one line.
    public var indent: String?
    public var itemSeparator: String
    public var keySeparator: String
    /// Members in the code-point order of their keys (Python's `sort_keys`) rather than in their own order.
    public var sortsKeys: Bool
    /// Every character outside printable ASCII as `\uXXXX` escapes of its UTF-16 units (Python's `ensure_ascii`).
    public var escapesNonASCII: Bool
    /// NaN and ±infinity as Python writes them (`NaN`, `Infinity`, `-Infinity`, which are not JSON); otherwise null.
    public var writesNonFiniteNumbersAsPython: Bool

    public init(indent: String? = nil, itemSeparator: String = ",", keySeparator: String = ":", sortsKeys: Bool = false,
                escapesNonASCII: Bool = false, writesNonFiniteNumbersAsPython: Bool = false) {
        self.indent = indent
        self.itemSeparator = itemSeparator
        self.keySeparator = keySeparator
        self.sortsKeys = sortsKeys
        self.escapesNonASCII = escapesNonASCII
        self.writesNonFiniteNumbersAsPython = writesNonFiniteNumbersAsPython
    }

    /// No whitespace at all.
    public static let compact = JSONStyle()
    /// One line with Python's `json.dumps` separators, `", "` and `": "`.
    public static let spaced = JSONStyle(itemSeparator: ", ", keySeparator: ": ")
    /// As transformers writes config.json: two-space indentation and sorted keys.
    public static let indentedSorted = JSONStyle(indent: "  ", keySeparator: ": ", sortsKeys: true)
}

extension JSONValue {
    /// The value as JSON text laid out by `style`. Strings escape only what JSON requires (and, by `style`, non-ASCII
    /// characters), doubles are written in the shortest form that reads back to the same value (Python's `repr`).
    public func serialized(_ style: JSONStyle = .compact) -> String {
        var writer = JSONWriter(style: style)
        writer.write(self, depth: 0)
        return writer.output
    }
}

private struct JSONWriter {
    let style: JSONStyle
    var output = ""

    init(style: JSONStyle) {
        self.style = style
    }

    mutating func write(_ value: JSONValue, depth: Int) {
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .integer(let number): output += String(number)
        case .double(let number): write(number)
        case .string(let text): write(text)
        case .array(let elements):
            writeContainer(open: "[", close: "]", elements, depth: depth) { writer, element in
                writer.write(element, depth: depth + 1)
            }
        case .object(let object):
            let members = style.sortsKeys
                ? object.members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : object.members
            writeContainer(open: "{", close: "}", members, depth: depth) { writer, member in
                writer.write(member.key)
                writer.output += writer.style.keySeparator
                writer.write(member.value, depth: depth + 1)
            }
        }
    }

    mutating func write(_ number: Double) {
        if number.isFinite {
            output += number.description
        } else if style.writesNonFiniteNumbersAsPython {
            output += number.isNaN ? "NaN" : number < 0 ? "-Infinity" : "Infinity"
        } else {
            output += "null"
        }
    }

    mutating func writeContainer<Element>(open: String, close: String, _ elements: [Element], depth: Int,
                                          element write: (inout JSONWriter, Element) -> Void) {
        output += open
        guard !elements.isEmpty else {
            output += close
            return
        }
        let newline = style.indent.map { "\n" + String(repeating: $0, count: depth + 1) }
        for (index, element) in elements.enumerated() {
            if index > 0 { output += style.itemSeparator }
            if let newline { output += newline }
            write(&self, element)
        }
        if let indent = style.indent { output += "\n" + String(repeating: indent, count: depth) }
        output += close
    }

    /// `text` as a string literal: `"` and `\` escaped, control characters as `\n`-style or `\u00XX` escapes.
    mutating func write(_ text: String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case _ where scalar.value < 0x20:
                writeEscape(UInt16(scalar.value))
            case _ where style.escapesNonASCII && scalar.value > 0x7E:
                for unit in scalar.utf16 { writeEscape(unit) }
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    /// `\u` and four lower-case hexadecimal digits, as Python and serde_json write them.
    mutating func writeEscape(_ unit: UInt16) {
        let digits = String(unit, radix: 16)
        output += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
    }
}
