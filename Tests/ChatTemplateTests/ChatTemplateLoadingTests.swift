import Foundation
import Testing
@testable import ChatTemplate
import TestSupport

/// Writes `config` as tokenizer_config.json (plus optional extra files) in a fresh directory.
private func tokenizerDirectory(config: String, files: [String: String] = [:]) throws -> TemporaryDirectory {
    let directory = try TemporaryDirectory()
    _ = try directory.write("tokenizer_config.json", config)
    for (name, text) in files { _ = try directory.write(name, text) }
    return directory
}

private let userHello = [ChatMessage(role: "user", content: "Hello")]

@Suite struct ChatTemplateLoadingTests {
    @Test func readsAStringTemplateAndSpecialTokens() throws {
        let directory = try tokenizerDirectory(config: """
            {"chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
             "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
             "eos_token": "</s>", "pad_token": null, "model_max_length": 1000000000000000019884624838656}
            """)
        let template = try ChatTemplate.load(tokenizerConfig: directory.url.path)
        #expect(template.specialTokens == ["bos_token": "<s>", "eos_token": "</s>"])
        #expect(try template.render(userHello, addGenerationPrompt: false) == "<s>Hello</s>")
    }

    @Test func picksTheDefaultOfNamedTemplates() throws {
        let directory = try tokenizerDirectory(config: """
            {"chat_template": [{"name": "tool_use", "template": "tools"},
                               {"name": "default", "template": "{{ messages[0].content }}!"}]}
            """)
        #expect(try ChatTemplate.load(tokenizerConfig: directory.url.path).render(userHello, addGenerationPrompt: false)
                == "Hello!")

        let noDefault = try tokenizerDirectory(config: #"{"chat_template": [{"name": "tool_use", "template": "x"}]}"#)
        let error = try #require(throws: ChatTemplateError.self) {
            try ChatTemplate.load(tokenizerConfig: noDefault.url.path)
        }
        #expect(error.message.contains("tool_use"))
        #expect(error.message.contains("chatml"))
    }

    @Test func fallsBackToSpecialTokensMap() throws {
        let directory = try tokenizerDirectory(
            config: #"{"chat_template": "{{ eos_token }}{{ bos_token }}", "bos_token": "<B>"}"#,
            files: ["special_tokens_map.json": #"{"bos_token": "<b>", "eos_token": {"content": "<e>"}}"#])
        #expect(try ChatTemplate.load(tokenizerConfig: directory.url.path).render([], addGenerationPrompt: false)
                == "<e><B>")
    }

    @Test func missingTemplateSaysHowToNameABuiltInOne() throws {
        let directory = try tokenizerDirectory(config: #"{"eos_token": "</s>"}"#)
        let error = try #require(throws: ChatTemplateError.self) {
            try ChatTemplate.load(tokenizerConfig: directory.url.path)
        }
        #expect(error.kind == .configuration)
        #expect(error.message.contains("no \"chat_template\""))
        for name in ChatTemplate.builtInNames { #expect(error.message.contains(name)) }

        // Naming a built-in one works, with the tokenizer's own special tokens.
        let zephyr = try ChatTemplate.load(tokenizerConfig: directory.url.path, builtInName: "zephyr")
        #expect(try zephyr.render(userHello, addGenerationPrompt: true) == "<|user|>\nHello</s>\n<|assistant|>\n")
    }

    @Test func unsupportedTemplateNamesFileConstructPositionAndAlternative() throws {
        let directory = try tokenizerDirectory(config: """
            {"chat_template": "{% include 'system_prompt.jinja' %}{{ messages[0].content }}"}
            """)
        let configPath = directory.url.appendingPathComponent("tokenizer_config.json").path
        let error = try #require(throws: ChatTemplateError.self) {
            try ChatTemplate.load(tokenizerConfig: configPath)
        }
        #expect(error.kind == .unsupported)
        #expect(error.location == TemplateLocation(line: 1, column: 1))
        #expect(error.message.hasPrefix(configPath))
        #expect(error.message.contains("include"))
        #expect(error.message.contains("built-in chat templates (chatml, llama3, zephyr)"))
        // The configuration can name a built-in template instead.
        let chatml = try ChatTemplate.load(tokenizerConfig: configPath, builtInName: "chatml")
        #expect(try chatml.render(userHello, addGenerationPrompt: true)
                == "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func badFilesAndNamesAreConfigurationErrors() throws {
        let unknown = try #require(throws: ChatTemplateError.self) { try ChatTemplate.builtIn(named: "vicuna") }
        #expect(unknown.kind == .configuration)
        #expect(unknown.message.contains("vicuna"))
        #expect(unknown.message.contains("chatml, llama3, zephyr"))

        let missing = try #require(throws: ChatTemplateError.self) {
            try ChatTemplate.load(tokenizerConfig: "/nonexistent/tokenizer_config.json")
        }
        #expect(missing.message.contains("/nonexistent/tokenizer_config.json"))

        let malformed = try tokenizerDirectory(config: "{not json")
        #expect(throws: ChatTemplateError.self) { try ChatTemplate.load(tokenizerConfig: malformed.url.path) }

        let badToken = try tokenizerDirectory(config: #"{"chat_template": "x", "eos_token": 3}"#)
        let tokenError = try #require(throws: ChatTemplateError.self) {
            try ChatTemplate.load(tokenizerConfig: badToken.url.path)
        }
        #expect(tokenError.message.contains("eos_token"))
    }

    @Test func preferencePromptMustEndWithAUserTurn() throws {
        let template = try ChatTemplate.builtIn(named: "chatml")
        let assistantLast = [ChatMessage(role: "user", content: "a"), ChatMessage(role: "assistant", content: "b")]
        let error = try #require(throws: ChatTemplateError.self) {
            try template.renderPreference(prompt: assistantLast, chosen: [], rejected: [])
        }
        #expect(error.message.contains("'assistant'"))
        #expect(throws: ChatTemplateError.self) { try template.renderPreference(prompt: [], chosen: [], rejected: []) }
    }
}
