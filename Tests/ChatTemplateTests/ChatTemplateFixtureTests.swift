import Foundation
import Testing
@testable import ChatTemplate

/// What tools/make_chat_template_fixtures.py recorded from transformers' `apply_chat_template`, TRL's
/// `apply_chat_template` and transformers' Jinja environment.
struct ChatTemplateFixture: Decodable {
    struct TemplateCase: Decodable {
        let name: String
        let builtIn: String?
        let source: String
        let specialTokens: [String: String]
        let renderings: [Rendering]
        let preferences: [PreferenceRendering]

        private enum CodingKeys: String, CodingKey {
            case name, source, renderings, preferences
            case builtIn = "built_in", specialTokens = "special_tokens"
        }
    }

    struct Rendering: Decodable {
        let conversation: String
        let addGenerationPrompt: Bool
        let text: String

        private enum CodingKeys: String, CodingKey {
            case conversation, text
            case addGenerationPrompt = "add_generation_prompt"
        }
    }

    struct PreferenceConversation: Decodable {
        let prompt: [ChatMessage]
        let chosen: [ChatMessage]
        let rejected: [ChatMessage]
    }

    struct PreferenceRendering: Decodable {
        let example: String
        let prompt: String
        let chosen: String
        let rejected: String
    }

    /// A small template rendered by Jinja: either its text or the exception it raised.
    struct InterpreterCase: Decodable {
        let name: String
        let source: String
        let text: String?
        let error: String?
        let message: String?
    }

    /// A published template rendered on a few conversations: each rendering has the text or the error.
    struct PublishedTemplate: Decodable {
        struct Rendering: Decodable {
            let conversation: String
            let addGenerationPrompt: Bool
            let text: String?
            let error: String?

            private enum CodingKeys: String, CodingKey {
                case conversation, text, error
                case addGenerationPrompt = "add_generation_prompt"
            }
        }

        let name: String
        let source: String
        let specialTokens: [String: String]
        let renderings: [Rendering]

        private enum CodingKeys: String, CodingKey {
            case name, source, renderings
            case specialTokens = "special_tokens"
        }
    }

    let conversations: [String: [ChatMessage]]
    let preferenceExamples: [String: PreferenceConversation]
    let templates: [TemplateCase]
    let interpreterCases: [InterpreterCase]
    let publishedTemplates: [PublishedTemplate]

    private enum CodingKeys: String, CodingKey {
        case conversations, templates
        case preferenceExamples = "preference_examples", interpreterCases = "interpreter_cases"
        case publishedTemplates = "published_templates"
    }

    static func directory() throws -> URL {
        try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/chat_templates")
    }

    static func load() throws -> ChatTemplateFixture {
        let data = try Data(contentsOf: try directory().appendingPathComponent("chat_templates.json"))
        return try JSONDecoder().decode(ChatTemplateFixture.self, from: data)
    }

    func template(_ name: String) throws -> TemplateCase {
        try #require(templates.first { $0.name == name }, "no fixture template \(name)")
    }
}

/// Exact equality of Unicode scalars (Swift's `==` on String would also accept canonically equivalent text).
func expectSameText(_ actual: String, _ expected: String, _ context: String,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.unicodeScalars.elementsEqual(expected.unicodeScalars),
            "\(context):\n  got      \(actual.debugDescription)\n  expected \(expected.debugDescription)",
            sourceLocation: sourceLocation)
}

private let fixtureTemplateNames = ["qwen2.5-instruct", "smollm2-instruct", "llama3-instruct", "llama3.1-instruct",
                                    "zephyr-7b-beta", "tinyllama-chat", "chatml"]

@Suite struct ChatTemplateFixtureTests {
    @Test func fixtureCoversTheExpectedTemplatesAndConversations() throws {
        let fixture = try ChatTemplateFixture.load()
        #expect(fixture.templates.map(\.name) == fixtureTemplateNames)
        #expect(fixture.conversations.count == 7)
        for template in fixture.templates {
            #expect(template.renderings.count == 2 * fixture.conversations.count)
        }
    }

    /// Every conversation, with and without the generation prompt, renders exactly as apply_chat_template did.
    @Test(arguments: fixtureTemplateNames)
    func rendersLikeTransformers(templateName: String) throws {
        let fixture = try ChatTemplateFixture.load()
        let recorded = try fixture.template(templateName)
        let template = try ChatTemplate(source: recorded.source, specialTokens: recorded.specialTokens)
        for rendering in recorded.renderings {
            let messages = try #require(fixture.conversations[rendering.conversation])
            let text = try template.render(messages, addGenerationPrompt: rendering.addGenerationPrompt)
            expectSameText(text, rendering.text,
                           "\(templateName) / \(rendering.conversation) / generation prompt \(rendering.addGenerationPrompt)")
        }
    }

    /// Preference examples split into prompt and completions exactly as TRL's apply_chat_template splits them.
    @Test(arguments: fixtureTemplateNames)
    func rendersPreferencesLikeTRL(templateName: String) throws {
        let fixture = try ChatTemplateFixture.load()
        let recorded = try fixture.template(templateName)
        let template = try ChatTemplate(source: recorded.source, specialTokens: recorded.specialTokens)
        #expect(recorded.preferences.count == fixture.preferenceExamples.count)
        for expected in recorded.preferences {
            let example = try #require(fixture.preferenceExamples[expected.example])
            let rendered = try template.renderPreference(prompt: example.prompt, chosen: example.chosen,
                                                         rejected: example.rejected)
            let context = "\(templateName) / \(expected.example)"
            expectSameText(rendered.prompt, expected.prompt, context + " prompt")
            expectSameText(rendered.chosen, expected.chosen, context + " chosen")
            expectSameText(rendered.rejected, expected.rejected, context + " rejected")
        }
    }

    /// The built-in templates are the published sources, and render like them with their family's tokens.
    @Test func builtInTemplatesEqualThePublishedOnes() throws {
        let fixture = try ChatTemplateFixture.load()
        let builtIns = fixture.templates.filter { $0.builtIn != nil }
        #expect(Set(builtIns.compactMap(\.builtIn)) == Set(ChatTemplate.builtInNames))
        for recorded in builtIns {
            let template = try ChatTemplate.builtIn(named: try #require(recorded.builtIn))
            #expect(template.source == recorded.source, "built-in \(recorded.builtIn!) differs from \(recorded.name)")
            for (key, token) in recorded.specialTokens { #expect(template.specialTokens[key] == token) }
            for rendering in recorded.renderings {
                let messages = try #require(fixture.conversations[rendering.conversation])
                expectSameText(try template.render(messages, addGenerationPrompt: rendering.addGenerationPrompt),
                               rendering.text, "built-in \(recorded.builtIn!) / \(rendering.conversation)")
            }
        }
    }

    /// A tokenizer directory written by `save_pretrained` (chat_template.jinja beside tokenizer_config.json).
    @Test func loadsATokenizerSavedByTransformers() throws {
        let fixture = try ChatTemplateFixture.load()
        let recorded = try fixture.template("qwen2.5-instruct")
        let directory = try ChatTemplateFixture.directory().appendingPathComponent("saved_tokenizer")
        for path in [directory.path, directory.appendingPathComponent("tokenizer_config.json").path] {
            let template = try ChatTemplate.load(tokenizerConfig: path)
            #expect(template.source == recorded.source)
            #expect(template.specialTokens == recorded.specialTokens)
            let rendering = try #require(recorded.renderings.first { $0.conversation == "system_multi_turn" })
            let messages = try #require(fixture.conversations[rendering.conversation])
            expectSameText(try template.render(messages, addGenerationPrompt: rendering.addGenerationPrompt),
                           rendering.text, "saved tokenizer at \(path)")
        }
    }

    /// Small templates, one feature each, give Jinja's output or fail where Jinja fails.
    @Test func interpreterMatchesJinjaOnFeatureCases() throws {
        let fixture = try ChatTemplateFixture.load()
        #expect(fixture.interpreterCases.count >= 40)
        for recorded in fixture.interpreterCases {
            let outcome = Result { try ChatTemplate(source: recorded.source).render([], addGenerationPrompt: false) }
            switch (outcome, recorded.text) {
            case (.success(let text), let expected?):
                expectSameText(text, expected, recorded.name)
            case (.failure(let error as ChatTemplateError), nil):
                let expectedKinds: [ChatTemplateError.Kind] = switch recorded.error {
                case "TemplateSyntaxError": [.syntax, .unsupported]
                case "TemplateError": [.raisedByTemplate]
                default: [.render]
                }
                #expect(expectedKinds.contains(error.kind), "\(recorded.name): \(error) vs Jinja's \(recorded.error!)")
                if error.kind == .raisedByTemplate { #expect(error.message == recorded.message) }
            case (.success(let text), nil):
                Issue.record("\(recorded.name): rendered \(text.debugDescription) but Jinja raised \(recorded.error!): \(recorded.message!)")
            case (.failure(let error), _):
                Issue.record("\(recorded.name): failed with \(error) but Jinja rendered \(recorded.text!.debugDescription)")
            }
        }
    }

    /// TRL's copies of published templates (Qwen3, Gemma 1-4, Phi-3, DeepSeek, GLM, Cohere, Nemotron, …) render
    /// as transformers renders them, and fail on the conversations where transformers fails.
    @Test func rendersPublishedTemplatesLikeTransformers() throws {
        let fixture = try ChatTemplateFixture.load()
        #expect(fixture.publishedTemplates.count >= 30)
        for published in fixture.publishedTemplates {
            let template = try ChatTemplate(source: published.source, specialTokens: published.specialTokens)
            for rendering in published.renderings {
                let messages = try #require(fixture.conversations[rendering.conversation])
                let context = "\(published.name) / \(rendering.conversation) / generation prompt \(rendering.addGenerationPrompt)"
                let outcome = Result { try template.render(messages, addGenerationPrompt: rendering.addGenerationPrompt) }
                switch (outcome, rendering.text) {
                case (.success(let text), let expected?): expectSameText(text, expected, context)
                case (.failure, nil): break
                case (.success(let text), nil):
                    Issue.record("\(context): rendered \(text.debugDescription) but transformers failed: \(rendering.error!)")
                case (.failure(let error), _):
                    Issue.record("\(context): \(error)")
                }
            }
        }
    }
}
