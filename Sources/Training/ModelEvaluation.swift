import Foundation
import Checkpoint
import DPO
import JSON
import Kernels
import Model
import MPI

/// `dpo-dist eval`: TRL's preference metrics (and `prefers_chosen`) of model folders against one reference model on one
/// dataset, computed by the trainer's own evaluation (`DPOTask`, `TrainingTask.metrics(on:batchSize:communicator:)`),
/// on one process or dealt over the ranks of mpirun.
///
/// Each evaluated model's weights take the policy's place and the reference is the run's starting model, exactly as
/// during training, so a checkpoint's row equals the `eval_*` record its run logged at that step (with the same
/// `per_device_eval_batch_size`, ranks and threads, bit for bit).
public final class ModelEvaluation {
    /// A model folder to evaluate, named as the command line named it.
    public struct Model {
        public let label: String
        let folder: URL
    }

    /// One evaluated model: its label and its metrics under TRL's `eval_` names.
    public struct Row {
        public let model: String
        public let metrics: [(name: String, value: Double)]

        /// `{"model": …, "eval_loss": …, …}` with every digit of each value.
        public var jsonLine: String {
            JSONValue.object(JSONObject([("model", .string(model))] + metrics.map { ($0.name, .double($0.value)) }))
                .serialized(.spaced)
        }
    }

    public let config: TrainingConfig
    public let models: [Model]
    /// What the reference is and where that came from, for the console.
    public let referenceDescription: String
    let communicator: Communicator
    let say: (String) -> Void

    /// Resolves the models (a run folder stands for its checkpoints, then its final model), the configuration and the
    /// reference. The configuration is `configFile`, else the first model's run's `config.yaml` (a run folder's, or
    /// a checkpoint's own or its run's), then `overrides`; the reference is `referenceModel`, else that
    /// configuration's `model_name_or_path` (the built-in model drawn from `seed` when it has none).
    public init(models arguments: [String], referenceModel: String?, configFile: String?, overrides: [String],
                communicator: Communicator, say: @escaping (String) -> Void) throws {
        self.communicator = communicator
        self.say = communicator.rank == 0 ? say : { _ in }
        models = try arguments.flatMap(Self.expand)
        guard let first = models.first else {
            throw RunError.input("`--model_name_or_path`: name at least one model folder or run folder")
        }
        let runConfig = Self.runConfigFile(of: URL(fileURLWithPath: arguments[0]))
        guard let file = configFile ?? runConfig?.path else {
            guard let referenceModel else {
                throw RunError.input("no reference model for \(first.label): pass --ref_model DIR (the model its run "
                    + "started from), or --config with the run's configuration (runs save it as output_dir/"
                    + "\(ConfigLoader.resolvedFileName))")
            }
            config = try Self.configuration(file: nil, overrides: overrides, referenceModel: referenceModel)
            referenceDescription = "reference \(referenceModel)"
            return
        }
        config = try Self.configuration(file: file, overrides: overrides, referenceModel: referenceModel)
        let origin = configFile == nil ? "the run's starting model, as \(file) records" : "as \(file) says"
        referenceDescription = referenceModel.map { "reference \($0)" }
            ?? config.modelNameOrPath.map { "reference \($0) (\(origin))" }
            ?? "reference: the built-in model drawn from seed \(config.seed) (\(origin))"
    }

    /// The configuration of the evaluation: an evaluation needs `eval_dataset` and keeps its reference model in memory
    /// (no precomputed reference log-probs, no TR-DPO sync, which only training moves).
    private static func configuration(file: String?, overrides: [String], referenceModel: String?) throws -> TrainingConfig {
        var config = try ConfigLoader.load(file: file, overrides: overrides
            + (referenceModel.map { ["--model_name_or_path", $0] } ?? []))
        guard config.evalDataset != nil else {
            throw ConfigError("`eval_dataset` is not set: pass --eval_dataset FILE, or demo for the built-in held-out pairs")
        }
        config.precomputeRefLogProbs = false
        config.syncRefModel = false
        return config
    }

    /// A model folder (config.json, or a PEFT adapter) is itself; a run folder is its complete checkpoints by step, then
    /// its final model.
    static func expand(_ argument: String) throws -> [Model] {
        let folder = URL(fileURLWithPath: argument)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RunError.input("`--model_name_or_path` \(argument): no such folder")
        }
        let checkpoints = try CheckpointDirectory(outputDir: folder).all()
        let hasModel = FileManager.default.fileExists(atPath: folder.appendingPathComponent("config.json").path)
            || PEFTAdapterFolder.isAdapterFolder(folder)
        guard hasModel || !checkpoints.isEmpty else {
            throw RunError.input("`--model_name_or_path` \(argument): neither a model folder (config.json) nor a run "
                + "folder (checkpoint-<step>/)")
        }
        return checkpoints.map { Model(label: (argument as NSString).appendingPathComponent("checkpoint-\($0.step)"),
                                       folder: $0.url) }
            + (hasModel ? [Model(label: argument, folder: folder)] : [])
    }

    /// The `config.yaml` of the run that made `folder`: its own (a run folder, or a checkpoint), else its parent's
    /// for a checkpoint.
    static func runConfigFile(of folder: URL) -> URL? {
        var candidates = [folder.appendingPathComponent(ConfigLoader.resolvedFileName)]
        if folder.lastPathComponent.hasPrefix("checkpoint-") || folder.lastPathComponent.hasPrefix(".replaced-checkpoint-") {
            candidates.append(folder.deletingLastPathComponent().appendingPathComponent(ConfigLoader.resolvedFileName))
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Evaluates every model in order, handing each row to `each` as soon as it is known (every rank must call this).
    @discardableResult
    public func run(_ each: (Row) -> Void = { _ in }) throws -> [Row] {
        let parallel = Parallel(threads: config.threads > 0 ? config.threads : Trainer.automaticThreads())
        let source = try ModelSource(config: config)
        let policy = try makeCausalLanguageModel(config: source.modelConfig, trainable: false, parallel: parallel)
        try source.load(into: policy, seed: config.seed, communicator: communicator)
        // A LoRA run's models are its adapters: the policy gets the run's adapters, so the reference is the one its
        // training used (the base with them off, or the adapter it started from).
        if let lora = source.loraConfig(config) {
            try Trainer.attachAdapters(lora, to: policy, objective: .dpo, source: source, config: config,
                                       communicator: communicator, say: { _ in })
        }
        let templateName = config.chatTemplate
        let data = try TrainingData.pairs(config: config, tokenizer: source.tokenizer,
                                          chatTemplate: { try source.chatTemplate(named: templateName) },
                                          training: false)
        guard !data.eval.isEmpty else {
            throw RunError.input("`eval_dataset` \(config.evalDataset ?? ""): no pairs to evaluate")
        }
        // As in training, the task's reference is a copy of the policy's starting weights: the reference model.
        let task = try DPOTask(config: config, source: source, policy: policy, data: data, communicator: communicator,
                               topology: nil, parallel: parallel, say: say)
        say("evaluating \(models.count) model(s) on \(config.evalDataset ?? "") (\(task.evalCount) pairs), "
            + "\(referenceDescription); \(communicator.size) rank(s) × \(parallel.threads) thread(s)")
        var rows: [Row] = []
        for model in models {
            let evaluated = try ModelSource(folder: model.folder.path)
            guard evaluated.modelConfig == source.modelConfig else {
                throw RunError.input("\(model.folder.appendingPathComponent("config.json").path): this model's shape or "
                    + "architecture differs from the reference's; evaluate it against its own starting model (--ref_model)")
            }
            if let adapters = policy.adapters {
                guard evaluated.adapter != nil else {
                    throw RunError.input("\(model.label): a full model, but the run trained LoRA adapters on "
                        + "\(config.modelNameOrPath ?? "its base"); evaluate it with --ref_model")
                }
                try communicator.runOnRankZero { try loadAdapterWeights(from: model.folder, into: policy) }
                try communicator.broadcast(UnsafeMutableRawBufferPointer(adapters.parameters), root: 0)
            } else {
                try evaluated.loadMerged(into: policy, communicator: communicator)
            }
            let metrics = try task.metrics(on: .eval, batchSize: config.perDeviceEvalBatchSize, communicator: communicator)
            let row = Row(model: model.label, metrics: metrics.evalMeans)
            each(row)
            rows.append(row)
        }
        return rows
    }

    // MARK: The console table

    /// TRL's evaluation metric names, the columns of the table.
    static let columns = PreferenceMetricSums.metricNames.map { "eval_" + $0 }

    private var labelWidth: Int { max(5, models.map(\.label.count).max() ?? 0) }

    /// The table's header line: `model`, then one column per metric.
    public var tableHeader: String {
        (["model".padding(toLength: labelWidth, withPad: " ", startingAt: 0)]
            + Self.columns.map { rightAligned($0, width: max(10, $0.count)) }).joined(separator: "  ")
    }

    /// One model's line of the table, aligned under `tableHeader`.
    public func tableLine(_ row: Row) -> String {
        let values = Dictionary(row.metrics, uniquingKeysWith: { first, _ in first })
        return ([row.model.padding(toLength: labelWidth, withPad: " ", startingAt: 0)] + Self.columns.map { name in
            rightAligned(values[name].map { String(format: "%.4f", $0) } ?? "-", width: max(10, name.count))
        }).joined(separator: "  ")
    }
}

/// `text` right-aligned in `width` characters.
private func rightAligned(_ text: String, width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}
