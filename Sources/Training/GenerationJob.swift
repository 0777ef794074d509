import Foundation
import ChatTemplate
import Generation
import JSON
import Kernels
import Model
import PreferenceData

/// What `dpo-dist generate` is asked to do.
public struct GenerationRequest {
    /// Where the prompts come from: one text, or a JSONL/JSON file of them (`PreferenceDataset.loadPrompts`).
    public enum Prompts {
        case text(String)
        case file(String)
    }

    /// A Hugging Face model folder, a PEFT adapter folder (merged into its base for generating), or a run's
    /// `output_dir` holding its final model or adapter.
    public var modelNameOrPath: String
    public var prompts: Prompts
    /// A built-in chat template to render conversations with instead of the model's own (`chat_template`).
    public var chatTemplate: String?
    /// Threads the kernels may use; 0 uses every core.
    public var threads: Int
    /// The user's settings, applied after the model's generation_config.json.
    public var overrides: (inout GenerationSettings) -> Void

    public init(modelNameOrPath: String, prompts: Prompts, chatTemplate: String?, threads: Int,
                overrides: @escaping (inout GenerationSettings) -> Void) {
        self.modelNameOrPath = modelNameOrPath
        self.prompts = prompts
        self.chatTemplate = chatTemplate
        self.threads = threads
        self.overrides = overrides
    }
}

/// One prompt's result, in the shape `--json` prints.
public struct GeneratedCompletion: Sendable {
    /// The prompt as given: text, or the conversation.
    public let prompt: Prompt
    /// The text the model continued: the prompt itself, or the conversation rendered with the chat template.
    public let promptText: String
    /// The completion's text, without its final EOS token.
    public let completion: String
    public let generation: Generation
}

/// A model folder loaded for generation with its tokenizer, generation_config.json and prompts: everything is read,
/// rendered, tokenized and checked against the model's context before the first token is generated, so bad input
/// fails at once with an error naming the file (and line) and key.
public final class GenerationJob {
    public let settings: GenerationSettings
    public let threads: Int
    private let source: ModelSource
    private let generator: TextGenerator
    private let prompts: [(prompt: Prompt, text: String, ids: [Int32])]

    /// Reads the settings and prompts before the weights, so that their errors come without waiting for a large model.
    public init(_ request: GenerationRequest) throws {
        source = try ModelSource(folder: request.modelNameOrPath)
        // An adapter folder's generation settings are its base model's.
        var settings = try Self.settings(of: source, folder: source.folder?.path ?? request.modelNameOrPath)
        request.overrides(&settings)
        try settings.validate()
        self.settings = settings
        prompts = try Self.tokenizedPrompts(request, source: source, contextLength: source.modelConfig.contextLength)
        threads = request.threads > 0 ? request.threads : ProcessInfo.processInfo.activeProcessorCount
        let model = try source.loadMergedModel(parallel: Parallel(threads: threads))
        let tokenizer = source.tokenizer
        generator = try TextGenerator(model: model, settings: settings) { tokenizer.decode($0) }
    }

    public var promptCount: Int { prompts.count }

    /// The folder's generation_config.json over transformers' defaults; without an EOS id there, config.json's,
    /// else the tokenizer's.
    private static func settings(of source: ModelSource, folder: String) throws -> GenerationSettings {
        var settings = GenerationSettings()
        let file = URL(fileURLWithPath: folder).appendingPathComponent("generation_config.json").path
        if let json = FileManager.default.contents(atPath: file) {
            try settings.apply(huggingFaceGenerationConfig: json, file: file)
        }
        if settings.eosTokenIDs.isEmpty {
            let config = JSONField(.object(source.specialTokenIDs),
                                   file: URL(fileURLWithPath: folder).appendingPathComponent("config.json").path)
            settings.eosTokenIDs = try config.optional("eos_token_id").map(GenerationSettings.tokenIDs)
                ?? [source.tokenizer.eosTokenID]
        }
        return settings
    }

    /// Every prompt with the text the model continues and its ids: text as `tokenizer(text)` encodes it (with the
    /// post-processor's special tokens), conversations rendered with the generation prompt and encoded as
    /// `apply_chat_template(…, tokenize=True)` does (without them).
    private static func tokenizedPrompts(_ request: GenerationRequest, source: ModelSource,
                                         contextLength: Int) throws -> [(prompt: Prompt, text: String, ids: [Int32])] {
        let (file, prompts): (PromptFile?, [Prompt])
        switch request.prompts {
        case .text(let text): (file, prompts) = (nil, [.text(text)])
        case .file(let path):
            let loaded = try PreferenceDataset.loadPrompts(path: path)
            (file, prompts) = (loaded, loaded.prompts)
        }
        var template: ChatTemplate?
        return try prompts.enumerated().map { index, prompt in
            func problem(_ text: String) -> Error {
                guard let file else { return RunError.input("--prompt: \(text)") }
                return DataError(file: file.path, location: file.locations[index], problem: text)
            }
            let text: String, ids: [Int32]
            switch prompt {
            case .text(let prompt):
                (text, ids) = (prompt, source.tokenizer.encode(prompt, addSpecialTokens: true))
            case .messages(let messages):
                let chatTemplate = try template ?? Self.chatTemplate(source, named: request.chatTemplate)
                template = chatTemplate
                do {
                    text = try chatTemplate.render(messages, addGenerationPrompt: true)
                } catch {
                    throw problem("chat template \(chatTemplate.origin) failed on this conversation: \(error)")
                }
                ids = source.tokenizer.encode(text, addSpecialTokens: false)
            }
            guard !ids.isEmpty else { throw problem("\(GenerationError.emptyPrompt)") }
            guard ids.count <= contextLength else {
                throw problem("\(GenerationError.promptTooLong(tokens: ids.count, limit: contextLength))")
            }
            return (prompt, text, ids)
        }
    }

    /// The built-in template `name`, else the model's own; its errors say how to name a built-in one here.
    private static func chatTemplate(_ source: ModelSource, named name: String?) throws -> ChatTemplate {
        do {
            return try source.chatTemplate(named: name)
        } catch {
            throw RunError.input("\(error) (for generate: `--chat_template NAME`)")
        }
    }

    /// Generates every prompt in order, handing each result to `output` as soon as it is done; returns the time
    /// spent in all of them.
    public func run(output: (GeneratedCompletion) -> Void) throws -> GenerationTiming {
        var total = GenerationTiming()
        for (index, prompt) in prompts.enumerated() {
            let generation = try generator.generate(prompt.ids, stream: UInt64(index))
            var completionIDs = generation.completionIDs
            if generation.stopReason == .endOfSequence { completionIDs.removeLast() }
            output(GeneratedCompletion(prompt: prompt.prompt, promptText: prompt.text,
                                       completion: source.tokenizer.decode(completionIDs), generation: generation))
            total = total.adding(generation.timing)
        }
        return total
    }
}

extension GeneratedCompletion {
    /// `{"prompt", "completion", "completion_ids"}` on one line, in that order, the prompt as given (text or messages,
    /// each `{"content", "role"}`).
    public var jsonLine: String {
        let prompt: JSONValue
        switch self.prompt {
        case .text(let text): prompt = .string(text)
        case .messages(let messages):
            prompt = .array(messages.map { .object(["content": .string($0.content), "role": .string($0.role)]) })
        }
        return JSONValue.object([
            "prompt": prompt, "completion": .string(completion),
            "completion_ids": .array(generation.completionIDs.map { .integer(Int($0)) }),
        ]).serialized()
    }

    /// The prompt the model saw and its completion, under headers with their token counts and why it stopped.
    public func text(index: Int, of count: Int) -> String {
        """
        ### prompt \(index + 1) of \(count) (\(generation.promptIDs.count) tokens)
        \(promptText)
        ### completion (\(generation.completionIDs.count) tokens, stopped by \(generation.stopReason.rawValue))
        \(completion)
        """
    }
}

extension GenerationTiming {
    /// "prefill 30 tokens in 4.2 ms (7143 tokens/s), decode 28 tokens in 1.250 s (22 tokens/s), 2 threads".
    public func summary(threads: Int) -> String {
        func rate(_ tokens: Int, _ seconds: Double) -> String {
            let time = seconds < 1 ? String(format: "%.1f ms", seconds * 1000) : String(format: "%.3f s", seconds)
            return "\(tokens) tokens in \(time) (" + String(format: "%.0f", seconds > 0 ? Double(tokens) / seconds : 0)
                + " tokens/s)"
        }
        return "prefill \(rate(prefillTokens, prefillSeconds)), decode \(rate(decodeTokens, decodeSeconds)), "
            + "\(threads) thread\(threads == 1 ? "" : "s")"
    }
}
