/// A value inside the Jinja interpreter, modelled on the Python objects Jinja templates see when transformers
/// renders them: `None`, bools, ints, floats, str, lists, dicts, `namespace()` objects, callables and Jinja's
/// default `Undefined`.
public enum JinjaValue: Sendable {
    /// Jinja's default Undefined: renders as "", is falsy, iterates as empty, has length 0; any other use
    /// (arithmetic, attribute access, calling) is an error that quotes `hint` (e.g. `'foo' is undefined`).
    case undefined(hint: String)
    case none
    case bool(Bool)
    case integer(Int)
    case float(Double)
    case string(String)
    /// A Python list or tuple (the interpreter does not tell them apart).
    case list([JinjaValue])
    case dictionary(JinjaDictionary)
    /// A mutable attribute bag: `namespace(...)` objects and the `loop` variable.
    case object(JinjaObject)
    case function(JinjaFunction)

    /// Undefined for a plain variable name that nothing defines.
    static func undefinedVariable(_ name: String) -> JinjaValue { .undefined(hint: "'\(name)' is undefined") }

    /// Python truthiness.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let value): return value
        case .integer(let value): return value != 0
        case .float(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .list(let items): return !items.isEmpty
        case .dictionary(let dictionary): return !dictionary.isEmpty
        case .object, .function: return true
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The Python type name used in error messages, e.g. `'dict object' has no attribute 'x'`.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .integer: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dictionary: return "dict"
        case .object(let object): return object.typeName
        case .function: return "function"
        }
    }

    /// What `{{ value }}` prints: Python's `str()`, with Undefined rendering as the empty string.
    var renderedText: String {
        switch self {
        case .undefined: return ""
        case .string(let text): return text
        default: return pythonRepresentation
        }
    }

    /// Python's `repr()`, which is also what `str()` gives for everything except strings (lists print their items
    /// with `repr`).
    var pythonRepresentation: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .integer(let value): return String(value)
        case .float(let value): return pythonFloatText(value)
        case .string(let text): return pythonStringLiteral(text)
        case .list(let items): return "[" + items.map(\.pythonRepresentation).joined(separator: ", ") + "]"
        case .dictionary(let dictionary):
            let entries = dictionary.entries.map { pythonStringLiteral($0.key) + ": " + $0.value.pythonRepresentation }
            return "{" + entries.joined(separator: ", ") + "}"
        case .object(let object):
            let entries = object.attributes.entries.map { "\($0.key)=\($0.value.pythonRepresentation)" }
            return "<\(object.typeName) " + entries.joined(separator: ", ") + ">"
        case .function(let function): return "<function \(function.name)>"
        }
    }

    /// The number as a Double when the value is a Python number (bools count, as in Python).
    var numericValue: Double? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .integer(let value): return Double(value)
        case .float(let value): return value
        default: return nil
        }
    }

    /// The value as a Python int when it is an int or a bool.
    var integerValue: Int? {
        switch self {
        case .bool(let value): return value ? 1 : 0
        case .integer(let value): return value
        default: return nil
        }
    }
}

/// Python's `float.__repr__`: shortest round-trip digits, `1e+16` style exponents. Swift's description agrees on
/// finite values; only the spelling of infinities differs.
func pythonFloatText(_ value: Double) -> String {
    if value.isInfinite { return value < 0 ? "-inf" : "inf" }
    return value.description
}

/// Python's `repr()` of a str: single quotes unless the text contains a single quote and no double quote.
func pythonStringLiteral(_ text: String) -> String {
    let quote: Unicode.Scalar = text.unicodeScalars.contains("'") && !text.unicodeScalars.contains("\"") ? "\"" : "'"
    var result = String(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case quote: result += "\\" + String(quote)
        default:
            if scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value) {
                result += "\\x" + hexDigits(scalar.value, width: 2)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    result.unicodeScalars.append(quote)
    return result
}

/// Lower-case hexadecimal, zero-padded to `width` digits.
func hexDigits(_ value: UInt32, width: Int) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}

/// A Python dict with string keys, remembering insertion order (which `items()`, iteration and `tojson` follow).
public struct JinjaDictionary: Sendable {
    private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    init() {}

    init(_ entries: [(String, JinjaValue)]) {
        for (key, value) in entries { self[key] = value }
    }

    var isEmpty: Bool { keys.isEmpty }
    var count: Int { keys.count }

    subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    var entries: [(key: String, value: JinjaValue)] { keys.map { ($0, storage[$0]!) } }
}

/// A mutable attribute bag shared by reference, like Python objects: `namespace()` results (whose attributes
/// `{% set ns.attr = … %}` may change) and the read-only `loop` variable of a for loop.
public final class JinjaObject: @unchecked Sendable {
    let typeName: String
    let acceptsAssignment: Bool
    var attributes: JinjaDictionary

    init(typeName: String, acceptsAssignment: Bool, attributes: JinjaDictionary) {
        self.typeName = typeName
        self.acceptsAssignment = acceptsAssignment
        self.attributes = attributes
    }
}

/// Arguments of a call: positional ones, then keyword ones in source order.
struct JinjaArguments {
    var positional: [JinjaValue] = []
    var keywords: [(name: String, value: JinjaValue)] = []

    /// The argument at `index` or passed as `name`, if any.
    func value(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return keywords.first { $0.name == name }?.value
    }
}

/// A callable: a global like `raise_exception`, a bound method like `'x'.startswith`, or `loop.cycle`.
public struct JinjaFunction: Sendable {
    let name: String
    let body: @Sendable (JinjaArguments) throws -> JinjaValue
}
