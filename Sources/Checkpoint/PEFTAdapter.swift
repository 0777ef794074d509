import Foundation
import JSON

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

    /// Keys that must hold their default (as compact JSON, or null) when present for dpo-dist to reproduce the adapter.
    static let defaultsRequired: [(key: String, allowed: [JSONValue])] = [
        ("bias", ["none"]), ("use_dora", [false]), ("lora_bias", [false]), ("layers_to_transform", []),
        ("layers_pattern", []), ("exclude_modules", []), ("rank_pattern", [.object([:])]),
        ("alpha_pattern", [.object([:])]), ("target_parameters", []), ("trainable_token_indices", []),
        ("layer_replication", []), ("use_qalora", [false]), ("alora_invocation_tokens", []),
    ]

    /// Parses adapter_config.json (`file` names it in errors; a wrong type is a `JSONError` naming the key).
    public init(json: Data, file: String) throws {
        let object = try JSONField.parse(json, file: file)
        guard try object.optional("peft_type")?.string() == "LORA" else {
            throw PEFTAdapterError.invalidConfig(file: file, reason: "peft_type is "
                + (try object.optional("peft_type").map { $0.value.serialized() } ?? "missing") + "; dpo-dist reads LoRA adapters only")
        }
        // An absent or null key takes PEFT's default.
        for (key, allowed) in Self.defaultsRequired {
            guard let value = try object.optional(key)?.value, !allowed.contains(value) else { continue }
            throw PEFTAdapterError.unsupported(file: file, key: key, value: value.serialized())
        }
        rank = try object.required("r").int()
        guard rank > 0 else { throw PEFTAdapterError.invalidConfig(file: file, reason: "`r` must be positive (got \(rank))") }
        alpha = try object.required("lora_alpha").double()
        let targets = try object.required("target_modules")
        if case .string(let pattern) = targets.value {
            targetModules = .pattern(pattern)
        } else {
            targetModules = .list(try targets.array().map { try $0.string() })
        }
        modulesToSave = try object.optional("modules_to_save")?.array().map { try $0.string() }
        dropout = try object.optional("lora_dropout")?.double() ?? 0
        useRSLoRA = try object.optional("use_rslora")?.bool() ?? false
        fanInFanOut = try object.optional("fan_in_fan_out")?.bool() ?? false
        baseModelNameOrPath = try object.optional("base_model_name_or_path")?.string()
    }

    /// adapter_config.json as PEFT writes it for a causal-LM LoRA adapter (keys sorted, other keys at PEFT's defaults).
    public func json() -> Data {
        let targets: JSONValue = switch targetModules {
        case .list(let names): .array(names.map(JSONValue.string))
        case .pattern(let pattern): .string(pattern)
        }
        let object: JSONObject = [
            "base_model_name_or_path": baseModelNameOrPath.map(JSONValue.string) ?? .null, "bias": "none",
            "fan_in_fan_out": .bool(fanInFanOut), "inference_mode": true, "init_lora_weights": true,
            "lora_alpha": .double(alpha), "lora_dropout": .double(dropout),
            "modules_to_save": modulesToSave.map { .array($0.map(JSONValue.string)) } ?? .null, "peft_type": "LORA",
            "r": .integer(rank), "target_modules": targets, "task_type": "CAUSAL_LM", "use_dora": false,
            "use_rslora": .bool(useRSLoRA),
        ]
        return Data((JSONValue.object(object).serialized(.indentedSorted) + "\n").utf8)
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
