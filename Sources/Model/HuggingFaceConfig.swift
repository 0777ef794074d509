import Foundation

/// Reading and writing Hugging Face `config.json`.
///
/// The family comes from "architectures"[0] (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM,
/// MistralForCausalLM), else from "model_type" (gpt2, llama, qwen2, mistral; SmolLM and SmolLM2 checkpoints are
/// "llama"). Keys that define the shape are required; optional ones take transformers' defaults. Both rotary
/// spellings are read: transformers 4's "rope_theta" + "rope_scaling" and transformers 5's "rope_parameters".
extension ModelConfig {
    public init(huggingFaceConfig data: Data) throws {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelError.invalidConfigValue(key: "config.json", expected: "JSON", found: "unreadable text (\(error))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw ModelError.invalidConfigValue(key: "config.json", expected: "a JSON object", found: "\(type(of: object))")
        }
        try self.init(huggingFaceConfig: dictionary)
    }

    /// From config.json's parsed object (as JSONSerialization returns it).
    public init(huggingFaceConfig json: [String: Any]) throws {
        let fields = JSONFields(json)
        let architecture = try Self.architecture(fields)
        switch architecture {
        case .gpt2: self = try Self.gpt2(fields)
        case .llama, .qwen2, .mistral: self = try Self.llamaFamily(architecture, fields)
        }
        try validate()
    }

    private static func architecture(_ fields: JSONFields) throws -> ModelArchitecture {
        if let classes = fields.value("architectures") {
            guard let names = classes as? [String], let name = names.first else {
                throw ModelError.invalidConfigValue(key: "architectures", expected: "a non-empty list of class names",
                                                    found: "\(classes)")
            }
            guard let architecture = ModelArchitecture.allCases.first(where: { $0.huggingFaceClass == name }) else {
                throw ModelError.unsupportedArchitecture(name)
            }
            return architecture
        }
        let modelType = try fields.string("model_type")
        guard let architecture = ModelArchitecture(rawValue: modelType) else {
            throw ModelError.unsupportedArchitecture(modelType)
        }
        return architecture
    }

    private static func gpt2(_ fields: JSONFields) throws -> ModelConfig {
        let activation = try fields.optionalString("activation_function") ?? "gelu_new"
        // Both names are GELU's tanh approximation.
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw ModelError.unsupportedConfigValue(key: "activation_function", value: activation)
        }
        if try fields.optionalBool("scale_attn_weights") == false {
            throw ModelError.unsupportedConfigValue(key: "scale_attn_weights", value: "false")
        }
        if try fields.optionalBool("scale_attn_by_inverse_layer_idx") == true {
            throw ModelError.unsupportedConfigValue(key: "scale_attn_by_inverse_layer_idx", value: "true")
        }
        var config = ModelConfig.gpt2(
            vocabSize: try fields.int("vocab_size"), maxPositions: try fields.int("n_positions"),
            layers: try fields.int("n_layer"), heads: try fields.int("n_head"), channels: try fields.int("n_embd"),
            layerNormEpsilon: Float(try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5),
            intermediateSize: try fields.optionalInt("n_inner"))
        config.tiedEmbeddings = try fields.optionalBool("tie_word_embeddings") ?? true
        return config
    }

    private static func llamaFamily(_ architecture: ModelArchitecture, _ fields: JSONFields) throws -> ModelConfig {
        let activation = try fields.optionalString("hidden_act") ?? "silu"
        guard activation == "silu" else { throw ModelError.unsupportedConfigValue(key: "hidden_act", value: activation) }
        let (channels, heads) = (try fields.int("hidden_size"), try fields.int("num_attention_heads"))
        let headSize: Int
        if let explicit = try fields.optionalInt("head_dim") {
            headSize = explicit
        } else {
            guard heads > 0, channels % heads == 0 else {
                throw ModelError.invalidConfigValue(key: "hidden_size", expected: "a multiple of num_attention_heads (\(heads)) "
                                                    + "when head_dim is not given", found: "\(channels)")
            }
            headSize = channels / heads
        }
        let (ropeTheta, ropeScaling) = try rotary(fields)
        let attentionBias: Bool, attentionOutputBias: Bool, mlpBias: Bool
        var slidingWindow: Int?
        switch architecture {
        case .qwen2:
            (attentionBias, attentionOutputBias, mlpBias) = (true, false, false)
            if try fields.optionalBool("use_sliding_window") == true {
                throw ModelError.unsupportedConfigValue(key: "use_sliding_window", value: "true")
            }
            if let layerTypes = fields.value("layer_types") as? [String], let sliding = layerTypes.first(where: { $0 != "full_attention" }) {
                throw ModelError.unsupportedConfigValue(key: "layer_types", value: sliding)
            }
        case .mistral:
            (attentionBias, attentionOutputBias, mlpBias) = (false, false, false)
            slidingWindow = try fields.optionalInt("sliding_window")
        default:
            attentionBias = try fields.optionalBool("attention_bias") ?? false
            (attentionOutputBias, mlpBias) = (attentionBias, try fields.optionalBool("mlp_bias") ?? false)
        }
        return ModelConfig(
            architecture: architecture, vocabSize: try fields.int("vocab_size"),
            maxPositions: try fields.int("max_position_embeddings"), layers: try fields.int("num_hidden_layers"),
            heads: heads, keyValueHeads: try fields.optionalInt("num_key_value_heads") ?? heads, channels: channels,
            headSize: headSize, intermediateSize: try fields.int("intermediate_size"),
            normEpsilon: Float(try fields.optionalDouble("rms_norm_eps") ?? 1e-6), ropeTheta: ropeTheta,
            ropeScaling: ropeScaling, attentionBias: attentionBias, attentionOutputBias: attentionOutputBias,
            mlpBias: mlpBias, tiedEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false,
            slidingWindow: slidingWindow)
    }

    /// θ and the llama3 scaling from "rope_parameters" (transformers 5) or "rope_theta" + "rope_scaling".
    private static func rotary(_ fields: JSONFields) throws -> (theta: Double, scaling: Llama3RopeScaling?) {
        let parameters: JSONFields?, theta: Double
        if let modern = try fields.optionalObject("rope_parameters") {
            parameters = modern
            theta = try modern.optionalDouble("rope_theta") ?? 10_000
        } else {
            parameters = try fields.optionalObject("rope_scaling")
            theta = try fields.optionalDouble("rope_theta") ?? 10_000
        }
        guard let parameters else { return (theta, nil) }
        let typeKey = parameters.value("rope_type") != nil ? "rope_type" : "type"
        switch try parameters.optionalString(typeKey) ?? "default" {
        case "default":
            return (theta, nil)
        case "llama3":
            return (theta, Llama3RopeScaling(
                factor: try parameters.double("factor"), lowFrequencyFactor: try parameters.double("low_freq_factor"),
                highFrequencyFactor: try parameters.double("high_freq_factor"),
                originalMaxPositions: try parameters.int("original_max_position_embeddings")))
        case let other:
            throw ModelError.unsupportedConfigValue(key: parameters.path + typeKey, value: other)
        }
    }

    /// config.json's object for this config (transformers' keys; both rotary spellings, so transformers 4 and 5 read
    /// the same θ and scaling). Token ids are the caller's to add.
    public func huggingFaceConfig() -> [String: Any] {
        var json: [String: Any] = [
            "architectures": [architecture.huggingFaceClass], "model_type": architecture.rawValue,
            "vocab_size": vocabSize, "tie_word_embeddings": tiedEmbeddings, "torch_dtype": "float32",
        ]
        switch architecture {
        case .gpt2:
            json.merge([
                "n_positions": maxPositions, "n_embd": channels, "n_layer": layers, "n_head": heads,
                "n_inner": intermediateSize == 4 * channels ? NSNull() : intermediateSize as Any,
                "layer_norm_epsilon": Double(normEpsilon), "activation_function": "gelu_new",
                "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            ]) { $1 }
        case .llama, .qwen2, .mistral:
            var ropeScaling: [String: Any] = ["rope_type": "default"]
            if let scaling = self.ropeScaling {
                ropeScaling = [
                    "rope_type": "llama3", "factor": scaling.factor, "low_freq_factor": scaling.lowFrequencyFactor,
                    "high_freq_factor": scaling.highFrequencyFactor,
                    "original_max_position_embeddings": scaling.originalMaxPositions,
                ]
            }
            json.merge([
                "hidden_size": channels, "intermediate_size": intermediateSize, "num_hidden_layers": layers,
                "num_attention_heads": heads, "num_key_value_heads": keyValueHeads, "head_dim": headSize,
                "max_position_embeddings": maxPositions, "rms_norm_eps": Double(normEpsilon), "hidden_act": "silu",
                "rope_theta": ropeTheta, "rope_scaling": self.ropeScaling == nil ? NSNull() : ropeScaling as Any,
                "rope_parameters": ropeScaling.merging(["rope_theta": ropeTheta]) { $1 },
                "attention_dropout": 0.0,
            ]) { $1 }
        }
        switch architecture {
        case .llama: json.merge(["attention_bias": attentionBias, "mlp_bias": mlpBias]) { $1 }
        case .qwen2: json.merge(["use_sliding_window": false, "sliding_window": NSNull()]) { $1 }
        case .mistral: json["sliding_window"] = slidingWindow.map { $0 as Any } ?? NSNull()
        case .gpt2: break
        }
        return json
    }

    /// `huggingFaceConfig()` as pretty-printed JSON with sorted keys, plus `extra` keys (e.g. token ids).
    public func huggingFaceConfigJSON(adding extra: [String: Any] = [:]) throws -> Data {
        try JSONSerialization.data(withJSONObject: huggingFaceConfig().merging(extra) { $1 },
                                   options: [.prettyPrinted, .sortedKeys])
    }
}

/// Typed access to a JSON object's keys; errors name the key with its path ("rope_scaling.factor").
/// JSON null counts as absent.
private struct JSONFields {
    let object: [String: Any]
    /// Prefix of nested keys in error messages.
    let path: String

    init(_ object: [String: Any], path: String = "") {
        self.object = object
        self.path = path
    }

    func value(_ key: String) -> Any? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (Any) -> T?) throws -> T? {
        guard let value = value(key) else { return nil }
        guard let converted = convert(value) else {
            throw ModelError.invalidConfigValue(key: path + key, expected: expected, found: "\(value)")
        }
        return converted
    }

    private func required<T>(_ key: String, _ value: T?) throws -> T {
        guard let value else { throw ModelError.missingConfigKey(path + key) }
        return value
    }

    /// JSONSerialization's true and false are NSNumbers of this class, which `as? Bool` / `as? Int` cannot tell
    /// apart from 1 and 0.
    private static let booleanClass = type(of: NSNumber(value: true))

    /// A JSON number that is not a boolean.
    private func number(_ value: Any) -> NSNumber? {
        guard let number = value as? NSNumber, type(of: number) != Self.booleanClass else { return nil }
        return number
    }

    func optionalInt(_ key: String) throws -> Int? {
        try typed(key, "an integer") { number($0).flatMap { Int(exactly: $0.doubleValue) } }
    }

    func optionalDouble(_ key: String) throws -> Double? { try typed(key, "a number") { number($0)?.doubleValue } }

    func optionalBool(_ key: String) throws -> Bool? {
        try typed(key, "true or false") { value in
            (value as? NSNumber).flatMap { type(of: $0) == Self.booleanClass ? $0.boolValue : nil }
        }
    }
    func optionalString(_ key: String) throws -> String? { try typed(key, "a string") { $0 as? String } }

    func optionalObject(_ key: String) throws -> JSONFields? {
        try typed(key, "an object") { ($0 as? [String: Any]).map { JSONFields($0, path: path + key + ".") } }
    }

    func int(_ key: String) throws -> Int { try required(key, optionalInt(key)) }
    func double(_ key: String) throws -> Double { try required(key, optionalDouble(key)) }
    func string(_ key: String) throws -> String { try required(key, optionalString(key)) }
}
