import Diagnostics
import JSON

/// A problem with a tokenizer folder, phrased so that the user can find it: the file, the JSON key path inside it
/// (e.g. `pre_tokenizer.pretokenizers[1].type`) when there is one, and what is wrong.
public struct TokenizerError: Error, IdenticalOnEveryRank, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let key: String?
    public let problem: String

    public init(file: String, key: String? = nil, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    /// A problem with one of the folder's JSON files, with the same file, key path and problem.
    init(_ error: JSONError) {
        self.init(file: error.file, key: error.path.isEmpty ? nil : error.path, problem: error.problem.description)
    }

    public var description: String {
        [file, key, problem].compactMap { $0 }.joined(separator: ": ")
    }
}

/// What tokenizer files ask of their values besides the JSON kinds.
extension JSONField {
    /// A non-negative integer that fits a token id.
    func tokenID() throws -> Int32 {
        let number = try int()
        guard let id = Int32(exactly: number), id >= 0 else {
            throw error("expected a token id (a non-negative integer), found \(number)")
        }
        return id
    }

    /// An optional flag with its default.
    func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        try optional(key)?.bool() ?? defaultValue
    }

    func string(_ key: String) throws -> String { try required(key).string() }

    /// The `type` of a component object, e.g. "ByteLevel".
    func componentType() throws -> String { try string("type") }

    /// The error for a component whose `type` this code does not implement.
    func unsupported(_ component: String, type: String) -> JSONError {
        error("unsupported \(component) type \"\(type)\"", key: "type")
    }
}
