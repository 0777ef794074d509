import DPO
import Diagnostics
import Foundation
import PreferenceData
import ChatTemplate
import Yams

/// A configuration problem, always naming the key and where its value came from. Every rank reads the same file and
/// command line, so every rank raises it identically.
public struct ConfigError: IdenticalOnEveryRank, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a `TrainingConfig` from a YAML file and `--key value` command-line overrides.
///
/// Both go through one table of keys, so the YAML file and the command line accept exactly the same names,
/// parse values the same way and give the same errors. Nested YAML mappings become dotted keys
/// (`model: {n_layer: 4}` is `model.n_layer`, overridable as `--model.n_layer 4`).
public enum ConfigLoader {
    /// Defaults, then the file (if any), then the overrides, then the checks that involve several keys.
    ///
    /// Without a file, the built-in demo configuration (with `demoOverrides`, e.g. the SFT demo's own `output_dir`)
    /// is the base — but only for the demo itself: when the overrides name a model or a dataset, TRL's defaults are the
    /// base instead, so a run on the user's own data never inherits the demo's learning rate, schedule, evaluation set
    /// or `overwrite_output_dir`. The demo's `overwrite_output_dir: true` also covers only the demo's own folder:
    /// moving `output_dir` without saying `overwrite_output_dir` turns it off, so no earlier run is replaced unasked.
    public static func load(file: String?, overrides: [String], demoOverrides: [String] = []) throws -> TrainingConfig {
        var config = TrainingConfig()
        let commandLine = try parse(commandLine: overrides)
        let given = Set(commandLine.map(\.key))
        let isDemo = file == nil && given.isDisjoint(with: ["model_name_or_path", "train_dataset"])
        if let file {
            try apply(yamlFile: file, to: &config)
        } else if isDemo {
            try apply(yaml: demoConfigYAML, source: "built-in demo config", to: &config)
            try apply(try parse(commandLine: demoOverrides), to: &config)
        }
        let demoOutputDir = config.outputDir
        try apply(commandLine, to: &config)
        if isDemo, config.outputDir != demoOutputDir, !given.contains("overwrite_output_dir") {
            config.overwriteOutputDir = false
        }
        try validate(config)
        return config
    }

    static func apply(yamlFile path: String, to config: inout TrainingConfig) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("\(path): cannot read the config file (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError("\(path): the config file is not UTF-8 text")
        }
        try apply(yaml: text, source: path, folder: URL(fileURLWithPath: path).deletingLastPathComponent(), to: &config)
    }

    /// Input paths a config file names resolve against the file's folder, so a config travels with its data and
    /// models whatever the working directory; `demo` and `none` name no file. `output_dir` stays relative to the
    /// working directory, as in TRL, and so do paths given on the command line.
    static let inputPathKeys: Set<String> = ["train_dataset", "eval_dataset", "model_name_or_path", "precompute_ref_cache_dir"]

    /// `value` of `key` as the config in `folder` means it: relative input paths made absolute.
    static func resolved(_ value: String?, of key: String, in folder: URL?) -> String? {
        guard let value, let folder, inputPathKeys.contains(key), !["demo", "none"].contains(value),
              !value.hasPrefix("/"), !value.hasPrefix("~") else { return value }
        return folder.appendingPathComponent(value).standardizedFileURL.path
    }

    /// `folder` is where relative input paths start (nil for the built-in demo config, which names none).
    static func apply(yaml text: String, source path: String, folder: URL? = nil, to config: inout TrainingConfig) throws {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError("\(path): not valid YAML: \(error)")
        }
        guard let root else { return }  // an empty file sets nothing
        guard case .mapping = root else {
            throw ConfigError("\(path):\(root.mark?.line ?? 1): the config must be a mapping of keys to values")
        }
        try applyMapping(root, prefix: "", path: path, folder: folder, to: &config)
    }

    private static func applyMapping(_ node: Node, prefix: String, path: String, folder: URL?,
                                     to config: inout TrainingConfig) throws {
        guard case let .mapping(mapping) = node else { return }
        for (keyNode, valueNode) in mapping {
            let line = keyNode.mark?.line ?? 0
            guard let name = keyNode.string else {
                throw ConfigError("\(path):\(line): a key must be a string")
            }
            let key = prefix + name
            let place = "\(path):\(line)"
            switch valueNode {
            case .mapping:
                guard ConfigKeys.sections.contains(key) else { throw unknownKey(key, at: place) }
                try applyMapping(valueNode, prefix: key + ".", path: path, folder: folder, to: &config)
            case .scalar(let scalar):
                let isNull = valueNode.null != nil
                try set(key, to: isNull ? nil : resolved(scalar.string, of: key, in: folder), at: place, in: &config)
            case .sequence(let items) where ConfigKeys.table[key]?.takesList == true:
                let values = try items.map { item in
                    guard let value = item.string else {
                        throw ConfigError("\(place): `\(key)` must be a list of plain values")
                    }
                    return value
                }
                try set(key, to: values.joined(separator: ","), at: place, in: &config)
            case .sequence, .alias:
                throw ConfigError("\(place): `\(key)` must be a single value, not a list or alias")
            }
        }
    }

    /// One `--key value` (or `--key=value`) of the command line; `place` names it in errors.
    struct Override {
        var key: String
        var value: String?
        var place: String
    }

    /// Splits `--key value` / `--key=value` arguments; the value `null` clears an optional key.
    static func parse(commandLine arguments: [String]) throws -> [Override] {
        var overrides: [Override] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigError("command line: expected `--key value`, found `\(argument)`")
            }
            var key = String(argument.dropFirst(2))
            var value: String
            if let equals = key.firstIndex(of: "=") {
                value = String(key[key.index(after: equals)...])
                key = String(key[..<equals])
            } else {
                guard index + 1 < arguments.count else {
                    throw ConfigError("command line: `--\(key)` needs a value")
                }
                index += 1
                value = arguments[index]
            }
            overrides.append(Override(key: key, value: value == "null" ? nil : value, place: "command line --\(key)"))
            index += 1
        }
        return overrides
    }

    static func apply(commandLine arguments: [String], to config: inout TrainingConfig) throws {
        try apply(try parse(commandLine: arguments), to: &config)
    }

    static func apply(_ overrides: [Override], to config: inout TrainingConfig) throws {
        for override in overrides {
            try set(override.key, to: override.value, at: override.place, in: &config)
        }
    }

    private static func set(_ key: String, to value: String?, at place: String,
                            in config: inout TrainingConfig) throws {
        guard let entry = ConfigKeys.table[key] else { throw unknownKey(key, at: place) }
        do {
            try entry.apply(&config, value)
        } catch let problem as ValueProblem {
            throw ConfigError("\(place): `\(key)` \(problem.message)")
        }
    }

    private static func unknownKey(_ key: String, at place: String) -> ConfigError {
        if let reason = ConfigKeys.unsupportedTRLKeys[key] {
            return ConfigError("\(place): `\(key)` is a TRL DPOConfig key that dpo-dist does not read: \(reason) "
                + "(docs/dpoconfig-keys.md); delete it from the config")
        }
        let suggestion = ConfigKeys.table.keys.min { editDistance($0, key) < editDistance($1, key) }
        var message = "\(place): unknown key `\(key)`"
        if let suggestion, editDistance(suggestion, key) <= max(2, key.count / 4) {
            message += " (did you mean `\(suggestion)`?)"
        }
        return ConfigError(message)
    }

    /// Checks that involve more than one key.
    static func validate(_ config: TrainingConfig) throws {
        // Batch sizes multiply by the rank count too (StepPlan); keep the product far from Int's limit.
        let (batch, overflow) = config.perDeviceTrainBatchSize.multipliedReportingOverflow(by: config.gradientAccumulationSteps)
        if overflow || batch > 1 << 24 {
            throw ConfigError("`per_device_train_batch_size` × `gradient_accumulation_steps` (\(config.perDeviceTrainBatchSize) × "
                + "\(config.gradientAccumulationSteps)) is larger than any data set this trainer can hold (at most 2^24 rows a step)")
        }
        if config.channels % config.heads != 0 {
            throw ConfigError("`model.n_embd` (\(config.channels)) must be divisible by `model.n_head` (\(config.heads))")
        }
        // A Hugging Face model's own length is checked against its config.json when it is loaded.
        if config.modelNameOrPath == nil, config.maxLength > config.maxPositions {
            throw ConfigError("`max_length` (\(config.maxLength)) exceeds the model's `model.n_positions` (\(config.maxPositions))")
        }
        if config.usePeft, config.syncRefModel {
            throw ConfigError("`sync_ref_model` does not combine with `use_peft` (TRL refuses it too): with LoRA the "
                + "reference is the frozen base with the adapters off, so there is no reference model to move")
        }
        if config.usePeft, config.modelNameOrPath == nil {
            throw ConfigError("`use_peft` needs `model_name_or_path`: an adapter refers to its base model's folder, and "
                + "the built-in model exists in no folder")
        }
        if config.precomputeRefLogProbs, config.syncRefModel {
            throw ConfigError("`precompute_ref_log_probs` and `sync_ref_model` exclude each other: TR-DPO moves the "
                + "reference during training, so its log-probs cannot be computed beforehand")
        }
        try validateLoss(config)
    }
}

extension ConfigLoader {
    /// The loss keys that constrain each other (TRL's `DPOConfig.__post_init__` and `DPOTrainer.__init__` checks).
    static func validateLoss(_ config: TrainingConfig) throws {
        let losses = config.lossTypes.count
        if let weights = config.lossWeights, weights.count != losses {
            throw ConfigError("`loss_weights` has \(weights.count) weight(s) but `loss_type` names \(losses) loss(es); "
                + "give one weight per loss, in the same order")
        }
        if config.lossTypes.contains(.exoPair), config.labelSmoothing == 0 {
            throw ConfigError("`loss_type` exo_pair needs `label_smoothing` above 0 (the EXO paper recommends 1e-3)")
        }
        if config.lossTypes.contains(.robust), config.labelSmoothing >= 0.5 {
            throw ConfigError("`loss_type` robust needs `label_smoothing` below 0.5 (it divides by 1 − 2·label_smoothing)")
        }
        if config.useWeighting, let sorted = config.lossTypes.first(where: { [.aot, .aotUnpaired].contains($0) }) {
            throw ConfigError("`use_weighting` cannot weight `loss_type` \(sorted.rawValue): it matches the pairs of a "
                + "micro-batch by rank, so no loss belongs to one pair to weight (TRL refuses this too)")
        }
        let withoutFDivergence = config.lossTypes.filter { !$0.acceptsFDivergence }
        if config.fDivergenceType != .reverseKL, !withoutFDivergence.isEmpty {
            let accepting = DPOLossType.allCases.filter(\.acceptsFDivergence).map(\.rawValue)
            throw ConfigError("`f_divergence_type` \(config.fDivergenceType.rawValue) does not apply to `loss_type` "
                + withoutFDivergence.map(\.rawValue).joined(separator: ", ")
                + ": only \(accepting.joined(separator: ", ")) have an f-divergence form; use reverse_kl with the others")
        }
    }
}

/// A value that does not fit its key; the loader adds the key and the place.
struct ValueProblem: Error {
    var message: String
}

/// The table of every accepted key: its parser, range check and the field it sets.
enum ConfigKeys {
    struct Entry {
        /// Accepts a YAML sequence, passed to `apply` comma-joined like the command-line form.
        var takesList = false
        /// The key's current value, for the resolved config file; nil for a key that sets nothing (`removed`).
        var value: ((TrainingConfig) -> ConfigValue)? = nil
        var apply: (inout TrainingConfig, String?) throws -> Void
    }

    /// Keys that hold a nested mapping in YAML.
    static let sections: Set<String> = ["model"]

    static let table: [String: Entry] = [
        "model_name_or_path": optionalString(\.modelNameOrPath),
        "train_dataset": string(\.trainDataset),
        "eval_dataset": optionalString(\.evalDataset),
        "max_length": int(\.maxLength, min: 2),
        "max_prompt_length": removed("was removed from TRL's DPOConfig (TRL 1.x): prompts are no longer cut on their own; "
            + "each prompt+completion row is cut to `max_length` as `truncation_mode` says. Delete the key"),
        "chat_template": optionalChoice(\.chatTemplate, among: ChatTemplate.builtInNames),
        "truncation_mode": choice(\.truncationMode),
        "model.n_layer": int(\.layers, min: 1),
        "model.n_head": int(\.heads, min: 1),
        "model.n_embd": int(\.channels, min: 1),
        "model.n_positions": int(\.maxPositions, min: 2),
        "beta": double(\.beta, above: 0),
        "label_smoothing": double(\.labelSmoothing, min: 0, max: 0.5),
        "loss_type": list(\.lossTypes, element: parseChoice),
        "loss_weights": optionalList(\.lossWeights, element: { try parseDouble($0, min: 0) }),
        "reference_free": bool(\.referenceFree),
        "f_divergence_type": choice(\.fDivergenceType),
        "f_alpha_divergence_coef": double(\.fAlphaDivergenceCoef),
        "discopop_tau": double(\.discopopTau, above: 0),
        "ld_alpha": optionalDouble(\.ldAlpha, min: 0, max: 1),
        "use_weighting": bool(\.useWeighting),
        "precompute_ref_log_probs": bool(\.precomputeRefLogProbs),
        "precompute_ref_batch_size": optionalInt(\.precomputeRefBatchSize, min: 1),
        "precompute_ref_cache_dir": optionalString(\.precomputeRefCacheDir),
        "sync_ref_model": bool(\.syncRefModel),
        "ref_model_mixup_alpha": double(\.refModelMixupAlpha, above: 0, max: 1),
        "ref_model_sync_steps": int(\.refModelSyncSteps, min: 1),
        "learning_rate": double(\.learningRate, min: 0),
        "weight_decay": double(\.weightDecay, min: 0),
        "adam_beta1": double(\.adamBeta1, min: 0, max: 0.999999),
        "adam_beta2": double(\.adamBeta2, min: 0, max: 0.999999),
        "adam_epsilon": double(\.adamEpsilon, above: 0),
        "max_grad_norm": double(\.maxGradNorm, min: 0),
        "lr_scheduler_type": choice(\.lrSchedulerType),
        "warmup_steps": int(\.warmupSteps, min: 0),
        "warmup_ratio": double(\.warmupRatio, min: 0, max: 1),
        "per_device_train_batch_size": int(\.perDeviceTrainBatchSize, min: 1),
        "per_device_eval_batch_size": int(\.perDeviceEvalBatchSize, min: 1),
        "gradient_accumulation_steps": int(\.gradientAccumulationSteps, min: 1),
        "num_train_epochs": double(\.numTrainEpochs, above: 0, max: 1e6),
        "max_steps": int(\.maxSteps, min: -1),
        "seed": int(\.seed, min: 0),
        "train_sampling_strategy": choice(\.trainSamplingStrategy),
        "output_dir": string(\.outputDir),
        "overwrite_output_dir": bool(\.overwriteOutputDir),
        "logging_steps": int(\.loggingSteps, min: 1),
        "save_steps": int(\.saveSteps, min: 0),
        "save_total_limit": optionalInt(\.saveTotalLimit, min: 1),
        "eval_steps": optionalInt(\.evalSteps, min: 1),
        "gradient_checkpointing": bool(\.gradientCheckpointing),
        "bf16": bool(\.bf16),
        "use_peft": bool(\.usePeft),
        "lora_r": int(\.loraR, min: 1),
        "lora_alpha": double(\.loraAlpha),
        "lora_dropout": double(\.loraDropout, min: 0, below: 1),
        "lora_target_modules": optionalList(\.loraTargetModules, element: { $0 }),
        "lora_modules_to_save": optionalList(\.loraModulesToSave, element: { $0 }),
        "use_rslora": bool(\.useRSLoRA),
        "threads": int(\.threads, min: 0),
        "ddp_bucket_cap_mb": double(\.ddpBucketCapMB, min: 0),
        "ddp_timeout": double(\.ddpTimeout, min: 0),
        "nonfinite_policy": choice(\.nonfinitePolicy),
        "gradient_allreduce": choice(\.gradientAllreduce),
        "share_reference": bool(\.shareReference),
        "report_to": reportDestinations(\.reportTo),
        "zero_stage": choice(\.zeroStage),
    ]

    private static func required(_ value: String?) throws -> String {
        guard let value else { throw ValueProblem(message: "needs a value") }
        return value
    }

    static func string(_ field: WritableKeyPath<TrainingConfig, String>) -> Entry {
        Entry(value: { .text($0[keyPath: field]) }) { config, value in
            let text = try required(value)
            guard !text.isEmpty else { throw ValueProblem(message: "must not be empty") }
            config[keyPath: field] = text
        }
    }

    /// A value or none (`null` or `none`); an empty string is an error, not "none": `model_name_or_path: ""` must
    /// not quietly train the built-in model.
    static func optionalString(_ field: WritableKeyPath<TrainingConfig, String?>) -> Entry {
        Entry(value: { $0[keyPath: field].map(ConfigValue.text) ?? .null }) { config, value in
            guard value?.isEmpty != true else {
                throw ValueProblem(message: "is empty: give a value, or null (or none) for none")
            }
            config[keyPath: field] = value == "none" ? nil : value
        }
    }

    /// A key TRL no longer has: naming it, with any value, is an error that says why.
    static func removed(_ reason: String) -> Entry {
        Entry { _, _ in throw ValueProblem(message: reason) }
    }

    static func optionalChoice(_ field: WritableKeyPath<TrainingConfig, String?>, among names: [String]) -> Entry {
        Entry(value: { $0[keyPath: field].map(ConfigValue.text) ?? .null }) { config, value in
            if let value, !names.contains(value) {
                throw ValueProblem(message: "must be one of \(names.joined(separator: ", ")), got \"\(value)\"")
            }
            config[keyPath: field] = value
        }
    }

    static func bool(_ field: WritableKeyPath<TrainingConfig, Bool>) -> Entry {
        Entry(value: { .bool($0[keyPath: field]) }) { config, value in
            switch try required(value).lowercased() {
            case "true", "yes", "on", "1": config[keyPath: field] = true
            case "false", "no", "off", "0": config[keyPath: field] = false
            case let other: throw ValueProblem(message: "must be true or false, got \"\(other)\"")
            }
        }
    }

    static func int(_ field: WritableKeyPath<TrainingConfig, Int>, min: Int) -> Entry {
        Entry(value: { .integer($0[keyPath: field]) }) { config, value in
            config[keyPath: field] = try parseInt(try required(value), min: min)
        }
    }

    static func optionalInt(_ field: WritableKeyPath<TrainingConfig, Int?>, min: Int) -> Entry {
        Entry(value: { $0[keyPath: field].map(ConfigValue.integer) ?? .null }) { config, value in
            config[keyPath: field] = try value.map { try parseInt($0, min: min) }
        }
    }

    private static func parseInt(_ text: String, min: Int) throws -> Int {
        guard let number = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw ValueProblem(message: "must be a whole number, got \"\(text)\"")
        }
        guard number >= min else { throw ValueProblem(message: "must be at least \(min), got \(number)") }
        return number
    }

    static func double(_ field: WritableKeyPath<TrainingConfig, Double>,
                       min: Double? = nil, above: Double? = nil, max: Double? = nil, below: Double? = nil) -> Entry {
        Entry(value: { .real($0[keyPath: field]) }) { config, value in
            let number = try parseDouble(try required(value), min: min, above: above, max: max)
            if let below, number >= below { throw ValueProblem(message: "must be less than \(below), got \(number)") }
            config[keyPath: field] = number
        }
    }

    static func optionalDouble(_ field: WritableKeyPath<TrainingConfig, Double?>, min: Double, max: Double) -> Entry {
        Entry(value: { $0[keyPath: field].map(ConfigValue.real) ?? .null }) { config, value in
            config[keyPath: field] = try value.map { try parseDouble($0, min: min, max: max) }
        }
    }

    private static func parseDouble(_ text: String, min: Double? = nil, above: Double? = nil,
                                    max: Double? = nil) throws -> Double {
        guard let number = Double(text), number.isFinite else {
            throw ValueProblem(message: "must be a number, got \"\(text)\"")
        }
        if let min, number < min { throw ValueProblem(message: "must be at least \(min), got \(number)") }
        if let above, number <= above { throw ValueProblem(message: "must be greater than \(above), got \(number)") }
        if let max, number > max { throw ValueProblem(message: "must be at most \(max), got \(number)") }
        return number
    }

    static func choice<Value: RawRepresentable & CaseIterable>(
        _ field: WritableKeyPath<TrainingConfig, Value>) -> Entry where Value.RawValue == String {
        Entry(value: { .text($0[keyPath: field].rawValue) }) { config, value in
            config[keyPath: field] = try parseChoice(try required(value))
        }
    }

    private static func parseChoice<Value: RawRepresentable & CaseIterable>(_ text: String) throws -> Value
    where Value.RawValue == String {
        guard let parsed = Value(rawValue: text) else {
            let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValueProblem(message: "must be one of \(allowed), got \"\(text)\"")
        }
        return parsed
    }

    /// `report_to`: a list of destinations, `none`, or `all` (every destination dpo-dist has); transformers' other
    /// integrations are refused with the reason.
    static func reportDestinations(_ field: WritableKeyPath<TrainingConfig, [TrainingConfig.ReportDestination]>) -> Entry {
        Entry(takesList: true, value: { config in
            config[keyPath: field].isEmpty ? .text("none") : .list(config[keyPath: field].map { .text($0.rawValue) })
        }) { config, value in
            let names = try parseList(try required(value)) { $0 }
            switch names {
            case ["none"]: config[keyPath: field] = []
            case ["all"]: config[keyPath: field] = TrainingConfig.ReportDestination.allCases
            default: config[keyPath: field] = try names.map(parseReportDestination)
            }
        }
    }

    /// transformers' `report_to` integrations that need their own Python client and, most, a service.
    static let unsupportedIntegrations: Set<String> = [
        "azure_ml", "clearml", "codecarbon", "comet_ml", "dagshub", "dvclive", "flyte", "kubeflow", "mlflow", "neptune",
        "swanlab", "trackio", "wandb",
    ]

    private static func parseReportDestination(_ name: String) throws -> TrainingConfig.ReportDestination {
        if let destination = TrainingConfig.ReportDestination(rawValue: name) { return destination }
        if unsupportedIntegrations.contains(name) {
            throw ValueProblem(message: "\"\(name)\" is not supported: it is a Python client of its own (most also a "
                + "network service), and dpo-dist is one Swift binary that runs where Python and the network may not be; "
                + "use tensorboard (TensorBoard reads output_dir/runs/, and `wandb sync --sync-tensorboard` uploads it "
                + "later) or csv")
        }
        throw ValueProblem(message: "must be none, all, or a list of tensorboard, csv; got \"\(name)\"")
    }

    /// A list: a YAML sequence, or comma-separated values (`--loss_type sigmoid,sft`).
    static func list<Element>(_ field: WritableKeyPath<TrainingConfig, [Element]>,
                              element: @escaping (String) throws -> Element) -> Entry {
        Entry(takesList: true, value: { .list($0[keyPath: field].map(ConfigValue.item)) }) { config, value in
            config[keyPath: field] = try parseList(try required(value), element: element)
        }
    }

    static func optionalList<Element>(_ field: WritableKeyPath<TrainingConfig, [Element]?>,
                                      element: @escaping (String) throws -> Element) -> Entry {
        Entry(takesList: true, value: { $0[keyPath: field].map { .list($0.map(ConfigValue.item)) } ?? .null }) {
            config, value in
            config[keyPath: field] = try value.map { try parseList($0, element: element) }
        }
    }

    private static func parseList<Element>(_ text: String, element: (String) throws -> Element) throws -> [Element] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard items != [""] else { throw ValueProblem(message: "must list at least one value") }
        return try items.map(element)
    }
}

/// Levenshtein distance, for "did you mean" suggestions on misspelt keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
