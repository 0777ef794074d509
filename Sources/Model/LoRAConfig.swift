import Foundation

/// LoRA's settings, as TRL's `ModelConfig` passes them to PEFT's `LoraConfig` (`lora_r`, `lora_alpha`, `lora_dropout`,
/// `lora_target_modules`, `lora_modules_to_save`, `use_rslora`; bias "none").
public struct LoRAConfig: Equatable, Sendable {
    /// Which Linear modules get an adapter, in PEFT's terms.
    public enum Targets: Equatable, Sendable {
        /// `lora_target_modules` unset: PEFT's default for the family (q_proj and v_proj; GPT-2's c_attn).
        case familyDefault
        /// "all-linear": every Linear module but the LM head.
        case allLinear
        /// One name, which TRL passes on as a string and PEFT matches as a regular expression against the whole
        /// module name (`re.fullmatch`): `q_proj` alone matches nothing, `.*q_proj` every q_proj.
        case pattern(String)
        /// Several names: a module is targeted when its full name is one of them or ends in "." + one of them.
        case names([String])
    }

    /// r: the rank of every adapter.
    public var rank: Int
    public var alpha: Double
    /// The probability of PEFT's dropout on each adapter's input (training forwards only).
    public var dropout: Double
    public var targets: Targets
    /// Modules trained in full instead (a trainable copy; the frozen original serves the reference), matched as PEFT
    /// does: a module whose full name ends with one of these strings.
    public var modulesToSave: [String]
    /// Rank-stabilized LoRA (Kalajdzievski 2023): scale alpha/√r instead of alpha/r.
    public var useRSLoRA: Bool

    public init(rank: Int = 16, alpha: Double = 32, dropout: Double = 0.05, targets: Targets = .familyDefault,
                modulesToSave: [String] = [], useRSLoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
        self.modulesToSave = modulesToSave
        self.useRSLoRA = useRSLoRA
    }

    /// What the low-rank path is multiplied by (PEFT's `scaling`).
    public var scale: Float { Float(useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)) }

    /// Throws `LoRAError.invalidConfig` for a rank, alpha or dropout out of range.
    public func validate() throws {
        guard rank > 0 else { throw LoRAError.invalidConfig("lora_r must be positive (got \(rank))") }
        guard alpha.isFinite else { throw LoRAError.invalidConfig("lora_alpha must be finite (got \(alpha))") }
        guard dropout >= 0 && dropout < 1 else {
            throw LoRAError.invalidConfig("lora_dropout must lie in [0, 1) (got \(dropout))")
        }
    }
}

/// Errors of LoRA adapters: settings out of range, targets that match nothing or something we cannot adapt, adapter
/// tensors that do not fit the model.
public enum LoRAError: Error, Equatable, CustomStringConvertible {
    case invalidConfig(String)
    /// The targets match no Linear module of the model.
    case noTargetFound(targets: String, modules: [String])
    /// A module PEFT could adapt that dpo-dist cannot (or a module that is not Linear at all).
    case unsupportedTarget(module: String, reason: String)
    /// A `modules_to_save` entry that names nothing, or that dpo-dist cannot train on its own.
    case unsupportedModuleToSave(name: String, reason: String)
    case missingTensor(name: String)
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// An adapter file tensor no adapter of the model has.
    case unexpectedTensor(name: String)

    public var description: String {
        switch self {
        case .invalidConfig(let message): return "LoRA: \(message)"
        case .noTargetFound(let targets, let modules):
            return "LoRA: target modules \(targets) match no Linear module of the model (its Linear modules are "
                + "\(modules.prefix(8).joined(separator: ", "))\(modules.count > 8 ? ", …" : ""); a single name is a "
                + "regular expression over the whole module name, as in TRL/PEFT: write e.g. `.*q_proj`, list two "
                + "names, or use all-linear)"
        case .unsupportedTarget(let module, let reason): return "LoRA: cannot adapt \(module): \(reason)"
        case .unsupportedModuleToSave(let name, let reason): return "LoRA: modules_to_save `\(name)`: \(reason)"
        case .missingTensor(let name): return "LoRA: the adapter has no tensor \(name)"
        case .shapeMismatch(let name, let expected, let found):
            return "LoRA: adapter tensor \(name) has shape \(found), the model needs \(expected)"
        case .unexpectedTensor(let name): return "LoRA: the adapter file's tensor \(name) belongs to no adapter of the model"
        }
    }
}

extension LoRAConfig.Targets {
    /// Whether `module` (a full Hugging Face module name) is targeted; `familyDefault` must be resolved first.
    func matches(_ module: String) -> Bool {
        switch self {
        case .familyDefault: preconditionFailure("resolve the family's default targets first")
        case .allLinear: return true
        case .pattern(let pattern):
            let whole = "^(?:" + pattern + ")$"
            return module.range(of: whole, options: .regularExpression) != nil
        case .names(let names):
            return names.contains { module == $0 || module.hasSuffix("." + $0) }
        }
    }

    /// PEFT's `TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING` for our families.
    static func familyDefault(_ architecture: ModelArchitecture) -> LoRAConfig.Targets {
        architecture == .gpt2 ? .names(["c_attn"]) : .names(["q_proj", "v_proj"])
    }

    /// As the config gave them, for messages.
    var description: String {
        switch self {
        case .familyDefault: return "(the family's default)"
        case .allLinear: return "all-linear"
        case .pattern(let pattern): return "`\(pattern)`"
        case .names(let names): return names.map { "`\($0)`" }.joined(separator: ", ")
        }
    }
}
