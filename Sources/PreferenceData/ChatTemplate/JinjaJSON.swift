/// The `tojson` filter as transformers defines it: Python's `json.dumps(value, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, without Jinja's HTML escaping.
enum JinjaJSON {
    struct Options {
        var ensureASCII = false
        /// Per-level indentation; nil puts everything on one line.
        var indent: String?
        var itemSeparator: String
        var keySeparator: String
        var sortKeys = false

        /// Reads the filter arguments in `tojson(ensure_ascii, indent, separators, sort_keys)` order.
        init(_ arguments: JinjaArguments) throws {
            ensureASCII = arguments.value(0, "ensure_ascii")?.isTruthy ?? false
            switch arguments.value(1, "indent") {
            case nil, .none?: indent = nil
            case .string(let text)?: indent = text
            case let width?:
                guard let count = width.integerValue else {
                    throw JinjaBuiltins.renderError("tojson indent must be an integer or a string")
                }
                indent = String(repeating: " ", count: max(0, count))
            }
            itemSeparator = indent == nil ? ", " : ","
            keySeparator = ": "
            if let separators = arguments.value(2, "separators"), case .list(let pair) = separators {
                guard pair.count == 2, case .string(let item) = pair[0], case .string(let key) = pair[1] else {
                    throw JinjaBuiltins.renderError("tojson separators must be two strings")
                }
                (itemSeparator, keySeparator) = (item, key)
            }
            sortKeys = arguments.value(3, "sort_keys")?.isTruthy ?? false
        }
    }

    static func serialize(_ value: JinjaValue, options: Options) throws -> String {
        var output = ""
        try write(value, options: options, depth: 0, into: &output)
        return output
    }

    private static func write(_ value: JinjaValue, options: Options, depth: Int, into output: inout String) throws {
        switch value {
        case .none: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .integer(let number): output += String(number)
        case .float(let number):
            output += number.isNaN ? "NaN" : number.isInfinite ? (number < 0 ? "-Infinity" : "Infinity")
                : pythonFloatText(number)
        case .string(let text): writeString(text, ensureASCII: options.ensureASCII, into: &output)
        case .list(let items):
            try writeContainer(open: "[", close: "]", items, options: options, depth: depth, into: &output) {
                try write($0, options: options, depth: depth + 1, into: &$1)
            }
        case .dictionary(let dictionary):
            var entries = dictionary.entries
            if options.sortKeys {
                entries.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) }
            }
            try writeContainer(open: "{", close: "}", entries, options: options, depth: depth, into: &output) {
                writeString($0.key, ensureASCII: options.ensureASCII, into: &$1)
                $1 += options.keySeparator
                try write($0.value, options: options, depth: depth + 1, into: &$1)
            }
        case .undefined, .object, .function:
            throw JinjaBuiltins.renderError("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    private static func writeContainer<Element>(open: String, close: String, _ elements: [Element], options: Options,
                                                depth: Int, into output: inout String,
                                                element: (Element, inout String) throws -> Void) throws {
        guard !elements.isEmpty else {
            output += open + close
            return
        }
        output += open
        let newline = options.indent.map { "\n" + String(repeating: $0, count: depth + 1) }
        for (index, item) in elements.enumerated() {
            if index > 0 { output += options.itemSeparator }
            if let newline { output += newline }
            try element(item, &output)
        }
        if let indent = options.indent { output += "\n" + String(repeating: indent, count: depth) }
        output += close
    }

    private static func writeString(_ text: String, ensureASCII: Bool, into output: inout String) {
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
            default:
                if scalar.value < 0x20 {
                    output += "\\u" + hexDigits(scalar.value, width: 4)
                } else if ensureASCII && scalar.value > 0x7E {
                    for unit in String(scalar).utf16 { output += "\\u" + hexDigits(UInt32(unit), width: 4) }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
