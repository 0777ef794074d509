import Foundation
import ChatTemplate
import Diagnostics
import JSON

/// One preference triple in TRL's "standard" format: a prompt, the preferred completion and the dispreferred one.
public struct PreferenceExample: Equatable, Sendable {
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
public struct DataError: Error, IdenticalOnEveryRank, CustomStringConvertible, Equatable, Sendable {
    /// Where in the file the problem is.
    public enum Location: Equatable, Sendable, CustomStringConvertible {
        /// 1-based line of a JSONL file.
        case line(Int)
        /// 0-based index into the top-level array of a JSON file.
        case arrayIndex(Int)

        public var description: String {
            switch self {
            case .line(let line): return "line \(line)"
            case .arrayIndex(let index): return "array element [\(index)]"
            }
        }
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
        file + (location.map { ", \($0)" } ?? "") + ": " + problem
    }
}


/// One preference triple in TRL's "conversational" format: the prompt's turns and each completion's turns
/// (usually a single assistant message), rendered with a chat template before tokenization.
public struct ConversationalExample: Equatable, Sendable {
    public var prompt: [ChatMessage]
    public var chosen: [ChatMessage]
    public var rejected: [ChatMessage]

    public init(prompt: [ChatMessage], chosen: [ChatMessage], rejected: [ChatMessage]) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
    }
}

/// The data formats TRL's `DPOTrainer` accepts. A file holds one of them; TRL decides it from the first record.
public enum PreferenceFormat: String, Equatable, Sendable, CustomStringConvertible {
    /// `{"prompt", "chosen", "rejected"}` strings.
    case standard
    /// `{"prompt", "chosen", "rejected"}` lists of `{"role", "content"}` messages.
    case conversational
    /// `{"chosen", "rejected"}` strings that both start with the prompt (TRL's `extract_prompt` splits it off).
    case implicitPromptStandard
    /// `{"chosen", "rejected"}` message lists that both start with the prompt's messages.
    case implicitPromptConversational

    /// Whether the records are message lists, to be rendered with a chat template.
    public var isConversational: Bool { self == .conversational || self == .implicitPromptConversational }

    public var description: String {
        switch self {
        case .standard: return "standard (string prompt, chosen and rejected)"
        case .conversational: return "conversational (message-list prompt, chosen and rejected)"
        case .implicitPromptStandard: return "implicit-prompt standard (string chosen and rejected, no prompt)"
        case .implicitPromptConversational:
            return "implicit-prompt conversational (message-list chosen and rejected, no prompt)"
        }
    }
}

/// The records of one dataset file, in file order, with the prompt already split off in the implicit-prompt formats.
public enum PreferenceRecords: Equatable, Sendable {
    case standard([PreferenceExample])
    case conversational([ConversationalExample])

    public var count: Int {
        switch self {
        case .standard(let examples): return examples.count
        case .conversational(let examples): return examples.count
        }
    }
}

/// A loaded dataset file: its format, its records and where each record is in the file (for later errors).
public struct PreferenceFile: Equatable, Sendable {
    public let path: String
    public let format: PreferenceFormat
    public let records: PreferenceRecords
    /// `locations[i]` is the line (JSONL) or array element (JSON) of record `i`.
    public let locations: [DataError.Location]
}

/// A prompt to continue: text, tokenized as it is (as `tokenizer(text)` does), or a conversation, rendered with the
/// chat template and its generation prompt.
public enum Prompt: Equatable, Sendable {
    case text(String)
    case messages([ChatMessage])
}

/// A loaded prompt file (`PreferenceDataset.loadPrompts`).
public struct PromptFile: Equatable, Sendable {
    public let path: String
    public let prompts: [Prompt]
    /// `locations[i]` is the line (JSONL) or array element (JSON) of prompt `i`.
    public let locations: [DataError.Location]
}

/// Loads preference datasets from disk.
public enum PreferenceDataset {
    /// Reads `path` as either JSON Lines (one object per line, blank lines skipped) or a JSON document whose top level
    /// is an array of objects. The format is decided by content, not by extension: if the first non-whitespace byte is
    /// `[` the file is a JSON array, otherwise JSONL. A UTF-8 byte-order mark and CRLF line endings are accepted.
    ///
    /// Each record is one of the `PreferenceFormat`s; all records of a file must share one. Fields other than
    /// `prompt`, `chosen` and `rejected` are ignored, and so are message keys other than `role` and `content`.
    /// Implicit-prompt records are split as TRL's `extract_prompt` does (see `extractPrompt`).
    ///
    /// Throws `DataError` for a missing/unreadable file, an empty file, malformed JSON, a missing or mistyped field, a
    /// record whose format differs from the first record's, or an implicit-prompt record with an empty completion.
    public static func load(path: String) throws -> PreferenceFile {
        let fields = try readRecords(path: path)
        let first = fields[0]
        let format = try first.fields.format(file: path, location: first.location)
        for record in fields.dropFirst() {
            let recordFormat = try record.fields.format(file: path, location: record.location)
            guard recordFormat == format else {
                throw DataError(file: path, location: record.location, problem: "this record is \(recordFormat), "
                                + "but the first record (\(first.location)) is \(format); a file must use one format")
            }
        }
        let records: PreferenceRecords
        if format.isConversational {
            records = .conversational(try fields.map { record in
                let fields = record.fields
                // A message is never TRL's " ", so no space moves between prompt and completion.
                let (prompt, chosen, rejected) = try withPrompt(
                    fields.prompt?.messages, chosen: fields.chosen?.messages ?? [],
                    rejected: fields.rejected?.messages ?? [], file: path, location: record.location) { _ in false }
                return ConversationalExample(prompt: prompt, chosen: chosen, rejected: rejected)
            })
        } else {
            records = .standard(try fields.map { record in
                let fields = record.fields
                if case .text(let prompt)? = fields.prompt, case .text(let chosen)? = fields.chosen,
                   case .text(let rejected)? = fields.rejected {
                    return PreferenceExample(prompt: prompt, chosen: chosen, rejected: rejected)
                }
                // Without a prompt the split is by code point, as Python indexes strings.
                let (prompt, chosen, rejected) = try withPrompt(
                    fields.prompt?.scalars, chosen: fields.chosen?.scalars ?? [],
                    rejected: fields.rejected?.scalars ?? [], file: path, location: record.location) { $0 == " " }
                return PreferenceExample(prompt: string(prompt), chosen: string(chosen), rejected: string(rejected))
            })
        }
        return PreferenceFile(path: path, format: format, records: records, locations: fields.map(\.location))
    }

    /// TRL's `extract_prompt` for a record without a prompt: the prompt is the longest common leading part of
    /// `chosen` and `rejected` (characters of strings, or whole messages), and the completions are the rest. When the
    /// two differ right after a space, that space is moved from the prompt to the completions. When one is a prefix of
    /// the other, the prompt stops one element short of the shorter one (so its completion keeps that element), as
    /// Python's loop variable leaves it. Returns nil when either is empty (TRL fails there).
    ///
    /// One deliberate difference: when the very first elements differ, the prompt is empty. (TRL would then look at
    /// element −1, Python's last one, and for a chosen string ending in a space make everything but that space the
    /// prompt.)
    public static func extractPrompt<Element: Equatable>(chosen: [Element], rejected: [Element],
                                                         isSpace: (Element) -> Bool)
    -> (prompt: [Element], chosen: [Element], rejected: [Element])? {
        let shorter = min(chosen.count, rejected.count)
        guard shorter > 0 else { return nil }
        var split = shorter - 1
        if let firstDifference = (0..<shorter).first(where: { chosen[$0] != rejected[$0] }) {
            split = firstDifference
            if split > 0, isSpace(chosen[split - 1]) { split -= 1 }
        }
        return (Array(chosen[..<split]), Array(chosen[split...]), Array(rejected[split...]))
    }

    /// The record's prompt, or the one `extractPrompt` splits off its completions.
    private static func withPrompt<Element: Equatable>(
        _ prompt: [Element]?, chosen: [Element], rejected: [Element], file: String, location: DataError.Location,
        isSpace: (Element) -> Bool) throws -> ([Element], [Element], [Element]) {
        if let prompt { return (prompt, chosen, rejected) }
        guard let split = extractPrompt(chosen: chosen, rejected: rejected, isSpace: isSpace) else {
            throw DataError(file: file, location: location, problem: "without a \"prompt\" field, \"chosen\" and "
                            + "\"rejected\" must both be non-empty so that their shared beginning can become the "
                            + "prompt")
        }
        return split
    }

    /// A record's `prompt`, `chosen` and `rejected` before the format is known.
    struct RecordFields {
        /// A field's value: a string or a list of messages.
        enum Field {
            case text(String)
            case messages([ChatMessage])

            var messages: [ChatMessage]? {
                if case .messages(let messages) = self { return messages } else { return nil }
            }
            /// The string as Python indexes it: by code point.
            var scalars: [Unicode.Scalar]? {
                if case .text(let text) = self { return Array(text.unicodeScalars) } else { return nil }
            }
            var kind: String { messages == nil ? "a string" : "a list of messages" }
        }

        var prompt: Field?
        var chosen: Field?
        var rejected: Field?
        /// Fields of SFT records (`loadCompletions`).
        var completion: Field?
        var messages: Field?

        /// Which format this record is in; throws for a missing completion, fields of different kinds, or an empty
        /// completion message list.
        func format(file: String, location: DataError.Location) throws -> PreferenceFormat {
            func required(_ name: String, _ field: Field?) throws -> Field {
                guard let field else {
                    throw DataError(file: file, location: location, field: name, problem: "missing field \"\(name)\"")
                }
                return field
            }
            let present = [("prompt", prompt), ("chosen", try required("chosen", chosen)),
                           ("rejected", try required("rejected", rejected))]
                .compactMap { name, field in field.map { (name: name, field: $0) } }
            let first = present[0]
            if let other = present.first(where: { ($0.field.messages == nil) != (first.field.messages == nil) }) {
                throw DataError(file: file, location: location, field: other.name, problem:
                    "field \"\(first.name)\" is \(first.field.kind) but \"\(other.name)\" is \(other.field.kind); a "
                    + "record's fields are either all strings or all message lists")
            }
            if let empty = present.first(where: { $0.name != "prompt" && $0.field.messages?.isEmpty == true }) {
                throw DataError(file: file, location: location, field: empty.name,
                                problem: "field \"\(empty.name)\" is an empty list of messages")
            }
            switch (prompt != nil, first.field.messages != nil) {
            case (true, false): return .standard
            case (true, true): return .conversational
            case (false, false): return .implicitPromptStandard
            case (false, true): return .implicitPromptConversational
            }
        }
    }

    private static func string(_ scalars: [Unicode.Scalar]) -> String {
        String(String.UnicodeScalarView(scalars))
    }

    /// The records of a JSONL or JSON-array file (at least one), each with its line or array index.
    private static func readRecords(path: String) throws -> [LocatedFields] {
        var contents = try readFile(path: path)
        let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]
        if contents.starts(with: byteOrderMark) { contents = contents.dropFirst(byteOrderMark.count) }

        guard let firstByte = contents.first(where: { !isJSONWhitespace($0) }) else {
            throw DataError(file: path, problem: "the file is empty; expected JSON Lines or a JSON array of examples")
        }
        let fields = firstByte == UInt8(ascii: "[")
            ? try parseJSONArray(contents, path: path)
            : try parseJSONLines(contents, path: path)
        guard !fields.isEmpty else {
            throw DataError(file: path, problem: "the file contains no examples")
        }
        return fields
    }

    /// Reads supervised fine-tuning data: `{"prompt", "completion"}` as strings or message lists, or `{"messages"}`
    /// (a conversation whose last assistant message is the completion and everything before it the prompt). Each
    /// record becomes a pair whose chosen and rejected are both the completion, so the preference pipeline (EOS text,
    /// chat template, TRL's prompt/completion split, truncation) tokenizes it unchanged; SFT trains on the chosen row.
    public static func loadCompletions(path: String) throws -> PreferenceFile {
        let fields = try readRecords(path: path)
        var standard: [PreferenceExample] = []
        var conversational: [ConversationalExample] = []
        for record in fields {
            let location = record.location
            func problem(_ text: String) -> DataError { DataError(file: path, location: location, problem: text) }
            switch (record.fields.prompt, record.fields.completion, record.fields.messages) {
            case (.text(let prompt)?, .text(let completion)?, nil):
                standard.append(PreferenceExample(prompt: prompt, chosen: completion, rejected: completion))
            case (.messages(let prompt)?, .messages(let completion)?, nil):
                conversational.append(ConversationalExample(prompt: prompt, chosen: completion, rejected: completion))
            case (nil, nil, .messages(let messages)?):
                guard let last = messages.lastIndex(where: { $0.role == "assistant" }), last > 0 else {
                    throw problem("\"messages\" needs an assistant message after at least one other message")
                }
                conversational.append(ConversationalExample(prompt: Array(messages[..<last]),
                                                            chosen: Array(messages[last...]), rejected: Array(messages[last...])))
            case (_, _, .text?):
                throw problem("field \"messages\" must be a list of {\"role\", \"content\"} messages")
            default:
                throw problem("expected {\"prompt\", \"completion\"} (both strings or both message lists) or {\"messages\"}")
            }
            guard standard.isEmpty || conversational.isEmpty else {
                throw problem("this record's format differs from the earlier records'; a file must use one format")
            }
        }
        return conversational.isEmpty
            ? PreferenceFile(path: path, format: .standard, records: .standard(standard), locations: fields.map(\.location))
            : PreferenceFile(path: path, format: .conversational, records: .conversational(conversational),
                             locations: fields.map(\.location))
    }

    /// Reads prompts to generate from: records with a `"prompt"` (a string, or a list of messages as in TRL's
    /// conversational format) or `"messages"` (a conversation to continue), so the prompts of a preference or
    /// prompt/completion file can be used as they are; other fields are ignored. Throws `DataError` naming the line
    /// (or array element) of a record with neither field, or with both.
    public static func loadPrompts(path: String) throws -> PromptFile {
        let fields = try readRecords(path: path)
        let prompts = try fields.map { record -> Prompt in
            switch (record.fields.prompt, record.fields.messages) {
            case (.text(let text)?, nil): return .text(text)
            case (.messages(let messages)?, nil), (nil, .messages(let messages)?): return .messages(messages)
            case (nil, .text?):
                throw DataError(file: path, location: record.location, field: "messages",
                                problem: "field \"messages\" must be a list of {\"role\", \"content\"} messages")
            case (nil, nil):
                throw DataError(file: path, location: record.location,
                                problem: "expected a \"prompt\" (a string or a list of messages) or \"messages\"")
            case (_?, _?):
                throw DataError(file: path, location: record.location,
                                problem: "has both \"prompt\" and \"messages\"; give one of them")
            }
        }
        return PromptFile(path: path, prompts: prompts, locations: fields.map(\.location))
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

    private typealias LocatedFields = (fields: RecordFields, location: DataError.Location)

    private static func parseJSONLines(_ contents: Data, path: String) throws -> [LocatedFields] {
        var records: [LocatedFields] = []
        try contents.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var lineStart = 0
            var lineNumber = 0
            while lineStart < buffer.count {
                // memchr: one fast scan of the whole buffer for the line ends. A "\r" before one (CRLF) is JSON whitespace.
                let lineEnd = memchr(base + lineStart, Int32(UInt8(ascii: "\n")), buffer.count - lineStart)
                    .map { $0 - UnsafeMutableRawPointer(mutating: base) } ?? buffer.count
                let line = UnsafeRawBufferPointer(rebasing: buffer[lineStart..<lineEnd])
                lineNumber += 1
                lineStart = lineEnd + 1
                guard line.contains(where: { !isJSONWhitespace($0) }) else { continue }
                let location = DataError.Location.line(lineNumber)
                let record: JSONValue
                do {
                    record = try JSONValue.parse(line, file: path)
                } catch let error as JSONError {
                    throw DataError(file: path, location: location, problem: "malformed JSON: \(syntaxProblem(error, line: false)) "
                                    + "(JSON Lines needs one complete object per line; a JSON file needs a top-level array)")
                }
                records.append((try fields(from: record, file: path, location: location), location))
            }
        }
        return records
    }

    private static func parseJSONArray(_ contents: Data, path: String) throws -> [LocatedFields] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(contents, file: path)
        } catch let error as JSONError {
            throw DataError(file: path, problem: "malformed JSON: \(syntaxProblem(error, line: true))")
        }
        guard case .array(let elements) = document else {
            throw DataError(file: path, problem: "expected a top-level JSON array of examples")
        }
        return try elements.enumerated().map { index, element in
            (try fields(from: element, file: path, location: .arrayIndex(index)), .arrayIndex(index))
        }
    }

    /// What the parser found wrong and where: the column (of the line that is the JSONL record), or line and column.
    private static func syntaxProblem(_ error: JSONError, line withLine: Bool) -> String {
        guard case let .malformed(line, column, reason) = error.problem else { return "\(error.problem)" }
        return withLine ? "\(reason) at line \(line), column \(column)" : "\(reason) at column \(column)"
    }

    /// A record's fields from its JSON, naming what is wrong.
    private static func fields(from record: JSONValue, file: String, location: DataError.Location) throws -> RecordFields {
        guard case .object(let object) = record else {
            throw DataError(file: file, location: location,
                            problem: "expected a JSON object with fields \"prompt\", \"chosen\" and \"rejected\", "
                                + "found \(record.kindName)")
        }
        func field(_ name: String) throws -> RecordFields.Field? {
            guard let value = object[name] else { return nil }
            func mistyped(_ problem: String) -> DataError {
                DataError(file: file, location: location, field: name, problem: "field \"\(name)\" " + problem)
            }
            switch value {
            case .string(let text):
                return .text(text)
            case .array(let items):
                return .messages(try items.enumerated().map { index, item in
                    guard case .object(let message) = item else {
                        throw mistyped("must be a string or a list of {\"role\", \"content\"} messages; element [\(index)] "
                                       + "is \(item.kindName)")
                    }
                    func text(_ key: String) throws -> String {
                        if case .string(let text)? = message[key] { return text }
                        let found = message[key]?.kindName ?? "nothing"
                        let parts = if case .array? = message[key], key == "content" {
                            " (a list of parts; only plain string content is supported)"
                        } else {
                            ""
                        }
                        throw mistyped("element [\(index)]: \"\(key)\" must be a string, found \(found)\(parts)")
                    }
                    return ChatMessage(role: try text("role"), content: try text("content"))
                })
            default:
                throw mistyped("must be a string or a list of messages, found \(value.kindName)")
            }
        }
        return RecordFields(prompt: try field("prompt"), chosen: try field("chosen"), rejected: try field("rejected"),
                            completion: try field("completion"), messages: try field("messages"))
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }
}
