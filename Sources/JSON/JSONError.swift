import Diagnostics

/// A JSON file that cannot be used: text that is not JSON, or a document that lacks a value its reader needs or has
/// one of the wrong kind. It names the file and, for a value, its key path, e.g.
/// `config.json: "rope_scaling.factor": expected a number, found a string`.
///
/// Every rank reads the same files, so every rank raises the same error.
public struct JSONError: Error, IdenticalOnEveryRank, Equatable, Sendable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable, CustomStringConvertible {
        /// The text is not JSON; `line` and `column` (1-based, the column counted in Unicode scalars) say where.
        case malformed(line: Int, column: Int, reason: String)
        /// An object lacks a key its reader requires (`path` ends with that key).
        case missingKey
        /// The value has another kind than its reader needs.
        case wrongType(expected: String, found: String)
        /// A value of the right kind that its reader cannot use, in the reader's words.
        case invalidValue(String)

        public var description: String {
            switch self {
            case let .malformed(line, column, reason): "malformed JSON at line \(line), column \(column): \(reason)"
            case .missingKey: "missing required key"
            case let .wrongType(expected, found): "expected \(expected), found \(found)"
            case .invalidValue(let problem): problem
            }
        }
    }

    public let file: String
    /// Where the value is in the document: dotted keys and array indices (`model.merges[3]`); empty for the document
    /// itself and for malformed text.
    public let path: String
    public let problem: Problem

    public init(file: String, path: String = "", problem: Problem) {
        self.file = file
        self.path = path
        self.problem = problem
    }

    public var description: String {
        path.isEmpty ? "\(file): \(problem)" : "\(file): \"\(path)\": \(problem)"
    }
}
