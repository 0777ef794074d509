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
        #expect(config.gradientAllreduce == .auto && config.shareReference)
        #expect(config.gradientCheckpointing)
    }

    /// `zero_stage` takes DeepSpeed's stage numbers; the default shards the AdamW moments (stage 1).
    @Test func zeroStageDefaultsToOneAndTakesTheStageNumbers() throws {
        #expect(try ConfigLoader.load(file: try writeTemporary("max_length: 512\n"), overrides: []).zeroStage == .optimizerStates)
        let stages = try ["0", "1", "2"].map { try ConfigLoader.load(file: nil, overrides: ["--zero_stage", $0]).zeroStage }
        #expect(stages == [.replicated, .optimizerStates, .gradients])
        let message = try #require(error(file: try writeTemporary("zero_stage: 3\n")))
        #expect(message.contains("`zero_stage` must be one of 0, 1, 2"), "\(message)")
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
            "--ddp_bucket_cap_mb", "0", "--gradient_allreduce", "hierarchical", "--share_reference", "false",
            "--gradient_checkpointing", "false"])
        #expect(config.beta == 0.5)
        #expect(config.learningRate == 5e-5)
        #expect(config.layers == 6 && config.heads == 2 && config.channels == 32)
        #expect(config.lrSchedulerType == .cosine)
        #expect(config.outputDir == "out/a")
        #expect(config.evalDataset == nil)
        #expect(config.ddpBucketCapMB == 0)
        #expect(config.gradientAllreduce == .hierarchical && !config.shareReference)
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

    /// An unsupported TRL key's error quotes the reason docs/dpoconfig-keys.md gives, and the generated table agrees
    /// with the document (tools/make_unsupported_keys.py) and with the keys we read.
    @Test func unsupportedTRLKeysQuoteTheirReason() throws {
        let fp16 = try #require(error(file: try writeTemporary("fp16: true\n")))
        #expect(fp16.contains(":1: `fp16` is a TRL DPOConfig key that dpo-dist does not read: "), "\(fp16)")
        #expect(fp16.contains(try #require(ConfigKeys.unsupportedTRLKeys["fp16"])))
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let table = try String(contentsOf: repository.appendingPathComponent("docs/dpoconfig-keys.md"), encoding: .utf8)
        var documented: [String: String] = [:]
        for line in table.split(separator: "\n") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count == 6, cells[3] == "unsupported" {
                documented[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = cells[4]
            }
        }
        #expect(documented == ConfigKeys.unsupportedTRLKeys, "rerun tools/make_unsupported_keys.py")
        #expect(documented.keys.filter { ConfigKeys.table[$0] != nil }.isEmpty, "a key we read is listed as unsupported")
    }

    /// Input paths in a config file are relative to its folder; `demo`, absolute paths, `output_dir` and the command
    /// line are left as they are.
    @Test func inputPathsResolveAgainstTheConfigFilesFolder() throws {
        let path = try writeTemporary("train_dataset: data/pairs.jsonl\neval_dataset: demo\nmodel_name_or_path: ../models/m\n"
            + "precompute_ref_cache_dir: /abs/cache\noutput_dir: runs/x\n")
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let config = try ConfigLoader.load(file: path, overrides: [])
        #expect(config.trainDataset == folder.appendingPathComponent("data/pairs.jsonl").path)
        #expect(config.modelNameOrPath == folder.deletingLastPathComponent().appendingPathComponent("models/m").path)
        #expect(config.evalDataset == "demo" && config.precomputeRefCacheDir == "/abs/cache" && config.outputDir == "runs/x")
        #expect(try ConfigLoader.load(file: path, overrides: ["--train_dataset", "mine.jsonl"]).trainDataset == "mine.jsonl")
    }

    /// Values that would crash or silently misbehave later are refused by the loader, naming the key.
    @Test func hostileValuesAreRefused() throws {
        #expect(error(file: nil, overrides: ["--model_name_or_path", ""])?.contains("`model_name_or_path` is empty") == true)
        #expect(error(file: nil, overrides: ["--num_train_epochs", "1e300"])?.contains("`num_train_epochs` must be at most") == true)
        let product = error(file: nil, overrides: ["--per_device_train_batch_size", "9223372036854775807",
                                                   "--gradient_accumulation_steps", "4"])
        #expect(product?.contains("`per_device_train_batch_size` × `gradient_accumulation_steps`") == true, "\(product ?? "")")
        #expect(try ConfigLoader.load(file: nil, overrides: ["--eval_dataset", "none"]).evalDataset == nil)
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

    /// The resolved config a run saves reads back as the same configuration: the defaults, the demo's, and one where
    /// every key but `sync_ref_model` (which excludes `precompute_ref_log_probs`) differs from its default, with text
    /// that YAML would otherwise read as something else (`null`, `true`, `a: b`, `~`).
    @Test func resolvedConfigLoadsBackToTheSameConfig() throws {
        let everyKeyChanged = try ConfigLoader.load(file: nil, overrides: [
            "--model_name_or_path", "models/a: b", "--train_dataset", "true", "--eval_dataset", "data/held out.jsonl",
            "--max_length", "96", "--chat_template", "chatml", "--truncation_mode", "keep_end",
            "--model.n_layer", "3", "--model.n_head", "2", "--model.n_embd", "24", "--model.n_positions", "96",
            "--beta", "0.25", "--label_smoothing", "0.1", "--loss_type", "sigmoid,sft,robust", "--loss_weights", "1,0.5,1e-7",
            "--reference_free", "true", "--f_divergence_type", "alpha_divergence", "--f_alpha_divergence_coef", "0.3",
            "--discopop_tau", "0.07", "--ld_alpha", "0.4", "--use_weighting", "true", "--precompute_ref_log_probs", "true",
            "--precompute_ref_batch_size", "3", "--precompute_ref_cache_dir", "null", "--ref_model_mixup_alpha", "0.5",
            "--ref_model_sync_steps", "7", "--learning_rate", "3e-7", "--weight_decay", "0.01", "--adam_beta1", "0.8",
            "--adam_beta2", "0.99", "--adam_epsilon", "1e-6", "--max_grad_norm", "0.5", "--lr_scheduler_type", "cosine",
            "--warmup_steps", "2", "--warmup_ratio", "0.2", "--per_device_train_batch_size", "3",
            "--per_device_eval_batch_size", "5", "--gradient_accumulation_steps", "4", "--num_train_epochs", "1.5",
            "--max_steps", "11", "--seed", "9", "--train_sampling_strategy", "sequential", "--output_dir", "~",
            "--overwrite_output_dir", "true", "--logging_steps", "2", "--save_steps", "3", "--save_total_limit", "1",
            "--eval_steps", "4", "--threads", "1", "--ddp_bucket_cap_mb", "0.5",
        ])
        #expect(everyKeyChanged.precomputeRefCacheDir == nil)
        var withCacheDir = everyKeyChanged
        withCacheDir.precomputeRefCacheDir = "null"
        // Relative input paths are written absolute (a config file's own paths resolve against its folder).
        let workingDirectory = FileManager.default.currentDirectoryPath
        var absolute = withCacheDir
        absolute.modelNameOrPath = workingDirectory + "/models/a: b"
        absolute.trainDataset = workingDirectory + "/true"
        absolute.evalDataset = workingDirectory + "/data/held out.jsonl"
        absolute.precomputeRefCacheDir = workingDirectory + "/null"
        var absoluteWithoutCacheDir = absolute
        absoluteWithoutCacheDir.precomputeRefCacheDir = nil
        let demo = try ConfigLoader.load(file: nil, overrides: [])
        for (config, expected) in [(demo, demo), (TrainingConfig(), TrainingConfig()), (everyKeyChanged, absoluteWithoutCacheDir),
                                   (withCacheDir, absolute), (absolute, absolute)] {
            let yaml = try ConfigLoader.resolvedYAML(of: config)
            #expect(try ConfigLoader.load(file: try writeTemporary(yaml), overrides: []) == expected, "\(yaml)")
            for key in ConfigKeys.table.keys where key != "max_prompt_length" {
                let name = key.split(separator: ".").last.map(String.init) ?? key
                #expect(yaml.contains("\n\(name):") || yaml.contains(" \(name):"), "\(key) missing from\n\(yaml)")
            }
        }
        let yaml = try ConfigLoader.resolvedYAML(of: withCacheDir)
        #expect(yaml.contains("loss_type: [sigmoid, sft, robust]") && yaml.contains("model:\n  n_embd: 24\n"), "\(yaml)")
    }

    @Test func editDistanceBasics() {
        #expect(editDistance("", "abc") == 3)
        #expect(editDistance("beta", "beta") == 0)
        #expect(editDistance("learing_rate", "learning_rate") == 1)
    }
}
