import Foundation
import Testing
@testable import Training

@Suite struct ConfigTests {
    private func writeTemporary(_ text: String, name: String = "config.yaml") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private func error(file: String?, overrides: [String] = []) -> String? {
        do {
            _ = try ConfigLoader.load(file: file, overrides: overrides)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func defaultsAreTRLDefaultsWhenAFileSetsNothing() throws {
        let config = try ConfigLoader.load(file: try writeTemporary("max_length: 512\n"), overrides: [])
        #expect(config.beta == 0.1)
        #expect(config.learningRate == 1e-6)
        #expect(config.lrSchedulerType == .linear)
        #expect(config.maxGradNorm == 1.0)
        #expect(config.seed == 42)
        #expect(config.maxLength == 512)
        #expect(config.ddpBucketCapMB == 25)
        #expect(config.gradientCheckpointing)
    }

    @Test func fileThenCommandLineOverrides() throws {
        let path = try writeTemporary("""
            beta: 0.25
            learning_rate: 5e-5
            model:
              n_layer: 3
              n_head: 2
              n_embd: 32
            output_dir: out/a
            """)
        let config = try ConfigLoader.load(file: path, overrides: [
            "--beta", "0.5", "--model.n_layer=6", "--lr_scheduler_type", "cosine", "--eval_dataset", "none",
            "--ddp_bucket_cap_mb", "0", "--gradient_checkpointing", "false"])
        #expect(config.beta == 0.5)
        #expect(config.learningRate == 5e-5)
        #expect(config.layers == 6 && config.heads == 2 && config.channels == 32)
        #expect(config.lrSchedulerType == .cosine)
        #expect(config.outputDir == "out/a")
        #expect(config.evalDataset == nil)
        #expect(config.ddpBucketCapMB == 0)
        #expect(!config.gradientCheckpointing)
    }

    @Test func builtInDemoConfigMatchesTheFileInConfigs() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: repository.appendingPathComponent("configs/demo.yaml"), encoding: .utf8)
        #expect(file == demoConfigYAML)
        let config = try ConfigLoader.load(file: nil, overrides: [])
        #expect(config.trainDataset == "demo" && config.evalDataset == "demo")
    }

    @Test func everyShippedConfigLoads() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = repository.appendingPathComponent("configs")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 2)
        for file in files {
            _ = try ConfigLoader.load(file: folder.appendingPathComponent(file).path, overrides: [])
        }
    }

    @Test func unknownKeyNamesKeyLineAndSuggestion() throws {
        let path = try writeTemporary("beta: 0.1\nlearing_rate: 1e-5\n")
        let message = try #require(error(file: path))
        #expect(message.contains("\(path):2"))
        #expect(message.contains("unknown key `learing_rate`"))
        #expect(message.contains("did you mean `learning_rate`"))
    }

    @Test func unknownNestedKeyAndUnknownSection() throws {
        let nested = try #require(error(file: try writeTemporary("model:\n  n_layers: 3\n")))
        #expect(nested.contains(":2") && nested.contains("`model.n_layers`") && nested.contains("`model.n_layer`"))
        let section = try #require(error(file: try writeTemporary("optimizer:\n  lr: 3\n")))
        #expect(section.contains(":1") && section.contains("unknown key `optimizer`"))
    }

    @Test func outOfRangeAndMistypedValuesNameTheKey() throws {
        let cases: [(String, String)] = [
            ("beta: -1\n", "`beta` must be greater than 0"),
            ("per_device_train_batch_size: 0\n", "`per_device_train_batch_size` must be at least 1"),
            ("learning_rate: fast\n", "`learning_rate` must be a number"),
            ("max_steps: 2.5\n", "`max_steps` must be a whole number"),
            ("lr_scheduler_type: wavy\n", "`lr_scheduler_type` must be one of linear, cosine, constant, constant_with_warmup"),
            ("beta: [1, 2]\n", "`beta` must be a single value"),
            ("warmup_ratio: 1.5\n", "`warmup_ratio` must be at most 1.0"),
        ]
        for (yaml, expected) in cases {
            let path = try writeTemporary(yaml)
            let message = try #require(error(file: path), "accepted: \(yaml)")
            #expect(message.contains(expected), "\(message)")
            #expect(message.contains("\(path):1"), "\(message)")
        }
    }

    @Test func crossKeyChecks() throws {
        let heads = try #require(error(file: try writeTemporary("model:\n  n_embd: 30\n  n_head: 4\n")))
        #expect(heads.contains("`model.n_embd` (30) must be divisible by `model.n_head` (4)"))
        let length = try #require(error(file: try writeTemporary("max_length: 4096\n")))
        #expect(length.contains("`max_length` (4096) exceeds"))
        let loss = try #require(error(file: try writeTemporary("max_length: 512\nloss_type: [sigmoid, sft]\nloss_weights: [1]\n")))
        #expect(loss.contains("`loss_weights`") && loss.contains("`loss_type`"))
    }

    /// A run on the user's own model or data never inherits the demo's settings, and the demo's
    /// `overwrite_output_dir: true` covers only its own folder.
    @Test func demoSettingsApplyOnlyToTheDemo() throws {
        let demo = try ConfigLoader.load(file: nil, overrides: [])
        #expect(demo.overwriteOutputDir && demo.learningRate == 1e-3 && demo.evalDataset == "demo")
        for given in [["--train_dataset", "mine.jsonl"], ["--model_name_or_path", "models/mine"]] {
            let own = try ConfigLoader.load(file: nil, overrides: given + ["--output_dir", "runs/mine"])
            #expect(own.learningRate == TrainingConfig().learningRate, "\(given)")
            #expect(own.evalDataset == nil && !own.overwriteOutputDir && own.lrSchedulerType == .linear, "\(given)")
        }
        #expect(try !ConfigLoader.load(file: nil, overrides: ["--output_dir", "runs/important"]).overwriteOutputDir)
        #expect(try ConfigLoader.load(file: nil, overrides: ["--output_dir", "x", "--overwrite_output_dir", "true"])
            .overwriteOutputDir)
        let sftDemo = try ConfigLoader.load(file: nil, overrides: [], demoOverrides: ["--output_dir", "runs/demo-sft"])
        #expect(sftDemo.outputDir == "runs/demo-sft" && sftDemo.overwriteOutputDir)
        let sftOwn = try ConfigLoader.load(file: nil, overrides: ["--train_dataset", "sft.jsonl"],
                                           demoOverrides: ["--output_dir", "runs/demo-sft"])
        #expect(sftOwn.outputDir == TrainingConfig().outputDir && !sftOwn.overwriteOutputDir)
    }

    @Test func booleanKeys() throws {
        #expect(try ConfigLoader.load(file: nil, overrides: ["--overwrite_output_dir", "false"]).overwriteOutputDir == false)
        #expect(try ConfigLoader.load(file: nil, overrides: ["--overwrite_output_dir=yes"]).overwriteOutputDir == true)
        #expect(error(file: nil, overrides: ["--overwrite_output_dir", "maybe"])?.contains("must be true or false") == true)
    }

    @Test func commandLineErrors() {
        #expect(error(file: nil, overrides: ["--beta"])?.contains("`--beta` needs a value") == true)
        #expect(error(file: nil, overrides: ["beta", "0.1"])?.contains("expected `--key value`") == true)
        #expect(error(file: nil, overrides: ["--betta", "0.1"])?.contains("command line --betta: unknown key `betta`") == true)
        #expect(error(file: nil, overrides: ["--seed", "-3"])?.contains("command line --seed: `seed` must be at least 0") == true)
    }

    @Test func badFiles() throws {
        #expect(error(file: "/nonexistent/x.yaml")?.contains("/nonexistent/x.yaml: cannot read") == true)
        let broken = try writeTemporary("beta: 0.1\n  - : :\n")
        #expect(error(file: broken)?.contains("\(broken): not valid YAML") == true)
        let list = try writeTemporary("- beta\n")
        #expect(error(file: list)?.contains("must be a mapping") == true)
    }

    @Test func editDistanceBasics() {
        #expect(editDistance("", "abc") == 3)
        #expect(editDistance("beta", "beta") == 0)
        #expect(editDistance("learing_rate", "learning_rate") == 1)
    }
}
