import Foundation

/// A JSON value together with where it is (the file and the key path inside it), so that reading it can say exactly
/// what is missing or mistyped: `config.json: "rope_scaling.factor": expected a number, found a string`.
/// JSON null counts as absent.
public struct JSONField: Sendable {
    public let value: JSONValue
    public let file: String
    /// Dotted keys and array indices from the document's root (`pre_tokenizer.pretokenizers[1]`); empty for the root.
    public let path: String

    public init(_ value: JSONValue, file: String, path: String = "") {
        self.value = value
        self.file = file
        self.path = path
    }

    /// The document in `bytes` (see `JSONValue.parse`), as the root field of `file`.
    public static func parse(_ bytes: some ContiguousBytes, file: String) throws -> JSONField {
        JSONField(try JSONValue.parse(bytes, file: file), file: file)
    }

    /// An `invalidValue` error for this value, or for its member `key`, in the reader's words.
    public func error(_ problem: String, key: String? = nil) -> JSONError {
        JSONError(file: file, path: key.map(childPath) ?? path, problem: .invalidValue(problem))
    }

    private func wrongType(_ expected: String, found: String? = nil) -> JSONError {
        JSONError(file: file, path: path, problem: .wrongType(expected: expected, found: found ?? value.kindName))
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The member `key` of this object, or nil when it is absent or null; throws when this is not an object.
    public func optional(_ key: String) throws -> JSONField? {
        guard case .object(let object) = value else { throw wrongType("an object") }
        guard let member = object[key], member != .null else { return nil }
        return JSONField(member, file: file, path: childPath(key))
    }

    /// The member `key` of this object; throws when it is absent or null, or when this is not an object.
    public func required(_ key: String) throws -> JSONField {
        guard let member = try optional(key) else {
            throw JSONError(file: file, path: childPath(key), problem: .missingKey)
        }
        return member
    }

    public func string() throws -> String {
        guard case .string(let text) = value else { throw wrongType("a string") }
        return text
    }

    public func bool() throws -> Bool {
        guard case .bool(let flag) = value else { throw wrongType("a boolean") }
        return flag
    }

    /// Any number.
    public func double() throws -> Double {
        switch value {
        case .integer(let number): return Double(number)
        case .double(let number): return number
        default: throw wrongType("a number")
        }
    }

    /// A whole number that fits an `Int`, however it is written (`8`, `8.0`, `8e0`).
    public func int() throws -> Int {
        switch value {
        case .integer(let number): return number
        case .double(let number):
            guard let integer = Int(exactly: number) else { throw wrongType("an integer", found: "\(number)") }
            return integer
        default: throw wrongType("an integer")
        }
    }

    /// The elements of this array, each with its index in the path.
    public func array() throws -> [JSONField] {
        guard case .array(let elements) = value else { throw wrongType("an array") }
        return elements.enumerated().map { JSONField($1, file: file, path: "\(path)[\($0)]") }
    }

    /// The members of this object in order, each with its key in the path.
    public func members() throws -> [(key: String, value: JSONField)] {
        guard case .object(let object) = value else { throw wrongType("an object") }
        return object.members.map { ($0.key, JSONField($0.value, file: file, path: childPath($0.key))) }
    }
}
