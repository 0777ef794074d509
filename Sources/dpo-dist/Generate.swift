import ArgumentParser
import Foundation
import Generation
import Training

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue prompts with a model folder or a run's final model (greedy or sampled, with a KV cache).",
        discussion: """
            --prompt text is tokenized as is, as `tokenizer(text)` does. --prompts reads JSONL (or a JSON array) with \
            a "prompt" per record: a string, or a list of {"role", "content"} messages rendered with the chat \
            template and its generation prompt; {"messages": [...]} records are rendered the same way.

            The model's generation_config.json sets the defaults (EOS ids, do_sample, …) as in transformers; options \
            given here win. Generation stops after an EOS token, a stop string, --max_new_tokens tokens or a full \
            context.

            Prints each prompt and its completion, then the prefill and decode tokens/s; with --json one line per \
            prompt: {"prompt", "completion", "completion_ids"}.
            """)

    @Option(name: .customLong("model_name_or_path"), help: "Hugging Face model folder, or a run's output_dir.")
    var modelNameOrPath: String

    @Option(name: .long, help: "A prompt to continue.")
    var prompt: String?

    @Option(name: .long, help: "JSONL or JSON file of prompts (see below).")
    var prompts: String?

    @Option(name: .customLong("max_new_tokens"), help: "Tokens to generate at most (default 128, or generation_config.json's).")
    var maxNewTokens: Int?

    @Option(name: .customLong("do_sample"), help: "true: sample; false: greedy (default false, or generation_config.json's).")
    var doSample: Bool?

    @Option(name: .long, help: "Sampling temperature (default 1).")
    var temperature: Double?

    @Option(name: .customLong("top_k"), help: "Sample from the k most likely tokens; 0 for all (default 50).")
    var topK: Int?

    @Option(name: .customLong("top_p"), help: "Sample from the most likely tokens holding probability top_p (default 1).")
    var topP: Double?

    @Option(name: .customLong("repetition_penalty"), help: "Penalty for tokens already in the sequence (default 1).")
    var repetitionPenalty: Double?

    @Option(name: .customLong("stop_strings"), help: "Stop once the text contains this string (repeatable).")
    var stopStrings: [String] = []

    @Option(name: .long, help: "Seed of sampling (each prompt draws from its own stream of it).")
    var seed: UInt64?

    @Option(name: .customLong("chat_template"), help: "Built-in chat template instead of the model's own.")
    var chatTemplate: String?

    @Option(name: .long, help: "Threads the kernels may use (0: every core).")
    var threads = 0

    @Flag(name: .long, help: "Print one JSON object per prompt and no timings.")
    var json = false

    func validate() throws {
        guard (prompt == nil) != (prompts == nil) else { throw ValidationError("give either --prompt or --prompts") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (every core) or positive (got \(threads))") }
    }

    func run() throws {
        let request = GenerationRequest(
            modelNameOrPath: modelNameOrPath, prompts: prompt.map { .text($0) } ?? .file(prompts!),
            chatTemplate: chatTemplate, threads: threads) { [self] settings in
                if let maxNewTokens { settings.maxNewTokens = maxNewTokens }
                if let doSample { settings.doSample = doSample }
                if let temperature { settings.temperature = temperature }
                if let topK { settings.topK = topK }
                if let topP { settings.topP = topP }
                if let repetitionPenalty { settings.repetitionPenalty = repetitionPenalty }
                if !stopStrings.isEmpty { settings.stopStrings = stopStrings }
                if let seed { settings.seed = seed }
            }
        do {
            let job = try GenerationJob(request)
            var index = 0
            let timing = try job.run { completion in
                print(json ? completion.jsonLine : completion.text(index: index, of: job.promptCount) + "\n")
                index += 1
            }
            if !json { print(timing.summary(threads: job.threads)) }
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
