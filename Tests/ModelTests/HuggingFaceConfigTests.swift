import Foundation
import JSON
import Kernels
import Model
import Testing

@Suite("Hugging Face config.json")
struct HuggingFaceConfigTests {
    typealias Kit = ModelTestKit

    private func parse(_ json: String) throws -> ModelConfig {
        try ModelConfig(huggingFaceConfig: Data(json.utf8))
    }

    /// config.json of HuggingFaceTB/SmolLM2-135M (a Llama; transformers 4 spelling), trimmed to the model's keys.
    static let smolLM2 = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152, "hidden_size": 576,
         "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
         "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 100000, "rope_scaling": null,
         "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "tie_word_embeddings": true,
         "pretraining_tp": 1, "torch_dtype": "bfloat16"}
        """
    /// Qwen/Qwen2.5-0.5B.
    static let qwen25 = """
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
         "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
         "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
         "use_sliding_window": false, "max_window_layers": 24, "hidden_act": "silu", "tie_word_embeddings": true}
        """
    /// meta-llama/Llama-3.2-1B, with its llama3 rope scaling and explicit head_dim.
    static let llama32 = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
         "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
         "head_dim": 64, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "tie_word_embeddings": true}
        """

    /// The published parameter counts of real checkpoints follow from their config.json and our layout.
    @Test func realConfigsGiveThePublishedParameterCounts() throws {
        let smol = try parse(Self.smolLM2)
        #expect(smol.architecture == .llama && smol.keyValueHeads == 3 && smol.headSize == 64 && smol.tiedEmbeddings)
        #expect(smol.ropeTheta == 100_000 && smol.ropeScaling == nil && smol.normEpsilon == 1e-5)
        #expect(ParameterLayout(config: smol).parameterCount == 134_515_008)

        let qwen = try parse(Self.qwen25)
        #expect(qwen.architecture == .qwen2 && qwen.attentionBias && !qwen.attentionOutputBias && !qwen.mlpBias)
        #expect(qwen.slidingWindow == nil, "use_sliding_window false: the window is not used")
        #expect(ParameterLayout(config: qwen).parameterCount == 494_032_768)

        let llama = try parse(Self.llama32)
        #expect(llama.ropeScaling == Llama3RopeScaling(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                       originalMaxPositions: 8192))
        #expect(llama.headSize == 64 && llama.keyValueHeads == 8)
        #expect(ParameterLayout(config: llama).parameterCount == 1_235_814_400)
    }

    /// The fixtures' config.json files were written by transformers 5 ("rope_parameters").
    @Test func transformersWrittenConfigsParse() throws {
        let llama = try ModelConfig(huggingFaceConfig: ParityFixtures(prefix: "llama_tiny").configJSON())
        #expect(llama == ModelConfig.llama(
            vocabSize: 61, maxPositions: 128, layers: 2, heads: 4, keyValueHeads: 2, channels: 24, intermediateSize: 40,
            headSize: 8, rmsNormEpsilon: 1e-5, ropeTheta: 500,
            ropeScaling: Llama3RopeScaling(factor: 4, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 64)))
        let qwen = try ModelConfig(huggingFaceConfig: ParityFixtures(prefix: "qwen2_tiny").configJSON())
        #expect(qwen == ModelConfig.qwen2(vocabSize: 61, maxPositions: 64, layers: 2, heads: 6, keyValueHeads: 2,
                                          channels: 24, intermediateSize: 36, tiedEmbeddings: true))
        let gpt2 = try ModelConfig(huggingFaceConfig: ParityFixtures(prefix: "gpt2_tiny").configJSON())
        #expect(gpt2 == ModelConfig.gpt2(vocabSize: 61, maxPositions: 24, layers: 2, heads: 4, channels: 16))
    }

    static let mistral: ModelConfig = {
        var config = ModelConfig.llama(vocabSize: 11, maxPositions: 32, layers: 1, heads: 4, keyValueHeads: 1,
                                       channels: 8, intermediateSize: 6)
        config.architecture = .mistral
        config.slidingWindow = 5
        return config
    }()

    static let roundTripConfigs = Kit.tinyConfigs + [
        mistral, .gpt2(vocabSize: 7, maxPositions: 5, layers: 1, heads: 1, channels: 4, intermediateSize: 6),
    ]

    @Test(arguments: Self.roundTripConfigs.indices)
    func configJSONRoundTrips(configIndex: Int) throws {
        let config = Self.roundTripConfigs[configIndex]
        let json = config.huggingFaceConfigJSON(adding: ["eos_token_id": 3])
        #expect(try ModelConfig(huggingFaceConfig: json) == config)
        #expect(try ModelConfig(huggingFaceConfig: JSONField(.object(config.huggingFaceConfig()), file: "config.json")) == config)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(object["architectures"] as? [String] == [config.architecture.huggingFaceClass])
        #expect(object["eos_token_id"] as? Int == 3)
    }

    /// transformers 4 writes "rope_theta" + "rope_scaling", transformers 5 "rope_parameters"; both mean the same.
    @Test func bothRotarySpellingsAgree() throws {
        let modern = Self.llama32
            .replacingOccurrences(of: #""rope_theta": 500000.0,"#, with: "")
            .replacingOccurrences(of: #""rope_scaling": {"#, with: #""rope_parameters": {"rope_theta": 500000.0, "#)
        #expect(modern != Self.llama32)
        #expect(try parse(modern) == parse(Self.llama32))
    }

    @Test func theFactoryBuildsTheFamilyAndRejectsUnknownArchitecturesByName() throws {
        let model = try makeCausalLanguageModel(huggingFaceConfig: Kit.tinyQwen2Config.huggingFaceConfigJSON(),
                                                trainable: false, parallel: .serial)
        #expect(model.config == Kit.tinyQwen2Config)
        #expect(model.tensor(named: "layers.1.self_attn.k_proj.bias")?.shape == [1 * 2], "one key/value head of size 2")

        let gemma = #"{"architectures": ["GemmaForCausalLM"], "model_type": "gemma", "hidden_size": 8}"#
        #expect(throws: ModelError.unsupportedArchitecture("GemmaForCausalLM")) {
            try makeCausalLanguageModel(huggingFaceConfig: Data(gemma.utf8), trainable: false, parallel: .serial)
        }
        #expect("\(ModelError.unsupportedArchitecture("GemmaForCausalLM"))".contains("'GemmaForCausalLM' is not supported"))
        #expect(throws: ModelError.unsupportedArchitecture("falcon")) { try parse(#"{"model_type": "falcon"}"#) }
        #expect(throws: JSONError(file: "config.json", path: "model_type", problem: .missingKey)) {
            try parse(#"{"hidden_size": 8}"#)
        }
    }

    @Test func badOrUnsupportedKeysAreNamed() throws {
        func variant(_ from: String, _ to: String) -> String {
            let changed = Self.smolLM2.replacingOccurrences(of: from, with: to)
            precondition(changed != Self.smolLM2, "\(from) not in the config")
            return changed
        }
        #expect(throws: JSONError(file: "config.json", path: "intermediate_size", problem: .missingKey)) {
            try parse(variant(#""intermediate_size": 1536,"#, ""))
        }
        #expect(throws: JSONError(file: "config.json", path: "hidden_size",
                                  problem: .wrongType(expected: "an integer", found: "a string"))) {
            try parse(variant(#""hidden_size": 576"#, #""hidden_size": "576""#))
        }
        #expect(throws: JSONError(file: "config.json", path: "tie_word_embeddings",
                                  problem: .wrongType(expected: "a boolean", found: "a number"))) {
            try parse(variant(#""tie_word_embeddings": true"#, #""tie_word_embeddings": 1"#))
        }
        #expect(throws: ModelError.unsupportedConfigValue(key: "rope_scaling.rope_type", value: "yarn")) {
            try parse(variant(#""rope_scaling": null"#, #""rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#))
        }
        #expect(throws: ModelError.unsupportedConfigValue(key: "rope_scaling.type", value: "dynamic")) {
            try parse(variant(#""rope_scaling": null"#, #""rope_scaling": {"type": "dynamic", "factor": 2.0}"#))
        }
        #expect(throws: JSONError(file: "config.json", path: "rope_scaling.low_freq_factor", problem: .missingKey)) {
            try parse(variant(#""rope_scaling": null"#,
                              #""rope_scaling": {"rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#))
        }
        #expect(throws: ModelError.unsupportedConfigValue(key: "hidden_act", value: "gelu")) {
            try parse(variant(#""hidden_act": "silu""#, #""hidden_act": "gelu""#))
        }
        #expect(throws: ModelError.unsupportedConfigValue(key: "use_sliding_window", value: "true")) {
            try parse(Self.qwen25.replacingOccurrences(of: #""use_sliding_window": false"#, with: #""use_sliding_window": true"#))
        }
        #expect(throws: ModelError.invalidConfig("heads (9) must be a multiple of keyValueHeads (2)")) {
            try parse(variant(#""num_key_value_heads": 3"#, #""num_key_value_heads": 2"#))
        }
        #expect(throws: JSONError(file: "config.json", problem: .wrongType(expected: "an object", found: "an array"))) {
            try parse("[1, 2]")
        }
    }

    /// Mistral's sliding window is not implemented as a window: sequences longer than it are rejected instead.
    @Test func sequencesLongerThanTheSlidingWindowAreRejected() throws {
        let fits = SequenceBatch(count: 1, length: 5, tokens: [1, 2, 3, 4, 5], scoreMask: [0, 1, 1, 1, 1])
        #expect(throws: Never.self) { try fits.validate(for: Self.mistral) }
        let tooLong = SequenceBatch(count: 1, length: 6, tokens: [1, 2, 3, 4, 5, 6], scoreMask: [0, 1, 1, 1, 1, 1])
        #expect(throws: ModelError.invalidBatch("length 6 exceeds the sliding attention window of 5 positions")) {
            try tooLong.validate(for: Self.mistral)
        }
    }
}
