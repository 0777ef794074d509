import Foundation
import Testing
import Checkpoint
import Model
import TestSupport
@testable import Training

/// `use_peft` runs end to end with the real binary on the TRL fixture's tiny GPT-2 (tied head, Conv1D weights):
/// PEFT folders as final output and checkpoints, exact resume, `merge` of the result, SFT with LoRA dropout, and the
/// keys that do not combine with LoRA.
@Suite(.serialized) struct LoRATrainingTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    private func train(_ space: (folder: URL, model: URL, pairs: URL), command: String = "train", output: String,
                       _ extra: [String]) -> ProcessResult {
        runProcess(binary, arguments: [command, "--model_name_or_path", space.model.path, "--train_dataset", space.pairs.path,
                                       "--max_length", "40", "--per_device_train_batch_size", "2",
                                       "--gradient_accumulation_steps", "2", "--learning_rate", "1e-2", "--threads", "1",
                                       "--logging_steps", "1", "--use_peft", "true", "--lora_r", "4",
                                       "--output_dir", space.folder.appendingPathComponent(output).path] + extra,
                   timeout: 300)
    }

    @Test func trainsAnAdapterSavesPEFTFoldersAndResumesExactly() throws {
        let space = try TRLFixture.workspace()
        let straight = train(space, output: "straight", ["--max_steps", "3", "--save_steps", "2"])
        #expect(straight.status == 0, "\(straight.stderr)")
        #expect(straight.stdout.contains("LoRA: r 4, alpha 32.0, dropout 0.0 on 2 modules"), "\(straight.stdout)")
        let output = space.folder.appendingPathComponent("straight")
        for folder in [output, output.appendingPathComponent("checkpoint-2")] {
            for file in [PEFTAdapterFolder.configFile, PEFTAdapterFolder.weightsFile, "tokenizer.json"] {
                #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(folder.path)/\(file)")
            }
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path))
        }
        let (config, weights) = try PEFTAdapterFolder.read(output)
        #expect(config.fanInFanOut && config.rank == 4 && config.alpha == 32)
        #expect(config.targetModules == .list(["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"]))
        #expect(weights["base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"]?.shape == [96, 4])
        let moments = try SafeTensorsFile.read(contentsOf: output.appendingPathComponent("checkpoint-2/optimizer.safetensors"))
        #expect(moments["exp_avg"]?.shape == [2 * (4 * 32 + 96 * 4)])

        // Resuming from checkpoint-2 ends exactly where the straight run did.
        let resumed = space.folder.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: output.appendingPathComponent("checkpoint-2"),
                                         to: resumed.appendingPathComponent("checkpoint-2"))
        let second = train(space, output: "resumed", ["--max_steps", "3", "--save_steps", "2", "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        let final = try PEFTAdapterFolder.read(resumed).weights
        for name in weights.names {
            #expect(try final[name]?.floats() == weights[name]?.floats(), "\(name)")
        }

        // The adapter merges into a full GPT-2 folder (Conv1D weights transposed back).
        let merged = space.folder.appendingPathComponent("merged")
        let merge = runProcess(binary, arguments: ["merge", "--adapter", output.path, "--output", merged.path], timeout: 120)
        #expect(merge.status == 0, "\(merge.stderr)")
        let base = try RunOutput.tensors(in: space.model), mergedTensors = try RunOutput.tensors(in: merged)
        #expect(Set(mergedTensors.keys) == Set(base.keys))
        #expect(mergedTensors["transformer.h.0.attn.c_attn.weight"] != base["transformer.h.0.attn.c_attn.weight"])
        #expect(mergedTensors["transformer.h.0.mlp.c_fc.weight"] == base["transformer.h.0.mlp.c_fc.weight"])
    }

    /// SFT keeps LoRA dropout (TRL's SFTTrainer has no `disable_dropout`); a second run draws the same masks, and
    /// the masks matter.
    @Test func sftWithDropoutIsReproducible() throws {
        let space = try TRLFixture.workspace()
        let completions = space.folder.appendingPathComponent("completions.jsonl")
        try """
            {"prompt": "Q: Is ice cold?\\nA:", "completion": " Yes."}
            {"prompt": "Q: Do fish swim?\\nA:", "completion": " Yes, they do."}
            {"prompt": "Q: Is fire hot?\\nA:", "completion": " Yes, fire is hot."}
            {"prompt": "Q: Can birds fly?\\nA:", "completion": " Most can."}

            """.write(to: completions, atomically: true, encoding: .utf8)
        let data = (folder: space.folder, model: space.model, pairs: completions)
        let extra = ["--max_steps", "2", "--save_steps", "0", "--lora_dropout", "0.3", "--lora_target_modules", "all-linear"]
        let first = train(data, command: "sft", output: "a", extra), second = train(data, command: "sft", output: "b", extra)
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("dropout 0.3 on 8 modules"))
        let (a, b) = (space.folder.appendingPathComponent("a"), space.folder.appendingPathComponent("b"))
        #expect(try RunOutput.lossSequence(in: a) == RunOutput.lossSequence(in: b))
        // Without dropout the adapters learn from other inputs, so the second step's loss differs.
        let plain = train(data, command: "sft", output: "c", extra + ["--lora_dropout", "0"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try RunOutput.lossSequence(in: space.folder.appendingPathComponent("c")) != RunOutput.lossSequence(in: a))
    }

    /// `dpo-dist eval` of LoRA runs — a fresh `use_peft` adapter, and one trained on from a saved adapter (whose
    /// reference is that adapter) — gives the training-time evaluations of the same checkpoints bit for bit; an adapter
    /// folder against a named base is merged into it.
    @Test func evalOfAdapterRunsEqualsTheTrainingTimeEvaluation() throws {
        let space = try TRLFixture.workspace()
        let lora = try TRLFixture.loraWorkspace("lora_all_linear")
        let evaluation = ["--max_steps", "4", "--save_steps", "2", "--eval_steps", "2", "--save_total_limit", "5"]
        let fresh = space.folder.appendingPathComponent("fresh"), fromAdapter = lora.folder.appendingPathComponent("run")
        let runs = [
            train(space, output: "fresh", evaluation + ["--eval_dataset", space.pairs.path]),
            runProcess(binary, arguments: ["train", "--model_name_or_path", lora.adapter.path, "--train_dataset", lora.pairs.path,
                                           "--eval_dataset", lora.pairs.path, "--max_length", "40", "--threads", "1",
                                           "--per_device_train_batch_size", "2", "--learning_rate", "2e-3",
                                           "--output_dir", fromAdapter.path] + evaluation, timeout: 300),
        ]
        for (result, run) in zip(runs, [fresh, fromAdapter]) {
            #expect(result.status == 0, "\(result.stderr)")
            let logged = try RunOutput.loggedEvaluations(in: run)
            let rows = try RunOutput.evaluationRows(runProcess(binary, arguments: ["eval", "--model_name_or_path", run.path,
                                                                                   "--json"], timeout: 300))
            #expect(rows.map(\.model) == [run.path + "/checkpoint-2", run.path + "/checkpoint-4", run.path])
            for (row, step) in zip(rows, [2, 4, 4]) {
                try RunOutput.expectSameEvaluation(row.metrics, logged[step], row.model)
            }
        }
        // The starting adapter against the bare base: merged, it has the margins of the adapter over the base.
        let merged = try RunOutput.evaluationRows(runProcess(binary, arguments: [
            "eval", "--model_name_or_path", lora.adapter.path, "--ref_model", lora.model.path, "--eval_dataset",
            lora.pairs.path, "--max_length", "40", "--json"], timeout: 300))
        #expect(merged.count == 1 && merged[0].metrics["eval_rewards/margins"] != 0)
    }

    @Test func keysThatDoNotCombineWithLoRAAreRefused() throws {
        func error(_ overrides: [String]) -> String? {
            do {
                _ = try ConfigLoader.load(file: nil, overrides: overrides)
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(error(["--use_peft", "true"])?.contains("`use_peft` needs `model_name_or_path`") == true)
        #expect(error(["--use_peft", "true", "--model_name_or_path", "m", "--sync_ref_model", "true"])?
            .contains("`sync_ref_model` does not combine with `use_peft`") == true)
        #expect(error(["--lora_dropout", "1"])?.contains("`lora_dropout` must be less than 1.0") == true)
        let config = try ConfigLoader.load(file: nil, overrides: [
            "--use_peft", "true", "--model_name_or_path", "m", "--lora_target_modules", "q_proj,v_proj",
            "--lora_modules_to_save", "lm_head", "--use_rslora", "true", "--lora_alpha", "8", "--lora_r", "2"])
        #expect(config.lora == LoRAConfig(rank: 2, alpha: 8, dropout: 0.05, targets: .names(["q_proj", "v_proj"]),
                                          modulesToSave: ["lm_head"], useRSLoRA: true))
        let single = try ConfigLoader.load(file: nil, overrides: ["--use_peft", "true", "--model_name_or_path", "m",
                                                                  "--lora_target_modules", ".*proj"])
        #expect(single.lora?.targets == .pattern(".*proj"))

        // A bad target is reported before training, naming the model's modules.
        let space = try TRLFixture.workspace()
        let run = train(space, output: "bad", ["--max_steps", "1", "--lora_target_modules", "c_attn"])
        #expect(run.status == 1 && run.stderr.contains("match no Linear module"), "\(run.stderr)")
    }
}
