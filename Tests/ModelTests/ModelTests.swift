import Kernels
import Model
import Testing

@Suite("Model config, layout and initialization")
struct ModelLayoutTests {
    /// GPT-2's parameter count: V·C + P·C + L·(12C² + 13C) + 2C.
    private func gpt2Formula(_ c: ModelConfig) -> Int {
        let C = c.channels
        return c.vocabSize * C + c.maxPositions * C + c.layers * (12 * C * C + 13 * C) + 2 * C
    }

    @Test func layoutIsContiguousAndMatchesTheGPT2Formula() {
        for config in [ModelConfig.gpt2Small, ModelTestKit.tinyConfig] {
            let layout = ParameterLayout(config: config)
            var next = 0
            for tensor in layout.tensors {
                #expect(tensor.offset == next, "\(tensor.name) starts at \(tensor.offset), expected \(next)")
                #expect(tensor.count == tensor.shape.reduce(1, *))
                next += tensor.count
            }
            #expect(next == layout.parameterCount)
            #expect(layout.parameterCount == gpt2Formula(config))
            #expect(layout.tensors.count == 2 + 12 * config.layers + 2)
        }
        #expect(ParameterLayout(config: .gpt2Small).parameterCount == 124_439_808)
    }

    @Test func tensorsHaveGPT2NamesShapesAndDecayFlags() throws {
        let config = ModelConfig.gpt2(vocabSize: 13, maxPositions: 7, layers: 3, heads: 2, channels: 4)
        let model = DecoderModel(config: config, trainable: false, parallel: .serial)
        let expected: [(String, [Int], Bool)] = [
            ("wte", [13, 4], true), ("wpe", [7, 4], true),
            ("h.2.ln_1.weight", [4], false), ("h.2.ln_1.bias", [4], false),
            ("h.2.attn.c_attn.weight", [12, 4], true), ("h.2.attn.c_attn.bias", [12], false),
            ("h.2.attn.c_proj.weight", [4, 4], true), ("h.2.attn.c_proj.bias", [4], false),
            ("h.2.ln_2.weight", [4], false), ("h.2.ln_2.bias", [4], false),
            ("h.2.mlp.c_fc.weight", [16, 4], true), ("h.2.mlp.c_fc.bias", [16], false),
            ("h.2.mlp.c_proj.weight", [4, 16], true), ("h.2.mlp.c_proj.bias", [4], false),
            ("ln_f.weight", [4], false), ("ln_f.bias", [4], false),
        ]
        for (name, shape, decays) in expected {
            let tensor = try #require(model.tensor(named: name), "missing \(name)")
            #expect(tensor.shape == shape, "\(name)")
            #expect(tensor.decays == decays, "\(name)")
        }
        #expect(model.tensor(named: "h.3.ln_1.weight") == nil)
        #expect(model.tensors.first?.name == "wte")
        #expect(model.tensors.last?.name == "ln_f.bias")
        #expect(model.tensors[2].name == "h.0.ln_1.weight")
    }

    /// Llama family: Hugging Face's names without "model.", fused tensors adjacent (q, k, v; gate, up), biases only
    /// where the config has them, lm_head.weight only when untied, no position table.
    @Test func llamaFamilyTensorsHaveHuggingFaceNamesShapesAndOrder() throws {
        let llama = DecoderModel(config: ModelTestKit.tinyLlamaConfig, trainable: false, parallel: .serial)
        let (C, d, I, V) = (12, 4, 10, 11)
        let expected: [(String, [Int], Bool)] = [
            ("embed_tokens.weight", [V, C], true),
            ("layers.1.input_layernorm.weight", [C], false),
            ("layers.1.self_attn.q_proj.weight", [4 * d, C], true), ("layers.1.self_attn.k_proj.weight", [2 * d, C], true),
            ("layers.1.self_attn.v_proj.weight", [2 * d, C], true), ("layers.1.self_attn.o_proj.weight", [C, 4 * d], true),
            ("layers.1.post_attention_layernorm.weight", [C], false),
            ("layers.1.mlp.gate_proj.weight", [I, C], true), ("layers.1.mlp.up_proj.weight", [I, C], true),
            ("layers.1.mlp.down_proj.weight", [C, I], true),
            ("norm.weight", [C], false), ("lm_head.weight", [V, C], true),
        ]
        let blockNames: [String] = expected[1 ..< 10].map { $0.0.replacingOccurrences(of: "layers.1.", with: "") }
        let layerNames: [String] = (0 ..< 2).flatMap { layer in blockNames.map { "layers.\(layer)." + $0 } }
        let expectedOrder: [String] = ["embed_tokens.weight"] + layerNames + ["norm.weight", "lm_head.weight"]
        #expect(llama.tensors.map(\.name) == expectedOrder)
        for (name, shape, decays) in expected {
            let tensor = try #require(llama.tensor(named: name), "missing \(name)")
            #expect(tensor.shape == shape && tensor.decays == decays, "\(name)")
        }
        func adjacent(_ model: DecoderModel, _ names: [String]) -> Bool {
            zip(names, names.dropFirst()).allSatisfy { model.tensor(named: $1)?.offset == model.tensor(named: $0)?.range.upperBound }
        }
        #expect(adjacent(llama, ["q_proj", "k_proj", "v_proj"].map { "layers.0.self_attn.\($0).weight" }))
        #expect(adjacent(llama, ["layers.0.mlp.gate_proj.weight", "layers.0.mlp.up_proj.weight"]))
        #expect(!llama.tensors.contains { $0.name.hasSuffix(".bias") })

        let qwen = DecoderModel(config: ModelTestKit.tinyQwen2Config, trainable: false, parallel: .serial)
        #expect(qwen.tensors.filter { $0.name.hasSuffix(".bias") }.map(\.name)
            == (0 ..< 2).flatMap { layer in ["q_proj", "k_proj", "v_proj"].map { "layers.\(layer).self_attn.\($0).bias" } })
        #expect(adjacent(qwen, ["q_proj", "k_proj", "v_proj"].map { "layers.1.self_attn.\($0).bias" }))

        let biased = DecoderModel(config: ModelTestKit.tinyBiasedLlamaConfig, trainable: false, parallel: .serial)
        #expect(biased.tensor(named: "lm_head.weight") == nil, "a tied head has no tensor of its own")
        for name in ["self_attn.o_proj.bias", "mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"] {
            #expect(biased.tensor(named: "layers.0." + name) != nil, "\(name)")
        }
        #expect(adjacent(biased, ["layers.0.mlp.gate_proj.bias", "layers.0.mlp.up_proj.bias"]))
    }

    /// Llama-family initialization is Hugging Face's: every 2-D weight N(0, 0.02) (no residual scaling), norms 1.
    @Test func llamaInitializationHasHuggingFaceStatistics() throws {
        let config = ModelConfig.llama(vocabSize: 300, maxPositions: 16, layers: 2, heads: 4, keyValueHeads: 2,
                                       channels: 64, intermediateSize: 128, attentionBias: true)
        let model = DecoderModel(config: config, trainable: false, parallel: .serial)
        model.initializeRandomly(seed: 7)
        for name in ["embed_tokens.weight", "layers.1.self_attn.o_proj.weight", "layers.1.mlp.down_proj.weight", "lm_head.weight"] {
            let tensor = try #require(model.tensor(named: name))
            let values = model.parameters[tensor.range].map(Double.init)
            let std = (values.reduce(0) { $0 + $1 * $1 } / Double(values.count)).squareRoot()
            #expect(abs(std / 0.02 - 1) < 0.05, "\(name): std \(std)")
        }
        for tensor in model.tensors where tensor.shape.count == 1 {
            let expected: Float = tensor.name.hasSuffix("norm.weight") ? 1 : 0
            #expect(model.parameters[tensor.range].allSatisfy { $0 == expected }, "\(tensor.name)")
        }
    }

    @Test func buffersAreSixtyFourByteAlignedAndZeroed() {
        let trainable = DecoderModel(config: ModelTestKit.tinyConfig, trainable: true, parallel: .serial)
        #expect(trainable.parameters.count == trainable.parameterCount)
        #expect(trainable.gradients.count == trainable.parameterCount)
        #expect(Int(bitPattern: trainable.parameters.baseAddress) % 64 == 0)
        #expect(Int(bitPattern: trainable.gradients.baseAddress) % 64 == 0)
        #expect(trainable.parameters.allSatisfy { $0 == 0 })
        #expect(trainable.gradients.allSatisfy { $0 == 0 })
        let frozen = DecoderModel(config: ModelTestKit.tinyConfig, trainable: false, parallel: .serial)
        #expect(frozen.gradients.isEmpty)
    }

    @Test func invalidConfigsAreRejectedWithTheField() {
        let bad = ModelConfig.gpt2(vocabSize: 10, maxPositions: 8, layers: 2, heads: 3, channels: 8)
        #expect(throws: ModelError.invalidConfig("channels (8) must be divisible by heads (3)")) { try bad.validate() }
        let zeroLayers = ModelConfig.gpt2(vocabSize: 10, maxPositions: 8, layers: 0, heads: 2, channels: 8)
        #expect(throws: ModelError.self) { try zeroLayers.validate() }
        #expect(throws: Never.self) { try ModelConfig.gpt2Small.validate() }
    }

    @Test func initializationHasGPT2Statistics() throws {
        let config = ModelConfig.gpt2(vocabSize: 500, maxPositions: 64, layers: 4, heads: 4, channels: 64)
        let model = DecoderModel(config: config, trainable: false, parallel: .serial)
        model.initializeRandomly(seed: 42)

        func statistics(_ name: String) throws -> (mean: Double, std: Double) {
            let tensor = try #require(model.tensor(named: name))
            let values = model.parameters[tensor.range].map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            return (mean, variance.squareRoot())
        }
        let projectionStd = 0.02 / (2.0 * 4).squareRoot()
        for (name, std) in [("wte", 0.02), ("wpe", 0.02), ("h.1.attn.c_attn.weight", 0.02), ("h.1.mlp.c_fc.weight", 0.02),
                            ("h.1.attn.c_proj.weight", projectionStd), ("h.3.mlp.c_proj.weight", projectionStd)] {
            let measured = try statistics(name)
            #expect(abs(measured.std / std - 1) < 0.05, "\(name): std \(measured.std), expected \(std)")
            #expect(abs(measured.mean) < 0.1 * std, "\(name): mean \(measured.mean)")
        }
        for name in ["h.0.ln_1.weight", "h.2.ln_2.weight", "ln_f.weight"] {
            let tensor = try #require(model.tensor(named: name))
            #expect(model.parameters[tensor.range].allSatisfy { $0 == 1 }, "\(name)")
        }
        for tensor in model.tensors where tensor.name.hasSuffix(".bias") {
            #expect(model.parameters[tensor.range].allSatisfy { $0 == 0 }, "\(tensor.name)")
        }

        let again = DecoderModel(config: config, trainable: false, parallel: .serial)
        again.initializeRandomly(seed: 42)
        #expect(Array(again.parameters) == Array(model.parameters))
        again.initializeRandomly(seed: 43)
        #expect(Array(again.parameters) != Array(model.parameters))
    }

    @Test func copyParametersMakesAnIdenticalSnapshot() {
        let policy = ModelTestKit.randomizedModel(ModelTestKit.tinyConfig, seed: 5)
        let reference = DecoderModel(config: ModelTestKit.tinyConfig, trainable: false, parallel: .serial)
        reference.copyParameters(from: policy)
        #expect(Array(reference.parameters) == Array(policy.parameters))
    }

    /// A frozen model over someone else's buffer reads exactly those weights (the scores equal a model holding a copy),
    /// sees later changes to them, and frees nothing when it goes.
    @Test func modelOverSharedParametersScoresWithTheOwnersWeights() {
        let config = ModelTestKit.tinyConfig
        let owned = ModelTestKit.randomizedModel(config, seed: 9, trainable: false)
        final class Owner {
            let storage = UnsafeMutableRawPointer.allocate(byteCount: 4 * ParameterLayout(config: ModelTestKit.tinyConfig).parameterCount,
                                                           alignment: 64)
            deinit { storage.deallocate() }
        }
        let owner = Owner()
        let floats = UnsafeMutableBufferPointer(start: owner.storage.bindMemory(to: Float.self, capacity: owned.parameterCount),
                                                count: owned.parameterCount)
        _ = floats.initialize(from: owned.parameters)
        let shared = DecoderModel(config: config, sharedParameters: floats, owner: owner, parallel: .serial)
        #expect(shared.hasSharedParameters && !owned.hasSharedParameters && !shared.trainable)
        #expect(shared.parameters.baseAddress == floats.baseAddress)
        let batch = ModelTestKit.batch(length: 6, promptLengths: [2, 1], completionLengths: [3, 4], vocab: config.vocabSize, seed: 1)
        #expect(shared.score(batch, training: false).logProbSums == owned.score(batch, training: false).logProbSums)
        floats[0] += 1
        #expect(shared.parameters[0] == owned.parameters[0] + 1)
    }
}
