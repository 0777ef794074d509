import Foundation
import Testing
import TestSupport

/// Training a Hugging Face model folder end to end with the real binary: the tiny GPT-2 and byte-level BPE
/// tokenizer that tools/make_trl_fixtures.py saved with `save_pretrained`.
@Suite(.serialized) struct HuggingFaceModelTests {
    let binary = productsDirectory.appendingPathComponent("dpo-dist")

    private func workspace() throws -> (folder: URL, model: URL, pairs: URL) {
        let space = try TRLFixture.workspace()
        try "logging_steps: 1\nthreads: 1\nseed: 3\n".write(to: space.folder.appendingPathComponent("hf.yaml"),
                                                         atomically: true, encoding: .utf8)
        return space
    }

    private func train(_ arguments: [String]) -> ProcessResult {
        runProcess(binary, arguments: ["train"] + arguments, timeout: 300)
    }

    private func arguments(_ space: (folder: URL, model: URL, pairs: URL), output: String, steps: Int) -> [String] {
        ["--config", space.folder.appendingPathComponent("hf.yaml").path, "--model_name_or_path", space.model.path, "--train_dataset", space.pairs.path, "--max_length", "40",
         "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--learning_rate", "1e-3",
         "--lr_scheduler_type", "constant",
         "--output_dir", space.folder.appendingPathComponent(output).path, "--max_steps", "\(steps)"]
    }

    @Test func trainsSavesAsAHuggingFaceFolderAndResumes() throws {
        let space = try workspace()
        let straight = train(arguments(space, output: "straight", steps: 3) + ["--save_steps", "2"])
        #expect(straight.status == 0, "\(straight.stderr)")
        let output = space.folder.appendingPathComponent("straight")
        // The final model and every checkpoint are complete Hugging Face folders.
        for folder in [output, output.appendingPathComponent("checkpoint-2")] {
            for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
                #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path), "\(folder.path)/\(file)")
            }
        }
        let initial = try RunOutput.tensors(in: space.model)
        let trained = try RunOutput.tensors(in: output)
        #expect(Set(trained.keys) == Set(initial.keys))
        #expect(trained != initial)
        let config = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: output.appendingPathComponent("config.json"))) as? [String: Any])
        #expect(config["model_type"] as? String == "gpt2" && config["n_embd"] as? Int == 32)

        // Resuming from checkpoint-2 of a Hugging Face run ends exactly where the straight run did.
        let resumed = space.folder.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: output.appendingPathComponent("checkpoint-2"),
                                         to: resumed.appendingPathComponent("checkpoint-2"))
        let second = train(arguments(space, output: "resumed", steps: 3) + ["--save_steps", "2", "--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try RunOutput.tensors(in: resumed) == trained)
    }

    @Test func precomputedReferenceMatchesTheLiveReferenceAndIsCached() throws {
        let space = try workspace()
        let cache = space.folder.appendingPathComponent("cache")
        let live = train(arguments(space, output: "live", steps: 3))
        #expect(live.status == 0, "\(live.stderr)")
        let precomputedArguments = ["--precompute_ref_log_probs", "true", "--precompute_ref_cache_dir", cache.path]
        let first = train(arguments(space, output: "pre1", steps: 3) + precomputedArguments)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("reference log-probs computed"), "\(first.stdout)")
        let liveLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("live"))
        let precomputedLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("pre1"))
        #expect(liveLosses.count == 3 && precomputedLosses.count == 3)
        for (a, b) in zip(liveLosses, precomputedLosses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "\(a) vs \(b)")
        }
        // Same model, data and tokenization: read back. Another max_length: a different key, computed again.
        let second = train(arguments(space, output: "pre2", steps: 1) + precomputedArguments)
        #expect(second.stdout.contains("read from the cache"), "\(second.stdout)")
        let changed = train(arguments(space, output: "pre3", steps: 1) + precomputedArguments + ["--max_length", "32"])
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stdout.contains("reference log-probs computed"), "\(changed.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).count == 2)
    }

    /// With LD-DPO the precomputed reference log-probs are length-weighted too, whatever `precompute_ref_batch_size`
    /// cuts the pass into, and `ld_alpha` is part of the cache key.
    @Test func precomputedReferenceFollowsLDAlphaInAnyBatchSize() throws {
        let space = try workspace()
        let cache = space.folder.appendingPathComponent("cache")
        let desensitized = ["--ld_alpha", "0.5"]
        let live = train(arguments(space, output: "live", steps: 2) + desensitized)
        #expect(live.status == 0, "\(live.stderr)")
        let precomputed = train(arguments(space, output: "pre", steps: 2) + desensitized + [
            "--precompute_ref_log_probs", "true", "--precompute_ref_cache_dir", cache.path,
            "--precompute_ref_batch_size", "3"])
        #expect(precomputed.status == 0, "\(precomputed.stderr)")
        let plain = train(arguments(space, output: "plain", steps: 2))
        #expect(plain.status == 0, "\(plain.stderr)")
        let liveLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("live"))
        let precomputedLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("pre"))
        let plainLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("plain"))
        #expect(liveLosses.count == 2 && precomputedLosses.count == 2)
        for (a, b) in zip(liveLosses, precomputedLosses) {
            #expect(abs(a - b) <= 1e-5 * abs(a), "\(a) vs \(b)")
        }
        #expect(liveLosses != plainLosses, "ld_alpha changes the run")
    }

    /// TR-DPO moves the reference: a resumed run must restore it from the checkpoint to end where the straight run did.
    @Test func syncedReferenceSurvivesResume() throws {
        let space = try workspace()
        let sync = ["--sync_ref_model", "true", "--ref_model_sync_steps", "1", "--ref_model_mixup_alpha", "0.5", "--save_steps", "2"]
        let straight = train(arguments(space, output: "straight", steps: 4) + sync)
        #expect(straight.status == 0, "\(straight.stderr)")
        let plain = train(arguments(space, output: "plain", steps: 4) + ["--save_steps", "2"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let straightLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("straight"))
        let plainLosses = try RunOutput.lossSequence(in: space.folder.appendingPathComponent("plain"))
        // Step 1 is identical (the reference has not moved yet); afterwards the moving reference changes the loss.
        #expect(straightLosses.first == plainLosses.first)
        #expect(straightLosses.last != plainLosses.last)

        let resumed = space.folder.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: space.folder.appendingPathComponent("straight/checkpoint-2"),
                                         to: resumed.appendingPathComponent("checkpoint-2"))
        let second = train(arguments(space, output: "resumed", steps: 4) + sync + ["--resume"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try RunOutput.tensors(in: resumed) == RunOutput.tensors(in: space.folder.appendingPathComponent("straight")))
    }

    @Test func badModelFoldersAreNamed() throws {
        let space = try workspace()
        let missing = train(arguments(space, output: "o1", steps: 1) + ["--model_name_or_path", "/no/such/model"])
        #expect(missing.status != 0 && missing.stderr.contains("/no/such/model: no such folder"), "\(missing.stderr)")
        try FileManager.default.removeItem(at: space.model.appendingPathComponent("model.safetensors"))
        let noWeights = train(arguments(space, output: "o2", steps: 1))
        #expect(noWeights.status != 0 && noWeights.stderr.contains("no model.safetensors"), "\(noWeights.stderr)")
        let long = train(arguments(space, output: "o3", steps: 1) + ["--max_length", "100"])
        #expect(long.status != 0 && long.stderr.contains("exceeds the model's 64 positions"), "\(long.stderr)")
    }
}
