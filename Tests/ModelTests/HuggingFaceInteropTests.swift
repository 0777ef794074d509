import Model
import Testing

@Suite("Hugging Face tensor interop")
struct HuggingFaceInteropTests {
    typealias Kit = ModelTestKit
    typealias Tensors = [String: (shape: [Int], values: [Float])]

    private func exported(_ model: DecoderModel) -> Tensors {
        var tensors: Tensors = [:]
        for tensor in model.huggingFaceTensors(from: UnsafeBufferPointer(model.parameters)) {
            tensors[tensor.name] = (tensor.shape, tensor.values)
        }
        return tensors
    }

    @Test func exportUsesHuggingFaceNamesAndConv1DLayout() throws {
        let model = Kit.randomizedModel(Kit.tinyConfig, seed: 1)
        let tensors = exported(model)
        #expect(tensors.count == model.tensors.count)
        #expect(tensors["lm_head.weight"] == nil)
        #expect(tensors["transformer.wte.weight"]?.shape == [11, 8])
        #expect(tensors["transformer.wpe.weight"]?.shape == [6, 8])
        #expect(tensors["transformer.ln_f.bias"]?.shape == [8])

        // Conv1D: Hugging Face [in, out][i, o] == ours [out, in][o, i].
        let hf = try #require(tensors["transformer.h.1.mlp.c_fc.weight"])
        #expect(hf.shape == [8, 32])
        let ours = try #require(model.tensor(named: "h.1.mlp.c_fc.weight"))
        for (o, i) in [(0, 0), (31, 7), (5, 2), (17, 6)] {
            #expect(hf.values[i * 32 + o] == model.parameters[ours.offset + o * 8 + i])
        }
        let wte = try #require(model.tensor(named: "wte"))
        #expect(tensors["transformer.wte.weight"]?.values == Array(model.parameters[wte.range]))
    }

    @Test func exportThenImportRoundTrips() throws {
        let source = Kit.randomizedModel(Kit.tinyConfig, seed: 2)
        let tensors = exported(source)
        let target = DecoderModel(config: Kit.tinyConfig, trainable: false, parallel: .serial)
        try target.loadHuggingFaceTensors(into: target.parameters) { tensors[$0] }
        #expect(Array(target.parameters) == Array(source.parameters))

        // GPT2Model checkpoints name tensors without "transformer."; a tied "lm_head.weight" may be present and is ignored.
        var unprefixed: Tensors = ["lm_head.weight": ([11, 8], Array(repeating: 99, count: 88))]
        for (name, tensor) in tensors { unprefixed[String(name.dropFirst("transformer.".count))] = tensor }
        let other = DecoderModel(config: Kit.tinyConfig, trainable: true, parallel: .serial)
        try other.loadHuggingFaceTensors(into: other.parameters) { unprefixed[$0] }
        #expect(Array(other.parameters) == Array(source.parameters))

        // Gradients export in the same layout.
        let batch = Kit.batch(length: 6, promptLengths: [2], completionLengths: [4], vocab: 11, seed: 3)
        _ = other.score(batch, training: true)
        other.backward(dLogProbSums: [1])
        let gradients = other.huggingFaceTensors(from: UnsafeBufferPointer(other.gradients))
        let target2 = DecoderModel(config: Kit.tinyConfig, trainable: false, parallel: .serial)
        try target2.loadHuggingFaceTensors(into: target2.parameters) { name in
            gradients.first { $0.name == name }.map { ($0.shape, $0.values) }
        }
        #expect(Array(target2.parameters) == Array(other.gradients))
    }

    @Test func missingOrMisshapenTensorsAreNamed() {
        let source = Kit.randomizedModel(Kit.tinyConfig, seed: 2)
        var tensors = exported(source)
        let target = DecoderModel(config: Kit.tinyConfig, trainable: false, parallel: .serial)

        tensors["transformer.h.1.attn.c_proj.bias"] = nil
        #expect(throws: ModelError.missingTensor(name: "transformer.h.1.attn.c_proj.bias")) {
            try target.loadHuggingFaceTensors(into: target.parameters) { tensors[$0] }
        }
        tensors = exported(source)
        // Our [out, in] layout where Hugging Face expects [in, out].
        tensors["transformer.h.0.attn.c_attn.weight"]!.shape = [24, 8]
        #expect(throws: ModelError.shapeMismatch(name: "transformer.h.0.attn.c_attn.weight", expected: [8, 24], found: [24, 8])) {
            try target.loadHuggingFaceTensors(into: target.parameters) { tensors[$0] }
        }
        tensors = exported(source)
        tensors["transformer.ln_f.weight"]!.values.removeLast()
        #expect(throws: ModelError.valueCountMismatch(name: "transformer.ln_f.weight", expected: 8, found: 7)) {
            try target.loadHuggingFaceTensors(into: target.parameters) { tensors[$0] }
        }
        let wrongBuffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        defer { wrongBuffer.deallocate() }
        #expect(throws: ModelError.bufferSizeMismatch(expected: target.parameterCount, found: 3)) {
            try target.loadHuggingFaceTensors(into: wrongBuffer) { tensors[$0] }
        }
    }

    /// Llama-family tensors keep nn.Linear's [out, in] layout under "model."; an untied head is "lm_head.weight".
    @Test(arguments: [Kit.tinyLlamaConfig, Kit.tinyQwen2Config, Kit.tinyBiasedLlamaConfig])
    func llamaFamilyExportUsesHuggingFaceNamesAndRoundTrips(config: ModelConfig) throws {
        let source = Kit.randomizedModel(config, seed: 4)
        let tensors = exported(source)
        #expect(tensors.count == source.tensors.count)
        #expect((tensors["lm_head.weight"] != nil) == !config.tiedEmbeddings)
        #expect(tensors["model.embed_tokens.weight"]?.shape == [config.vocabSize, config.channels])
        let q = try #require(tensors["model.layers.1.self_attn.q_proj.weight"])
        #expect(q.shape == [config.heads * config.headSize, config.channels])
        let ours = try #require(source.tensor(named: "layers.1.self_attn.q_proj.weight"))
        #expect(q.values == Array(source.parameters[ours.range]))

        let target = DecoderModel(config: config, trainable: false, parallel: .serial)
        try target.loadHuggingFaceTensors(into: target.parameters) { tensors[$0] }
        #expect(Array(target.parameters) == Array(source.parameters))

        var missing = tensors
        missing["model.layers.1.mlp.up_proj.weight"] = nil
        #expect(throws: ModelError.missingTensor(name: "model.layers.1.mlp.up_proj.weight")) {
            try target.loadHuggingFaceTensors(into: target.parameters) { missing[$0] }
        }
    }
}
