import Foundation
import Testing
@testable import ChatTemplate

/// Renders `source` with no messages; extra variables come from the template's own `{% set %}`s.
private func render(_ source: String, messages: [ChatMessage] = [], generationPrompt: Bool = false,
                    specialTokens: [String: String] = [:]) throws -> String {
    try ChatTemplate(source: source, specialTokens: specialTokens).render(messages, addGenerationPrompt: generationPrompt)
}

/// The error parsing or rendering `source` throws.
private func templateError(_ source: String, messages: [ChatMessage] = []) throws -> ChatTemplateError {
    try #require(throws: ChatTemplateError.self) { try render(source, messages: messages) }
}

@Suite struct ChatTemplateInterpreterTests {
    @Test func whitespaceControlFollowsTransformersSettings() throws {
        // trim_blocks eats the newline after a block tag, lstrip_blocks the indentation before it.
        #expect(try render("{% if true %}\n  yes\n  {% endif %}\nend") == "  yes\nend")
        // An output tag keeps both.
        #expect(try render("  {{ 'x' }}\n") == "  x")
        // '-' strips every whitespace character on its side, newlines included.
        #expect(try render("a \n {{- 'b' -}} \n c") == "abc")
        // '+' turns lstrip/trim off for that tag.
        #expect(try render("  {%+ if true +%}\nx{% endif %}") == "  \nx")
        // Indentation is only stripped when nothing else precedes the tag on its line.
        #expect(try render("a  {% if true %}b{% endif %}") == "a  b")
        // One trailing newline of the source is dropped; CRLF becomes LF.
        #expect(try render("line\r\n\n") == "line\n")
    }

    @Test func messagesAndSpecialTokensAreVisible() throws {
        let source = "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m['content'] }};{% endfor %}"
            + "{% if add_generation_prompt %}{{ eos_token }}{% endif %}[{{ pad_token }}][{{ tools }}]"
        let text = try render(source, messages: [ChatMessage(role: "user", content: "hi")], generationPrompt: true,
                              specialTokens: ["bos_token": "<s>", "eos_token": "</s>"])
        // Unset special tokens are Undefined (empty); `tools` is passed as None, as transformers does.
        #expect(text == "<s>user=hi;</s>[][None]")
    }

    @Test func raiseExceptionSurfacesTheTemplatesMessage() throws {
        let mistralStyle = "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
            + "{% endif %}{{ message['content'] }}{% endfor %}"
        let ok = [ChatMessage(role: "user", content: "a"), ChatMessage(role: "assistant", content: "b")]
        #expect(try render(mistralStyle, messages: ok) == "ab")
        let error = try templateError(mistralStyle, messages: [ChatMessage(role: "assistant", content: "b")])
        #expect(error.kind == .raisedByTemplate)
        #expect(error.message == "Conversation roles must alternate user/assistant/user/assistant/...")
        #expect(error.location == TemplateLocation(line: 1, column: 95))
        #expect(error.description.contains("Conversation roles must alternate"))
    }

    @Test func unsupportedConstructsNameTheConstructAndPosition() throws {
        let include = try templateError("hello\n  {% include 'header.jinja' %}")
        #expect(include.kind == .unsupported)
        #expect(include.message.contains("include"))
        #expect(include.location == TemplateLocation(line: 2, column: 3))
        #expect(include.description.contains("line 2, column 3"))

        let filter = try templateError("{{ messages|wordwrap }}")
        #expect(filter.kind == .unsupported)
        #expect(filter.message.contains("'wordwrap'"))
        #expect(filter.location == TemplateLocation(line: 1, column: 13))

        let test = try templateError("{% if x is escaped %}{% endif %}")
        #expect(test.kind == .unsupported)
        #expect(test.message.contains("'escaped'"))

        let method = try templateError("{{ 'x'.zfill(3) }}")
        #expect(method.kind == .unsupported)
        #expect(method.message.contains("zfill"))

        for tag in ["import 'x' as y", "extends 'x'", "raw", "filter upper", "call foo()", "with a = 1"] {
            #expect(try templateError("{% \(tag) %}").kind == .unsupported, "\(tag)")
        }
    }

    @Test func syntaxErrorsArePositioned() throws {
        let unclosed = try templateError("{% for m in messages %}\n{{ m }}")
        #expect(unclosed.kind == .syntax)
        #expect(unclosed.message.contains("endfor"))
        #expect(unclosed.location == TemplateLocation(line: 1, column: 1))

        let badExpression = try templateError("ok\n{{ 1 + }}")
        #expect(badExpression.kind == .syntax)
        #expect(badExpression.location == TemplateLocation(line: 2, column: 8))

        let stray = try templateError("{% endif %}")
        #expect(stray.kind == .syntax)

        let unterminated = try templateError("{{ 'abc }}")
        #expect(unterminated.kind == .syntax)

        let breakOutsideLoop = try templateError("{% break %}")
        #expect(breakOutsideLoop.message.contains("outside"))

        let unknownTag = try templateError("{% frobnicate %}")
        #expect(unknownTag.kind == .syntax)
        #expect(unknownTag.message.contains("frobnicate"))
    }

    @Test func renderErrorsQuoteJinjasReasonWithPosition() throws {
        let undefinedAttribute = try templateError("{% set d = {} %}\n{{ d.a.b }}")
        #expect(undefinedAttribute.kind == .render)
        #expect(undefinedAttribute.message == "'dict object' has no attribute 'a'")
        #expect(undefinedAttribute.location?.line == 2)

        let typeError = try templateError("{{ 'a' + 1 }}")
        #expect(typeError.kind == .render)
        #expect(typeError.message.contains("'str' and 'int'"))

        let assignToNonNamespace = try templateError("{% set x = 1 %}{% set x.y = 2 %}")
        #expect(assignToNonNamespace.message.contains("namespace"))

        #expect(try templateError("{{ 1 // 0 }}").message.contains("zero"))
    }

    @Test func namespacesCarryStateOutOfLoops() throws {
        let source = "{% set ns = namespace(last_user=-1) %}{% for m in messages %}{% if m.role == 'user' %}"
            + "{% set ns.last_user = loop.index0 %}{% endif %}{% endfor %}{{ ns.last_user }}"
        let messages = [ChatMessage(role: "user", content: "a"), ChatMessage(role: "assistant", content: "b"),
                        ChatMessage(role: "user", content: "c"), ChatMessage(role: "assistant", content: "d")]
        #expect(try render(source, messages: messages) == "2")
    }

    @Test func messageSlicesAndSystemExtraction() throws {
        let source = "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
            + "{% set rest = messages[1:] %}{% else %}{% set system = 'default' %}{% set rest = messages %}{% endif %}"
            + "[{{ system }}]{% for m in rest %}{{ m.content|upper }}{% endfor %}"
        let withSystem = [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "u")]
        #expect(try render(source, messages: withSystem) == "[S]U")
        #expect(try render(source, messages: [ChatMessage(role: "user", content: "u")]) == "[default]U")
    }

    @Test func strftimeNowFormatsTodayInTheCLocale() throws {
        let text = try render("{{ strftime_now('%d %b %Y') }}")
        #expect(text == (try JinjaBuiltins.formatDate(Date(), format: "%d %b %Y")))
        let date = try #require(Calendar(identifier: .gregorian).date(
            from: DateComponents(timeZone: .current, year: 2024, month: 7, day: 6, hour: 9, minute: 5, second: 3)))
        #expect(try JinjaBuiltins.formatDate(date, format: "%d %b %Y|%B %m %y %H:%M:%S %a %A %j %%")
                == "06 Jul 2024|July 07 24 09:05:03 Sat Saturday 188 %")
    }
}
