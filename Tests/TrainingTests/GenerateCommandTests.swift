import Foundation
import PreferenceData
import Testing
import TestSupport

/// `dpo-dist generate` end to end with the real binary.
@Suite(.serialized) struct GenerateCommandTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    /// tools/make_generation_fixtures.py: transformers' greedy `generate` of the TRL fixture's tiny GPT-2 and tokenizer.
    struct TransformersFile: Decodable {
        struct Case: Decodable {
            let kind: String
            let promptIds: [Int32]
            let completionIds: [Int32]
            let completion: String
        }

        let maxNewTokens: Int
        let chatTemplate: String
        let cases: [Case]
    }

    /// The JSON lines of a `--json` run.
    struct Line: Decodable {
        let completion: String
        let completionIds: [Int32]
    }

    private func generate(_ arguments: [String]) -> ProcessResult {
        runProcess(binary, arguments: ["generate", "--threads", "1"] + arguments, timeout: 120)
    }

    private func lines(_ output: String) throws -> [Line] {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try output.split(separator: "\n").map { try decoder.decode(Line.self, from: Data($0.utf8)) }
    }

    /// A text prompt as `tokenizer(text)` and a conversation through the chat template: transformers' ids and text.
    @Test func greedyCompletionsEqualTransformers() throws {
        let space = try TRLFixture.workspace()
        let expected = try TRLFixture.decode(TransformersFile.self, "generation.json")
        let prompts = space.folder.appendingPathComponent("prompts.jsonl")
        try """
            {"prompt": "The quick brown fox"}
            {"messages": [{"role": "user", "content": "Hi"}]}

            """.write(to: prompts, atomically: true, encoding: .utf8)
        let result = generate(["--model_name_or_path", space.model.path, "--prompts", prompts.path, "--json",
                               "--max_new_tokens", "\(expected.maxNewTokens)", "--chat_template", expected.chatTemplate])
        #expect(result.status == 0, "\(result.stderr)")
        let generated = try lines(result.stdout)
        #expect(expected.cases.map(\.kind) == ["text", "messages"])
        #expect(generated.map(\.completionIds) == expected.cases.map(\.completionIds))
        #expect(generated.map(\.completion) == expected.cases.map(\.completion))

        // The same text through --prompt, printed for people: prompt, completion and the tokens/s.
        let text = generate(["--model_name_or_path", space.model.path, "--prompt", "The quick brown fox",
                             "--max_new_tokens", "\(expected.maxNewTokens)"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("### prompt 1 of 1 (\(expected.cases[0].promptIds.count) tokens)\nThe quick brown fox\n"))
        #expect(text.stdout.contains("### completion (\(expected.maxNewTokens) tokens, stopped by max_new_tokens)\n"
                                     + expected.cases[0].completion + "\n"))
        let timing = try Regex(#"prefill 15 tokens in [0-9.]+ m?s \([0-9]+ tokens/s\), decode 15 tokens in"#)
        #expect(text.stdout.contains(timing), "\(text.stdout)")
    }

    @Test func samplingIsReproducibleWithTheSeed() throws {
        let space = try TRLFixture.workspace()
        let arguments = ["--model_name_or_path", space.model.path, "--prompt", "The quick", "--do_sample", "true",
                         "--temperature", "1.5", "--top_k", "0", "--top_p", "0.95", "--max_new_tokens", "8", "--json"]
        let first = generate(arguments + ["--seed", "1"]), again = generate(arguments + ["--seed", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == again.stdout)
        let others = (2 ... 5).map { generate(arguments + ["--seed", "\($0)"]).stdout }
        #expect(others.contains { $0 != first.stdout })
    }

    /// A run's output_dir is its final model; a run with only checkpoints names the latest one to pass instead.
    @Test func generatesFromARunAndNamesTheCheckpointOfAnUnfinishedOne() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-generate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("sft.jsonl")
        try #"{"prompt": "Count 1:", "completion": " 1, 2, 3."}"#.write(to: data, atomically: true, encoding: .utf8)
        let run = folder.appendingPathComponent("run")
        let sft = runProcess(binary, arguments: [
            "sft", "--train_dataset", data.path, "--output_dir", run.path, "--max_steps", "2", "--save_steps", "2",
            "--model.n_layer", "1", "--model.n_embd", "16", "--model.n_head", "2", "--model.n_positions", "32",
            "--max_length", "32", "--threads", "1", "--logging_steps", "1"], timeout: 300)
        #expect(sft.status == 0, "\(sft.stderr)")
        let finished = generate(["--model_name_or_path", run.path, "--prompt", "Count 1:", "--max_new_tokens", "5", "--json"])
        #expect(finished.status == 0, "\(finished.stderr)")
        #expect(try lines(finished.stdout).first?.completionIds.count ?? 0 >= 1)

        let unfinished = folder.appendingPathComponent("unfinished")
        try FileManager.default.createDirectory(at: unfinished, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: run.appendingPathComponent("checkpoint-2"),
                                         to: unfinished.appendingPathComponent("checkpoint-2"))
        let refused = generate(["--model_name_or_path", unfinished.path, "--prompt", "Count 1:"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("holds the checkpoints of a run that has not saved its final model: pass one of "
                                        + "them, e.g. the latest, \(unfinished.path)/checkpoint-2"), "\(refused.stderr)")
        let fromCheckpoint = generate(["--model_name_or_path", unfinished.appendingPathComponent("checkpoint-2").path,
                                       "--prompt", "Count 1:", "--max_new_tokens", "5", "--json"])
        #expect(fromCheckpoint.stdout == finished.stdout, "\(fromCheckpoint.stderr)")
    }

    @Test func badInputIsNamed() throws {
        let space = try TRLFixture.workspace()
        let model = space.model.path
        let prompts = space.folder.appendingPathComponent("prompts.jsonl")
        let longText = String(repeating: "long text ", count: 40)
        try (#"{"prompt": "ok"}"# + "\n" + #"{"prompt": "\#(longText)"}"#).write(to: prompts, atomically: true, encoding: .utf8)
        let tooLong = generate(["--model_name_or_path", model, "--prompts", prompts.path])
        #expect(tooLong.status == 1)
        #expect(tooLong.stderr.contains("\(prompts.path), line 2: the prompt has "), "\(tooLong.stderr)")
        #expect(tooLong.stderr.contains("tokens, more than the model's 64 positions"), "\(tooLong.stderr)")

        try #"{"messages": [{"role": "user", "content": "Hi"}]}"#.write(to: prompts, atomically: true, encoding: .utf8)
        let noTemplate = generate(["--model_name_or_path", model, "--prompts", prompts.path])
        #expect(noTemplate.status == 1)
        #expect(noTemplate.stderr.contains("has no \"chat_template\"") && noTemplate.stderr.contains("--chat_template NAME"),
                "\(noTemplate.stderr)")

        let sampling = generate(["--model_name_or_path", model, "--prompt", "Hi", "--do_sample", "true", "--top_p", "2"])
        #expect(sampling.status == 1)
        #expect(sampling.stderr.contains("`top_p` must be between 0 and 1 (got 2.0)"), "\(sampling.stderr)")

        try #"{"do_sample": "yes"}"#.write(to: space.model.appendingPathComponent("generation_config.json"),
                                            atomically: true, encoding: .utf8)
        let config = generate(["--model_name_or_path", model, "--prompt", "Hi"])
        #expect(config.stderr.contains(#"generation_config.json: "do_sample": expected a boolean, found a string"#),
                "\(config.stderr)")

        let both = generate(["--model_name_or_path", model, "--prompt", "Hi", "--prompts", prompts.path])
        #expect(both.status != 0 && both.stderr.contains("give either --prompt or --prompts"), "\(both.stderr)")
    }
}
