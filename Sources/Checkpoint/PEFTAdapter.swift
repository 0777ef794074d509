import Foundation

/// The LoRA part of PEFT's adapter_config.json (`LoraConfig` as `save_pretrained` writes it): what dpo-dist reads and
/// writes. Keys for features dpo-dist does not implement (DoRA, rank/alpha patterns, layer selection, LoRA biases, …)
/// must hold their defaults when read.
public struct PEFTAdapterConfig: Equatable, Sendable {
    /// PEFT's `target_modules`: a list (exact or dotted-suffix match) or one regular expression over the module name.
    public enum TargetModules: Equatable, Sendable {
        case list([String])
        case pattern(String)
    }

    /// The base model's folder; PEFT resolves a relative path against the working directory, dpo-dist against the
    /// adapter folder first.
    public var baseModelNameOrPath: String?
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    public var targetModules: TargetModules
    public var modulesToSave: [String]?
    public var useRSLoRA: Bool
    /// Whether the adapted weights are stored [in, out] (GPT-2's Conv1D): PEFT needs it to merge them.
    public var fanInFanOut: Bool

    public init(baseModelNameOrPath: String?, rank: Int, alpha: Double, dropout: Double, targetModules: TargetModules,
                modulesToSave: [String]?, useRSLoRA: Bool, fanInFanOut: Bool) {
        self.baseModelNameOrPath = baseModelNameOrPath
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.modulesToSave = modulesToSave
        self.useRSLoRA = useRSLoRA
        self.fanInFanOut = fanInFanOut
    }

    /// Keys that must hold their default (as compact JSON) when present for dpo-dist to reproduce the adapter.
    static let defaultsRequired: [(key: String, allowed: [String])] = [
        ("bias", [#""none""#]), ("use_dora", ["false"]), ("lora_bias", ["false"]), ("layers_to_transform", ["null"]),
        ("layers_pattern", ["null"]), ("exclude_modules", ["null"]), ("rank_pattern", ["{}", "null"]),
        ("alpha_pattern", ["{}", "null"]), ("target_parameters", ["null"]), ("trainable_token_indices", ["null"]),
        ("layer_replication", ["null"]), ("use_qalora", ["false"]), ("alora_invocation_tokens", ["null"]),
    ]

    /// Parses adapter_config.json (`file` names it in errors).
    public init(json: Data, file: String) throws {
        func invalid(_ reason: String) -> PEFTAdapterError { .invalidConfig(file: file, reason: reason) }
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw invalid("not a JSON object")
        }
        guard object["peft_type"] as? String == "LORA" else {
            throw invalid("peft_type is \(object["peft_type"].map { "\($0)" } ?? "missing"); dpo-dist reads LoRA adapters only")
        }
        // An absent key takes PEFT's default.
        for (key, allowed) in Self.defaultsRequired {
            guard let value = object[key].map(Self.compactJSON) else { continue }
            guard allowed.contains(value) else { throw PEFTAdapterError.unsupported(file: file, key: key, value: value) }
        }
        guard let rank = object["r"] as? Int, rank > 0 else { throw invalid("`r` must be a positive whole number") }
        guard let alpha = (object["lora_alpha"] as? NSNumber)?.doubleValue else { throw invalid("`lora_alpha` must be a number") }
        switch object["target_modules"] {
        case let names as [String]: targetModules = .list(names)
        case let pattern as String: targetModules = .pattern(pattern)
        default: throw invalid("`target_modules` must be a list of module names or one regular expression")
        }
        switch object["modules_to_save"] {
        case nil, is NSNull: modulesToSave = nil
        case let names as [String]: modulesToSave = names
        default: throw invalid("`modules_to_save` must be null or a list of module names")
        }
        self.rank = rank
        self.alpha = alpha
        dropout = (object["lora_dropout"] as? NSNumber)?.doubleValue ?? 0
        useRSLoRA = object["use_rslora"] as? Bool ?? false
        fanInFanOut = object["fan_in_fan_out"] as? Bool ?? false
        baseModelNameOrPath = object["base_model_name_or_path"] as? String
    }

    /// adapter_config.json as PEFT writes it for a causal-LM LoRA adapter (keys sorted, other keys at PEFT's defaults).
    public func json() -> Data {
        var object: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": dropout,
            "use_rslora": useRSLoRA, "fan_in_fan_out": fanInFanOut, "bias": "none", "use_dora": false,
            "inference_mode": true, "init_lora_weights": true, "modules_to_save": modulesToSave ?? NSNull(),
            "base_model_name_or_path": baseModelNameOrPath ?? NSNull(),
        ]
        switch targetModules {
        case .list(let names): object["target_modules"] = names
        case .pattern(let pattern): object["target_modules"] = pattern
        }
        return try! JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// A parsed JSON value written back compactly (`null`, `false`, `{}`, `[1,2]`), to compare with a default.
    private static func compactJSON(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) else { return "\(value)" }
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

/// A PEFT adapter folder: adapter_config.json and adapter_model.safetensors (what `PeftModel.save_pretrained` writes
/// and `PeftModel.from_pretrained` loads).
public enum PEFTAdapterFolder {
    public static let configFile = "adapter_config.json"
    public static let weightsFile = "adapter_model.safetensors"

    /// Whether `folder` holds an adapter_config.json.
    public static func isAdapterFolder(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(configFile).path)
    }

    /// Reads the folder's config and opens its weights.
    public static func read(_ folder: URL) throws -> (config: PEFTAdapterConfig, weights: SafeTensorsFile) {
        let configURL = folder.appendingPathComponent(configFile)
        guard let json = FileManager.default.contents(atPath: configURL.path) else {
            throw PEFTAdapterError.invalidConfig(file: configURL.path, reason: "missing or unreadable")
        }
        let config = try PEFTAdapterConfig(json: json, file: configURL.path)
        return (config, try SafeTensorsFile.read(contentsOf: folder.appendingPathComponent(weightsFile)))
    }

    /// Writes the config and the tensors (PEFT's names, float32, metadata {"format": "pt"}), each file atomically.
    public static func write(_ config: PEFTAdapterConfig,
                             tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)], to folder: URL) throws {
        try SafeTensorsFile.write(tensors, metadata: ["format": "pt"], to: folder.appendingPathComponent(weightsFile))
        try AtomicFile.write(config.json(), to: folder.appendingPathComponent(configFile))
    }
}

/// A PEFT adapter folder dpo-dist cannot use; every case names the file.
public enum PEFTAdapterError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(file: String, reason: String)
    /// A key set to a feature dpo-dist does not implement.
    case unsupported(file: String, key: String, value: String)

    public var description: String {
        switch self {
        case let .invalidConfig(file, reason): return "\(file): not a usable PEFT LoRA config: \(reason)"
        case let .unsupported(file, key, value):
            return "\(file): `\(key)` = \(value) is not supported (dpo-dist trains plain LoRA: no DoRA, LoRA biases, "
                + "rank or alpha patterns, layer selection or excluded modules)"
        }
    }
}
