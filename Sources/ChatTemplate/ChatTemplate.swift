import Foundation
import JSON

/// One turn of a conversation, as chat datasets store it: `{"role": "user", "content": "Hi"}`.
public struct ChatMessage: Codable, Equatable, Sendable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's chat template: renders a list of messages into the exact text that transformers'
/// `tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=…)` produces.
///
/// The template runs in a small Jinja interpreter that implements what Hugging Face chat templates use
/// (if/for/set/macro, `namespace()`, loop variables, Jinja's filters and tests that templates call, Python string
/// and dict methods, `raise_exception`, `strftime_now`), with transformers' settings `trim_blocks` and
/// `lstrip_blocks`. Anything else is rejected when the template is loaded, naming the construct and its line and
/// column.
public struct ChatTemplate: Sendable {
    /// The Jinja source.
    public let source: String
    /// Where the template came from, for messages: a file path or `built-in 'chatml'`.
    public let origin: String
    /// `bos_token`, `eos_token`, … as the template sees them.
    public let specialTokens: [String: String]
    private let nodes: [JinjaNode]

    /// Names accepted by `builtIn(named:)` and by `load(tokenizerConfig:builtInName:)`.
    public static var builtInNames: [String] { BuiltInChatTemplates.entries.keys.sorted() }

    /// The special tokens transformers passes to every template (its `special_tokens_map`).
    public static let specialTokenKeys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                          "cls_token", "mask_token"]

    /// Parses `source`; throws `ChatTemplateError` (with line and column) for invalid or unsupported Jinja.
    public init(source: String, origin: String = "chat template", specialTokens: [String: String] = [:]) throws {
        self.source = source
        self.origin = origin
        self.specialTokens = specialTokens
        nodes = try JinjaParser.parse(source)
    }

    /// A built-in template (`chatml`, `llama3`, `zephyr`) with its family's special tokens, each overridden by
    /// `specialTokens` when given there.
    public static func builtIn(named name: String, specialTokens: [String: String] = [:]) throws -> ChatTemplate {
        guard let entry = BuiltInChatTemplates.entries[name] else {
            throw ChatTemplateError(.configuration, "unknown built-in chat template '\(name)'; the built-in ones "
                                    + "are \(builtInNames.joined(separator: ", "))")
        }
        return try ChatTemplate(source: entry.source, origin: "built-in '\(name)'",
                                specialTokens: entry.specialTokens.merging(specialTokens) { $1 })
    }

    /// The chat template of a Hugging Face tokenizer. `path` is a `tokenizer_config.json` file or the directory
    /// holding it. The template is, in order: the built-in one named `builtInName` when given; a
    /// `chat_template.jinja` file next to the config (which transformers prefers); the config's `chat_template`
    /// string, or the entry named "default" when it is a list of `{name, template}`. Special tokens come from
    /// the config (strings or `{"content": …}` objects), falling back to `special_tokens_map.json`.
    ///
    /// A missing or unsupported template is an error that says how to name a built-in one instead.
    public static func load(tokenizerConfig path: String, builtInName: String? = nil) throws -> ChatTemplate {
        var isDirectory: ObjCBool = false
        let configPath = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (path as NSString).appendingPathComponent("tokenizer_config.json") : path
        let directory = (configPath as NSString).deletingLastPathComponent
        let config = try readJSONObject(configPath)
        var specialTokens: [String: String] = [:]
        let tokenMapPath = (directory as NSString).appendingPathComponent("special_tokens_map.json")
        if FileManager.default.fileExists(atPath: tokenMapPath) {
            specialTokens = try readSpecialTokens(try readJSONObject(tokenMapPath))
        }
        specialTokens.merge(try readSpecialTokens(config)) { $1 }

        if let builtInName { return try builtIn(named: builtInName, specialTokens: specialTokens) }

        let hint = "name one of the built-in chat templates (\(builtInNames.joined(separator: ", "))) in the "
            + "configuration instead"
        let jinjaPath = (directory as NSString).appendingPathComponent("chat_template.jinja")
        let source: String
        let origin: String
        if FileManager.default.fileExists(atPath: jinjaPath) {
            guard let text = try? String(contentsOfFile: jinjaPath, encoding: .utf8) else {
                throw ChatTemplateError(.configuration, "\(jinjaPath): cannot be read as UTF-8 text")
            }
            (source, origin) = (text, jinjaPath)
        } else {
            (source, origin) = (try templateSource(in: config, hint: hint), configPath)
        }
        do {
            return try ChatTemplate(source: source, origin: origin, specialTokens: specialTokens)
        } catch let error as ChatTemplateError {
            throw ChatTemplateError(error.kind, "\(origin): \(error.message); \(hint)", at: error.location)
        }
    }

    /// Renders a conversation. With `addGenerationPrompt` the template appends the header that starts the
    /// assistant's reply. Throws `ChatTemplateError` when the template fails, including its own
    /// `raise_exception` (kind `.raisedByTemplate`, with the template's message).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        var variables: [String: JinjaValue] = [
            "messages": .list(messages.map {
                .dictionary(JinjaDictionary([("role", .string($0.role)), ("content", .string($0.content))]))
            }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": .none,
            "documents": .none,
        ]
        for (key, token) in specialTokens { variables[key] = .string(token) }
        var renderer = JinjaRenderer(variables: variables)
        return try renderer.render(nodes)
    }

    /// A conversational preference example rendered as TRL's `apply_chat_template` does: the prompt with the
    /// generation prompt, and each completion as the text its conversation adds after the prompt (the prompt
    /// being cut back to what all three renderings share, for templates that render it differently).
    /// The prompt must end with a user (or tool) message.
    public func renderPreference(prompt: [ChatMessage], chosen: [ChatMessage],
                                 rejected: [ChatMessage]) throws -> (prompt: String, chosen: String, rejected: String) {
        guard let lastRole = prompt.last?.role else {
            throw ChatTemplateError(.configuration, "the prompt conversation is empty")
        }
        guard lastRole == "user" || lastRole == "tool" else {
            throw ChatTemplateError(.configuration, "the prompt's last message has role '\(lastRole)'; it must be "
                                    + "'user' or 'tool' (continuing a final assistant message is not supported)")
        }
        let promptText = Array(try render(prompt, addGenerationPrompt: true).unicodeScalars)
        let chosenText = Array(try render(prompt + chosen, addGenerationPrompt: false).unicodeScalars)
        let rejectedText = Array(try render(prompt + rejected, addGenerationPrompt: false).unicodeScalars)
        var shared = 0
        while shared < promptText.count, shared < chosenText.count, shared < rejectedText.count,
              promptText[shared] == chosenText[shared], promptText[shared] == rejectedText[shared] {
            shared += 1
        }
        func text(_ scalars: ArraySlice<Unicode.Scalar>) -> String { String(String.UnicodeScalarView(scalars)) }
        return (text(promptText[..<shared]), text(chosenText[shared...]), text(rejectedText[shared...]))
    }

    // MARK: reading tokenizer files

    /// Runs `body`, which reads a tokenizer config file, reporting the JSON problems it meets (which name the file and
    /// key) as configuration errors.
    private static func readingConfiguration<Result>(_ body: () throws -> Result) throws -> Result {
        do {
            return try body()
        } catch let error as JSONError {
            throw ChatTemplateError(.configuration, "\(error)")
        }
    }

    private static func readJSONObject(_ path: String) throws -> JSONField {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChatTemplateError(.configuration, "\(path): the file does not exist or cannot be read")
        }
        let root = try readingConfiguration { try JSONField.parse(data, file: path) }
        guard case .object = root.value else {
            throw ChatTemplateError(.configuration, "\(path): expected a JSON object at the top level")
        }
        return root
    }

    /// The named special tokens of a tokenizer config: strings, or AddedToken objects with a "content" string.
    private static func readSpecialTokens(_ config: JSONField) throws -> [String: String] {
        try readingConfiguration {
            var tokens: [String: String] = [:]
            for key in specialTokenKeys {
                guard let token = try config.optional(key) else { continue }
                switch token.value {
                case .string(let text): tokens[key] = text
                case .object: tokens[key] = try token.required("content").string()
                default: throw token.error("must be a string or an object with \"content\"")
                }
            }
            return tokens
        }
    }

    private static func templateSource(in config: JSONField, hint: String) throws -> String {
        try readingConfiguration {
            guard let template = try config.optional("chat_template") else {
                throw ChatTemplateError(.configuration, "\(config.file) has no \"chat_template\" (and there is no "
                                        + "chat_template.jinja next to it); \(hint)")
            }
            switch template.value {
            case .string(let text):
                return text
            case .array:
                var names: [String] = []
                for entry in try template.array() {
                    let name = try entry.required("name").string()
                    if name == "default" { return try entry.required("template").string() }
                    names.append(name)
                }
                throw ChatTemplateError(.configuration, "\(config.file): \"chat_template\" lists templates "
                                        + "\(names.joined(separator: ", ")) but none named \"default\"; \(hint)")
            default:
                throw template.error("must be a string or a list of {name, template} objects")
            }
        }
    }
}
