import JSON

/// The `tojson` filter as transformers defines it: Python's `json.dumps(value, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)`, without Jinja's HTML escaping.
enum JinjaJSON {
    /// `value` as JSON text laid out by the filter arguments, in `tojson(ensure_ascii, indent, separators, sort_keys)`
    /// order.
    static func serialize(_ value: JinjaValue, arguments: JinjaArguments) throws -> String {
        try json(value).serialized(try style(arguments))
    }

    /// The layout `json.dumps` gives for the arguments: `", "` between items on one line, `","` before the line breaks
    /// of an indented layout, `": "` after keys; NaN and infinities as Python writes them.
    private static func style(_ arguments: JinjaArguments) throws -> JSONStyle {
        var style = JSONStyle(keySeparator: ": ", writesNonFiniteNumbersAsPython: true)
        style.escapesNonASCII = arguments.value(0, "ensure_ascii")?.isTruthy ?? false
        switch arguments.value(1, "indent") {
        case nil, .none?: style.indent = nil
        case .string(let text)?: style.indent = text
        case let width?:
            guard let count = width.integerValue else {
                throw JinjaBuiltins.renderError("tojson indent must be an integer or a string")
            }
            style.indent = String(repeating: " ", count: max(0, count))
        }
        style.itemSeparator = style.indent == nil ? ", " : ","
        if let separators = arguments.value(2, "separators"), case .list(let pair) = separators {
            guard pair.count == 2, case .string(let item) = pair[0], case .string(let key) = pair[1] else {
                throw JinjaBuiltins.renderError("tojson separators must be two strings")
            }
            (style.itemSeparator, style.keySeparator) = (item, key)
        }
        style.sortsKeys = arguments.value(3, "sort_keys")?.isTruthy ?? false
        return style
    }

    /// The JSON of a Python value; like Python's `json`, undefined values, objects and functions have none.
    private static func json(_ value: JinjaValue) throws -> JSONValue {
        switch value {
        case .none: return .null
        case .bool(let flag): return .bool(flag)
        case .integer(let number): return .integer(number)
        case .float(let number): return .double(number)
        case .string(let text): return .string(text)
        case .list(let items): return .array(try items.map(json))
        case .dictionary(let dictionary):
            return .object(JSONObject(try dictionary.entries.map { (key: $0.key, value: try json($0.value)) }))
        case .undefined, .object, .function:
            throw JinjaBuiltins.renderError("Object of type \(value.typeName) is not JSON serializable")
        }
    }
}
