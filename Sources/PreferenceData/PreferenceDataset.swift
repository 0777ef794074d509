import Foundation

/// One preference triple in TRL's "standard" format: a prompt, the preferred completion and the dispreferred one.
public struct PreferenceExample: Codable, Equatable, Sendable {
    public var prompt: String
    public var chosen: String
    public var rejected: String

    public init(prompt: String, chosen: String, rejected: String) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// A problem with a dataset file, phrased so that the user can find and fix it:
/// it names the file, the 1-based line (JSONL) or the array index (JSON), the field and what is wrong.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Where in the file the problem is.
    public enum Location: Equatable, Sendable {
        /// 1-based line of a JSONL file.
        case line(Int)
        /// 0-based index into the top-level array of a JSON file.
        case arrayIndex(Int)
    }

    public let file: String
    public let location: Location?
    /// The offending field, when the problem is one field of an example (also named in `problem`).
    public let field: String?
    /// What is wrong, e.g. `missing field "rejected"`.
    public let problem: String

    public init(file: String, location: Location? = nil, field: String? = nil, problem: String) {
        self.file = file
        self.location = location
        self.field = field
        self.problem = problem
    }

    public var description: String {
        var text = file
        switch location {
        case .line(let line): text += ", line \(line)"
        case .arrayIndex(let index): text += ", array element [\(index)]"
        case nil: break
        }
        return text + ": " + problem
    }
}

/// Loads preference triples from disk.
public enum PreferenceDataset {
    /// Reads `path` as either JSON Lines (one object per line, blank lines skipped) or a JSON document whose top level
    /// is an array of objects. The format is decided by content, not by extension: if the first non-whitespace byte is
    /// `[` the file is a JSON array, otherwise JSONL. A UTF-8 byte-order mark and CRLF line endings are accepted.
    /// Throws `DataError` for a missing/unreadable file, an empty file, malformed JSON, or a missing/mistyped field.
    public static func load(path: String) throws -> [PreferenceExample] {
        var contents = try readFile(path: path)
        let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
        if contents.starts(with: byteOrderMark) { contents = contents.dropFirst(byteOrderMark.count) }

        guard let firstByte = contents.first(where: { !isJSONWhitespace($0) }) else {
            throw DataError(file: path, problem: "the file is empty; expected JSON Lines or a JSON array of examples")
        }
        let examples = firstByte == UInt8(ascii: "[")
            ? try parseJSONArray(contents, path: path)
            : try parseJSONLines(contents, path: path)
        guard !examples.isEmpty else {
            throw DataError(file: path, problem: "the file contains no examples")
        }
        return examples
    }

    private static func readFile(path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, problem: "the file does not exist")
        }
        guard !isDirectory.boolValue else {
            throw DataError(file: path, problem: "this is a directory, not a dataset file")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw DataError(file: path, problem: "the file cannot be read: \(error.localizedDescription)")
        }
    }

    private static func parseJSONLines(_ contents: Data, path: String) throws -> [PreferenceExample] {
        let decoder = JSONDecoder()
        var examples: [PreferenceExample] = []
        // Scans the whole buffer for "\n" (fast for large files); a "\r" before it (CRLF) is JSON whitespace.
        try contents.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var lineStart = buffer.startIndex
            var lineNumber = 0
            while lineStart < buffer.endIndex {
                let lineEnd = buffer[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? buffer.endIndex
                let line = buffer[lineStart..<lineEnd]
                lineNumber += 1
                lineStart = lineEnd + 1
                guard line.contains(where: { !isJSONWhitespace($0) }) else { continue }
                examples.append(try decodeJSONLine(Data(line), decoder: decoder, file: path, location: .line(lineNumber)))
            }
        }
        return examples
    }

    private static func parseJSONArray(_ contents: Data, path: String) throws -> [PreferenceExample] {
        if let examples = try? JSONDecoder().decode([PreferenceExample].self, from: contents) { return examples }
        let document: Any
        do {
            document = try JSONSerialization.jsonObject(with: contents, options: [])
        } catch {
            throw DataError(file: path, problem: "malformed JSON: \(parserReason(error))")
        }
        guard let elements = document as? [Any] else {
            throw DataError(file: path, problem: "expected a top-level JSON array of examples")
        }
        return try elements.enumerated().map { index, element in
            try example(from: element, file: path, location: .arrayIndex(index))
        }
    }

    /// Decodes one JSONL line with `JSONDecoder` (the fast path); if that fails, parses again with `JSONSerialization`
    /// to tell the user precisely what is wrong.
    private static func decodeJSONLine(_ json: Data, decoder: JSONDecoder, file: String,
                                      location: DataError.Location) throws -> PreferenceExample {
        if let example = try? decoder.decode(PreferenceExample.self, from: json) { return example }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])
        } catch {
            throw DataError(file: file, location: location, problem: "malformed JSON: \(parserReason(error)) "
                                + "(JSON Lines needs one complete object per line; a JSON file needs a top-level array)")
        }
        return try example(from: object, file: file, location: location)
    }

    private static func example(from object: Any, file: String, location: DataError.Location) throws -> PreferenceExample {
        guard let fields = object as? [String: Any] else {
            throw DataError(file: file, location: location,
                            problem: "expected a JSON object with string fields \"prompt\", \"chosen\" and \"rejected\", "
                                + "found \(jsonTypeName(object))")
        }
        func string(_ name: String) throws -> String {
            guard let value = fields[name] else {
                throw DataError(file: file, location: location, field: name, problem: "missing field \"\(name)\"")
            }
            guard let text = value as? String else {
                throw DataError(file: file, location: location, field: name,
                                problem: "field \"\(name)\" must be a string, found \(jsonTypeName(value))")
            }
            return text
        }
        return PreferenceExample(prompt: try string("prompt"), chosen: try string("chosen"), rejected: try string("rejected"))
    }

    /// Foundation's own explanation of a JSON syntax error (e.g. "Unexpected end of file during JSON parse.").
    private static func parserReason(_ error: Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }

    private static func jsonTypeName(_ value: Any) -> String {
        switch value {
        case is String: return "a string"
        case is NSNull: return "null"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case let number as NSNumber: return String(cString: number.objCType) == "c" ? "a boolean" : "a number"
        default: return "a value of unexpected type"
        }
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
