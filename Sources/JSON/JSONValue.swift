/// A JSON document or a part of one: every file the project reads or writes as JSON goes through this type
/// (tokenizer files, chat-template configs, config.json, safetensors headers, checkpoint state, metrics, datasets).
///
/// Numbers keep the kind their text gives them: `.integer` for one written without fraction or exponent that fits an
/// `Int`, `.double` for every other, so that a value written back reads `5` or `5.0` as it did, as in Python's `json`.
/// Equality is exact: strings and keys compare by their UTF-8 bytes, not by Swift's canonical equivalence, and
/// `.integer(1)` differs from `.double(1)`.
public enum JSONValue: Equatable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
                        ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    case null
    case bool(Bool)
    case integer(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public init(stringLiteral text: String) { self = .string(text) }
    public init(integerLiteral number: Int) { self = .integer(number) }
    public init(floatLiteral number: Double) { self = .double(number) }
    public init(booleanLiteral flag: Bool) { self = .bool(flag) }

    /// A short name of the value's kind for error messages ("a string", "an object", …).
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public static func == (left: JSONValue, right: JSONValue) -> Bool {
        switch (left, right) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): sameBytes(a, b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }
}

/// A JSON object: its members in the order they were written, keys kept and compared byte for byte.
///
/// Not a `[String: JSONValue]`, because Swift's `String` equality is canonical equivalence: the vocabulary keys `"é"`
/// and `"e\u{301}"` (both real SentencePiece tokens) would be one key, and a dictionary would lose the order that
/// Hugging Face and safetensors files are written in. A repeated key stays in `members` each time it occurs; looking
/// it up gives its last value, as Python's `json` does.
public struct JSONObject: Equatable, Sendable, ExpressibleByDictionaryLiteral {
    public var members: [(key: String, value: JSONValue)]

    public init(_ members: [(key: String, value: JSONValue)] = []) {
        self.members = members
    }

    public init(dictionaryLiteral members: (String, JSONValue)...) {
        self.members = members.map { (key: $0.0, value: $0.1) }
    }

    /// The last member named exactly `key`. Setting replaces that member's value (or appends a member); setting nil
    /// removes every member named `key`.
    public subscript(key: String) -> JSONValue? {
        get { members.last { sameBytes($0.key, key) }?.value }
        set {
            guard let newValue else {
                members.removeAll { sameBytes($0.key, key) }
                return
            }
            if let index = members.lastIndex(where: { sameBytes($0.key, key) }) {
                members[index].value = newValue
            } else {
                members.append((key, newValue))
            }
        }
    }

    /// Sets every member of `other`, replacing the value of a member with the same key.
    public mutating func merge(_ other: JSONObject) {
        for member in other.members { self[member.key] = member.value }
    }

    public static func == (left: JSONObject, right: JSONObject) -> Bool {
        left.members.count == right.members.count
            && zip(left.members, right.members).allSatisfy { sameBytes($0.key, $1.key) && $0.value == $1.value }
    }
}

/// Whether two strings have the same UTF-8 bytes (Swift's `==` would also accept canonically equivalent text).
func sameBytes(_ left: String, _ right: String) -> Bool {
    left.utf8.count == right.utf8.count && left.utf8.elementsEqual(right.utf8)
}
