import Foundation
import JSON

/// Reading and writing Hugging Face `config.json`.
///
/// The family comes from "architectures"[0] (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM,
/// MistralForCausalLM), else from "model_type" (gpt2, llama, qwen2, mistral; SmolLM and SmolLM2 checkpoints are
/// "llama"). Keys that define the shape are required; optional ones take transformers' defaults, and JSON null counts
/// as absent. Both rotary spellings are read: transformers 4's "rope_theta" + "rope_scaling" and transformers 5's
/// "rope_parameters". A missing key or one of the wrong type is a `JSONError` naming the file and the key; a value
/// the model cannot take is a `ModelError`.
extension ModelConfig {
    /// From the text of config.json; `file` names it in errors.
    public init(huggingFaceConfig data: Data, file: String = "config.json") throws {
        try self.init(huggingFaceConfig: try JSONField.parse(data, file: file))
    }

    /// From config.json's parsed document.
    public init(huggingFaceConfig fields: JSONField) throws {
        let architecture = try Self.architecture(fields)
        switch architecture {
        case .gpt2: self = try Self.gpt2(fields)
        case .llama, .qwen2, .mistral: self = try Self.llamaFamily(architecture, fields)
        }
        try validate()
    }

    private static func architecture(_ fields: JSONField) throws -> ModelArchitecture {
        if let classes = try fields.optional("architectures") {
            guard let name = try classes.array().first?.string() else {
                throw ModelError.invalidConfigValue(key: classes.path, expected: "a non-empty list of class names",
                                                    found: classes.value.serialized())
            }
            guard let architecture = ModelArchitecture.allCases.first(where: { $0.huggingFaceClass == name }) else {
                throw ModelError.unsupportedArchitecture(name)
            }
            return architecture
        }
        let modelType = try fields.required("model_type").string()
        guard let architecture = ModelArchitecture(rawValue: modelType) else {
            throw ModelError.unsupportedArchitecture(modelType)
        }
        return architecture
    }

    private static func gpt2(_ fields: JSONField) throws -> ModelConfig {
        let activation = try fields.optional("activation_function")?.string() ?? "gelu_new"
        // Both names are GELU's tanh approximation.
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw ModelError.unsupportedConfigValue(key: "activation_function", value: activation)
        }
        if try fields.optional("scale_attn_weights")?.bool() == false {
            throw ModelError.unsupportedConfigValue(key: "scale_attn_weights", value: "false")
        }
        if try fields.optional("scale_attn_by_inverse_layer_idx")?.bool() == true {
            throw ModelError.unsupportedConfigValue(key: "scale_attn_by_inverse_layer_idx", value: "true")
        }
        var config = ModelConfig.gpt2(
            vocabSize: try fields.required("vocab_size").int(), maxPositions: try fields.required("n_positions").int(),
            layers: try fields.required("n_layer").int(), heads: try fields.required("n_head").int(),
            channels: try fields.required("n_embd").int(),
            layerNormEpsilon: Float(try fields.optional("layer_norm_epsilon")?.double() ?? 1e-5),
            intermediateSize: try fields.optional("n_inner")?.int())
        config.tiedEmbeddings = try fields.optional("tie_word_embeddings")?.bool() ?? true
        return config
    }

    private static func llamaFamily(_ architecture: ModelArchitecture, _ fields: JSONField) throws -> ModelConfig {
        let activation = try fields.optional("hidden_act")?.string() ?? "silu"
        guard activation == "silu" else { throw ModelError.unsupportedConfigValue(key: "hidden_act", value: activation) }
        let (channels, heads) = (try fields.required("hidden_size").int(), try fields.required("num_attention_heads").int())
        let headSize: Int
        if let explicit = try fields.optional("head_dim")?.int() {
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
            if try fields.optional("use_sliding_window")?.bool() == true {
                throw ModelError.unsupportedConfigValue(key: "use_sliding_window", value: "true")
            }
            let layerTypes = try fields.optional("layer_types")?.array().map { try $0.string() } ?? []
            if let sliding = layerTypes.first(where: { $0 != "full_attention" }) {
                throw ModelError.unsupportedConfigValue(key: "layer_types", value: sliding)
            }
        case .mistral:
            (attentionBias, attentionOutputBias, mlpBias) = (false, false, false)
            slidingWindow = try fields.optional("sliding_window")?.int()
        default:
            attentionBias = try fields.optional("attention_bias")?.bool() ?? false
            (attentionOutputBias, mlpBias) = (attentionBias, try fields.optional("mlp_bias")?.bool() ?? false)
        }
        return ModelConfig(
            architecture: architecture, vocabSize: try fields.required("vocab_size").int(),
            maxPositions: try fields.required("max_position_embeddings").int(),
            layers: try fields.required("num_hidden_layers").int(), heads: heads,
            keyValueHeads: try fields.optional("num_key_value_heads")?.int() ?? heads, channels: channels,
            headSize: headSize, intermediateSize: try fields.required("intermediate_size").int(),
            normEpsilon: Float(try fields.optional("rms_norm_eps")?.double() ?? 1e-6), ropeTheta: ropeTheta,
            ropeScaling: ropeScaling, attentionBias: attentionBias, attentionOutputBias: attentionOutputBias,
            mlpBias: mlpBias, tiedEmbeddings: try fields.optional("tie_word_embeddings")?.bool() ?? false,
            slidingWindow: slidingWindow)
    }

    /// θ and the llama3 scaling from "rope_parameters" (transformers 5) or "rope_theta" + "rope_scaling".
    private static func rotary(_ fields: JSONField) throws -> (theta: Double, scaling: Llama3RopeScaling?) {
        let parameters: JSONField?, theta: Double
        if let modern = try fields.optional("rope_parameters") {
            parameters = modern
            theta = try modern.optional("rope_theta")?.double() ?? 10_000
        } else {
            parameters = try fields.optional("rope_scaling")
            theta = try fields.optional("rope_theta")?.double() ?? 10_000
        }
        guard let parameters, let type = try parameters.optional("rope_type") ?? parameters.optional("type") else {
            return (theta, nil)
        }
        switch try type.string() {
        case "default":
            return (theta, nil)
        case "llama3":
            return (theta, Llama3RopeScaling(
                factor: try parameters.required("factor").double(),
                lowFrequencyFactor: try parameters.required("low_freq_factor").double(),
                highFrequencyFactor: try parameters.required("high_freq_factor").double(),
                originalMaxPositions: try parameters.required("original_max_position_embeddings").int()))
        case let other:
            throw ModelError.unsupportedConfigValue(key: type.path, value: other)
        }
    }

    /// config.json's object for this config (transformers' keys; both rotary spellings, so transformers 4 and 5 read
    /// the same θ and scaling). Token ids are the caller's to add.
    public func huggingFaceConfig() -> JSONObject {
        var json: JSONObject = [
            "architectures": .array([.string(architecture.huggingFaceClass)]), "model_type": .string(architecture.rawValue),
            "vocab_size": .integer(vocabSize), "tie_word_embeddings": .bool(tiedEmbeddings), "torch_dtype": "float32",
        ]
        switch architecture {
        case .gpt2:
            json.merge([
                "n_positions": .integer(maxPositions), "n_embd": .integer(channels), "n_layer": .integer(layers),
                "n_head": .integer(heads), "n_inner": intermediateSize == 4 * channels ? .null : .integer(intermediateSize),
                "layer_norm_epsilon": .double(Double(normEpsilon)), "activation_function": "gelu_new",
                "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            ])
        case .llama, .qwen2, .mistral:
            var ropeScaling: JSONObject = ["rope_type": "default"]
            if let scaling = self.ropeScaling {
                ropeScaling = [
                    "rope_type": "llama3", "factor": .double(scaling.factor),
                    "low_freq_factor": .double(scaling.lowFrequencyFactor),
                    "high_freq_factor": .double(scaling.highFrequencyFactor),
                    "original_max_position_embeddings": .integer(scaling.originalMaxPositions),
                ]
            }
            var ropeParameters = ropeScaling
            ropeParameters["rope_theta"] = .double(ropeTheta)
            json.merge([
                "hidden_size": .integer(channels), "intermediate_size": .integer(intermediateSize),
                "num_hidden_layers": .integer(layers), "num_attention_heads": .integer(heads),
                "num_key_value_heads": .integer(keyValueHeads), "head_dim": .integer(headSize),
                "max_position_embeddings": .integer(maxPositions), "rms_norm_eps": .double(Double(normEpsilon)),
                "hidden_act": "silu", "rope_theta": .double(ropeTheta),
                "rope_scaling": self.ropeScaling == nil ? .null : .object(ropeScaling),
                "rope_parameters": .object(ropeParameters), "attention_dropout": 0.0,
            ])
        }
        switch architecture {
        case .llama: json.merge(["attention_bias": .bool(attentionBias), "mlp_bias": .bool(mlpBias)])
        case .qwen2: json.merge(["use_sliding_window": false, "sliding_window": .null])
        case .mistral: json["sliding_window"] = slidingWindow.map { .integer($0) } ?? .null
        case .gpt2: break
        }
        return json
    }

    /// `huggingFaceConfig()` plus `extra` keys (e.g. token ids) as transformers writes config.json: two-space
    /// indentation, sorted keys, a final newline.
    public func huggingFaceConfigJSON(adding extra: JSONObject = [:]) -> Data {
        var json = huggingFaceConfig()
        json.merge(extra)
        return Data((JSONValue.object(json).serialized(.indentedSorted) + "\n").utf8)
    }
}
