/// A problem with a tokenizer folder, phrased so that the user can find it: the file, the JSON key path inside it
/// (e.g. `pre_tokenizer.pretokenizers[1].type`) when there is one, and what is wrong.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let key: String?
    public let problem: String

    public init(file: String, key: String? = nil, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String {
        [file, key, problem].compactMap { $0 }.joined(separator: ": ")
    }
}

/// A JSON value together with where it sits (file and key path), so every accessor can report a precise error.
struct JSONField {
    let value: JSONValue
    let file: String
    let path: String

    init(_ value: JSONValue, file: String, path: String = "") {
        self.value = value
        self.file = file
        self.path = path
    }

    func error(_ problem: String) -> TokenizerError {
        TokenizerError(file: file, key: path.isEmpty ? nil : path, problem: problem)
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member `key`, or nil when it is absent or JSON null.
    func optional(_ key: String) throws -> JSONField? {
        guard case .object = value else { throw error("expected an object, found \(value.kindName)") }
        guard let member = value[key], !member.isNull else { return nil }
        return JSONField(member, file: file, path: childPath(key))
    }

    func required(_ key: String) throws -> JSONField {
        guard let member = try optional(key) else {
            throw TokenizerError(file: file, key: childPath(key), problem: "missing required key")
        }
        return member
    }

    func string() throws -> String {
        guard case .string(let string) = value else { throw error("expected a string, found \(value.kindName)") }
        return string
    }

    func bool() throws -> Bool {
        guard case .bool(let flag) = value else { throw error("expected a boolean, found \(value.kindName)") }
        return flag
    }

    /// A non-negative integer that fits a token id.
    func tokenID() throws -> Int32 {
        guard case .number(let number) = value, number >= 0, number < Double(Int32.max), number.rounded() == number
        else {
            let found = if case .number(let number) = value { "\(number)" } else { value.kindName }
            throw error("expected a token id (a non-negative integer), found \(found)")
        }
        return Int32(number)
    }

    func array() throws -> [JSONField] {
        guard case .array(let elements) = value else { throw error("expected an array, found \(value.kindName)") }
        return elements.enumerated().map { JSONField($1, file: file, path: "\(path)[\($0)]") }
    }

    func members() throws -> [(key: String, value: JSONField)] {
        guard case .object(let members) = value else { throw error("expected an object, found \(value.kindName)") }
        return members.map { ($0.key, JSONField($0.value, file: file, path: childPath($0.key))) }
    }

    /// Optional members with a default.
    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        try optional(key)?.bool() ?? defaultValue
    }

    func string(_ key: String) throws -> String { try required(key).string() }

    /// The `type` of a component object, e.g. "ByteLevel".
    func componentType() throws -> String { try string("type") }

    /// The error for a component whose `type` this code does not implement.
    func unsupported(_ component: String, type: String) -> TokenizerError {
        TokenizerError(file: file, key: childPath("type"), problem: "unsupported \(component) type \"\(type)\"")
    }
}
