import Diagnostics

/// A place in a template's source: 1-based line and column, counted in Unicode scalars after Jinja's newline
/// normalization (`\r\n` and `\r` become `\n`).
public struct TemplateLocation: Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let column: Int

    public var description: String { "line \(line), column \(column)" }
}

/// Why a chat template could not be parsed or rendered, phrased for the person who has to fix the template or the
/// configuration. Positions refer to the template source.
public struct ChatTemplateError: Error, IdenticalOnEveryRank, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// The template text is not valid Jinja (unclosed tag, bad expression, missing `endif`, …).
        case syntax
        /// Valid Jinja that this interpreter does not implement (a tag, filter, test or method it lacks).
        case unsupported
        /// Rendering failed the way Jinja itself would fail: an undefined value used in arithmetic, a type error, …
        case render
        /// The template called `raise_exception(message)`; `message` is the template's own text.
        case raisedByTemplate
        /// The template could not be chosen: no `chat_template` in the tokenizer config, an unknown built-in name,
        /// a malformed config file or message list.
        case configuration
    }

    public let kind: Kind
    public let message: String
    public let location: TemplateLocation?

    public init(_ kind: Kind, _ message: String, at location: TemplateLocation? = nil) {
        self.kind = kind
        self.message = message
        self.location = location
    }

    public var description: String {
        let prefix: String
        switch kind {
        case .syntax: prefix = "chat template syntax error"
        case .unsupported: prefix = "unsupported in chat template"
        case .render: prefix = "chat template rendering failed"
        case .raisedByTemplate: prefix = "the chat template raised an exception"
        case .configuration: prefix = "chat template configuration"
        }
        let place = location.map { " at \($0)" } ?? ""
        return "\(prefix)\(place): \(message)"
    }
}
