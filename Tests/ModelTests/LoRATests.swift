import Kernels
import Model
import SeededRandom
import Testing

/// LoRA adapters on the decoder: which modules they target, the low-rank path in forward and backward, the frozen base
/// as the reference, merging, and PEFT's tensor names.
@Suite("LoRA adapters (every family)")
struct LoRATests {
    typealias Kit = ModelTestKit

    /// Per tiny family: modules to train in full besides the adapters (an untied head and a norm; Qwen2's q, k and v
    /// together, with their biases).
    static let modulesToSave: [[String]] = [["ln_1"], ["lm_head", "input_layernorm"], ["q_proj", "k_proj", "v_proj"], ["norm"]]

    /// A randomized base (frozen) with all-linear adapters whose lora_B is random too, so every path matters.
    private func adaptedModel(_ configIndex: Int, dropout: Double = 0, save: Bool = true,
                              parallel: Parallel = .serial) throws -> (DecoderModel, LoRAAdapters) {
        let model = Kit.randomizedModel(Kit.tinyConfigs[configIndex], seed: 21, trainable: false, parallel: parallel)
        let adapters = try model.attachAdapters(
            LoRAConfig(rank: 3, alpha: 5, dropout: dropout, targets: .allLinear,
                       modulesToSave: save ? Self.modulesToSave[configIndex] : [], useRSLoRA: configIndex == 1),
            seed: 7)
        var random = Kit.Random(seed: 5)
        for index in adapters.parameters.indices { adapters.parameters[index] += random.uniform(-0.2, 0.2) }
        return (model, adapters)
    }

    private func batch(vocab: Int) -> SequenceBatch {
        Kit.batch(length: 6, promptLengths: [1, 3, 2], completionLengths: [5, 2, 3], vocab: vocab, seed: 17)
    }

    @Test func targetsResolveAsPEFTDoes() throws {
        func targets(_ config: ModelConfig, _ targets: LoRAConfig.Targets, save: [String] = []) throws -> [String] {
            let model = DecoderModel(config: config, trainable: false, parallel: .serial)
            return try model.attachAdapters(LoRAConfig(targets: targets, modulesToSave: save), seed: 1).layout.targetModules
        }
        let llama = Kit.tinyLlamaConfig, gpt2 = Kit.tinyConfig
        #expect(try targets(llama, .familyDefault) == ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                                      "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        #expect(try targets(gpt2, .familyDefault) == ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"])
        #expect(try targets(llama, .allLinear).count == 14)
        #expect(try targets(gpt2, .allLinear) == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                                                 "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj",
                                                 "transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj",
                                                 "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"])
        #expect(try targets(llama, .pattern(".*\\.1\\..*(up|down)_proj")) == ["model.layers.1.mlp.up_proj",
                                                                             "model.layers.1.mlp.down_proj"])
        #expect(try targets(llama, .names(["o_proj", "layers.0.mlp.gate_proj"])) == [
            "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_proj", "model.layers.1.self_attn.o_proj"])
        // A module to save is never adapted.
        #expect(try targets(gpt2, .allLinear, save: ["c_proj"]) == ["transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_fc",
                                                                    "transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_fc"])
        // One name is a regular expression over the whole module name, as TRL hands it to PEFT.
        #expect(throws: LoRAError.self) { try targets(llama, .pattern("q_proj")) }
        #expect(throws: LoRAError.unsupportedTarget(module: "lm_head", reason: "dpo-dist adapts the Linear layers of the "
                                                    + "blocks only; train it in full with lora_modules_to_save")) {
            try targets(llama, .names(["q_proj", "lm_head"]))
        }
        #expect(throws: LoRAError.self) { try targets(llama, .names(["input_layernorm", "q_proj"])) }
        #expect(throws: LoRAError.self) { try targets(llama, .allLinear, save: ["q_proj"]) }
        #expect(throws: LoRAError.self) { try targets(gpt2, .allLinear, save: ["lm_head"]) }
        #expect(throws: LoRAError.self) { try targets(llama, .allLinear, save: ["no_such_module"]) }
        #expect(throws: LoRAError.self) { try LoRAConfig(rank: 0).validate() }
    }

    @Test func adapterTensorsHavePEFTNamesShapesAndBaseOrder() throws {
        let model = DecoderModel(config: Kit.tinyLlamaConfig, trainable: false, parallel: .serial)
        let adapters = try model.attachAdapters(LoRAConfig(rank: 2, targets: .names(["k_proj", "down_proj"]),
                                                           modulesToSave: ["lm_head", "post_attention_layernorm"]), seed: 1)
        let layer0 = adapters.layout.tensors.prefix(5).map { "\($0.name) \($0.shape) \($0.decays)" }
        #expect(layer0 == [
            "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight [2, 12] true",
            "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight [8, 2] true",
            "base_model.model.model.layers.0.post_attention_layernorm.weight [12] false",
            "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight [2, 10] true",
            "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight [12, 2] true",
        ])
        #expect(adapters.layout.tensors.last?.name == "base_model.model.lm_head.weight")
        #expect(adapters.layout.savedModules == ["model.layers.0.post_attention_layernorm",
                                                 "model.layers.1.post_attention_layernorm", "lm_head"])
        #expect(model.trainableParameters.count == adapters.layout.parameterCount)
        #expect(adapters.layout.parameterCount == 2 * (2 * 12 + 8 * 2 + 12 + 2 * 10 + 12 * 2) + 11 * 12)
    }

    /// lora_B starts at zero: the adapted model is the base, bit for bit; PEFT's kaiming-uniform lora_A is in range.
    @Test(arguments: Kit.tinyConfigs.indices)
    func freshAdaptersLeaveTheModelUnchanged(configIndex: Int) throws {
        let model = Kit.randomizedModel(Kit.tinyConfigs[configIndex], seed: 3, trainable: false)
        let batch = batch(vocab: model.config.vocabSize)
        let before = model.logits(batch)
        let adapters = try model.attachAdapters(LoRAConfig(targets: .allLinear, modulesToSave: Self.modulesToSave[configIndex]),
                                                seed: 9)
        #expect(model.logits(batch) == before)
        for segment in adapters.layout.tensors where segment.name.hasSuffix("lora_A.weight") {
            let bound = 1 / Float(segment.shape[1]).squareRoot()
            let values = adapters.parameters[segment.range]
            #expect(values.allSatisfy { abs($0) <= bound } && values.contains { $0 != 0 })
        }
    }

    /// The adapted model equals the base with the adapters merged into its weights; disabled adapters are the base;
    /// the initial copy keeps the starting adapters while the trained ones move.
    @Test(arguments: Kit.tinyConfigs.indices)
    func adaptedForwardEqualsTheMergedModelAndSelectionsSwitchIt(configIndex: Int) throws {
        let (model, adapters) = try adaptedModel(configIndex)
        let batch = batch(vocab: model.config.vocabSize)
        let base = DecoderModel(config: model.config, trainable: false, parallel: .serial)
        base.copyParameters(from: model)
        let adapted = model.logits(batch)
        #expect(Kit.relativeError(adapted, base.logits(batch)) > 1e-2)
        #expect(adapters.with(.disabled) { model.logits(batch) } == base.logits(batch))

        adapters.keepInitialAsReference()
        let trained = Array(adapters.parameters)
        for index in adapters.parameters.indices { adapters.parameters[index] *= 0.5 }
        #expect(adapters.referenceSelection == .initial)
        #expect(adapters.with(.initial) { model.logits(batch) } == adapted)
        #expect(Kit.relativeError(model.logits(batch), adapted) > 1e-3)

        _ = adapters.parameters.update(fromContentsOf: trained)
        model.mergeAndUnload()
        #expect(model.adapters == nil)
        #expect(Kit.relativeError(model.logits(batch), adapted) < 1e-5)
    }

    /// f = Σ w_i · tokenLogProbs[i]; central differences over every adapter tensor and saved copy, as
    /// GradientCheckTests does for the base; the base gets no gradient buffer at all.
    @Test(arguments: Kit.tinyConfigs.indices, [0.0, 0.3])
    func adapterGradientsMatchCentralDifferences(configIndex: Int, dropout: Double) throws {
        let (model, adapters) = try adaptedModel(configIndex, dropout: dropout)
        adapters.dropoutKey = 1234
        let batch = batch(vocab: model.config.vocabSize)
        let weights: [Float] = [0.9, -0.2, 1.1, 0.4, -1.3, -0.6, 0.8, 1.4, 0.3, -0.5]
        // The training forward drops inputs; the objective below must see the same masks, so it trains too.
        func objective() -> Double {
            zip(model.score(batch, training: true).tokenLogProbs, weights).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = model.score(batch, training: true)
        model.zeroGradients()
        model.backward(dTokenLogProbs: weights, gradientsReady: nil)
        let analytic = Array(adapters.gradients)
        #expect(model.gradients.isEmpty)

        Kit.expectCentralDifferencesMatch(analytic, tensors: adapters.layout.tensors, parameters: adapters.parameters,
                                          samplesPerTensor: 12, label: "\(model.config.architecture) dropout \(dropout)",
                                          objective: objective)
    }

    /// Dropout draws other masks for another key, and none at all outside training forwards.
    @Test func dropoutDependsOnTheKeyAndOnlyActsInTraining() throws {
        let (model, adapters) = try adaptedModel(1, dropout: 0.5)
        let batch = batch(vocab: model.config.vocabSize)
        let inference = model.score(batch, training: false).tokenLogProbs
        #expect(model.score(batch, training: false).tokenLogProbs == inference)
        adapters.dropoutKey = 1
        let first = model.score(batch, training: true).tokenLogProbs
        #expect(model.score(batch, training: true).tokenLogProbs == first)
        adapters.dropoutKey = 2
        #expect(model.score(batch, training: true).tokenLogProbs != first)
        #expect(first != inference)
    }

    /// Checkpointing reruns the blocks with their adapters and masks: the same bits, on two threads.
    @Test(arguments: Kit.tinyConfigs.indices)
    func checkpointedAdapterGradientsAreBitIdentical(configIndex: Int) throws {
        let (model, adapters) = try adaptedModel(configIndex, dropout: 0.2, parallel: Parallel(threads: 2))
        adapters.dropoutKey = 77
        let batch = batch(vocab: model.config.vocabSize)
        func gradients(checkpointing: Bool) -> [Float] {
            model.gradientCheckpointing = checkpointing
            _ = model.score(batch, training: true)
            model.zeroGradients()
            model.backward(dLogProbSums: [0.5, -1, 2], gradientsReady: nil)
            return Array(adapters.gradients)
        }
        #expect(gradients(checkpointing: true) == gradients(checkpointing: false))
    }

    /// Progress reports cover the adapter buffer once, from its end, and nothing changes after its report.
    @Test(arguments: Kit.tinyConfigs.indices)
    func reportedRangesCoverTheAdapterBufferOnce(configIndex: Int) throws {
        let (model, adapters) = try adaptedModel(configIndex)
        let batch = batch(vocab: model.config.vocabSize)
        _ = model.score(batch, training: true)
        model.zeroGradients()
        var reports: [(range: Range<Int>, values: [Float])] = []
        model.backward(dLogProbSums: [1, 1, 1]) { range in reports.append((range, Array(adapters.gradients[range]))) }
        var times = [Int](repeating: 0, count: adapters.layout.parameterCount)
        for (range, _) in reports { for index in range { times[index] += 1 } }
        #expect(times.allSatisfy { $0 == 1 })
        for (range, values) in reports { #expect(Array(adapters.gradients[range]) == values) }
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.0.range.lowerBound >= $0.1.range.upperBound })
    }

    /// What `peftTensors` writes, `loadPEFTTensors` reads back, GPT-2's Conv1D copies transposed on the way; unknown,
    /// missing and misshapen tensors are refused.
    @Test(arguments: [0, 1])
    func peftTensorsRoundTrip(configIndex: Int) throws {
        let (model, adapters) = try adaptedModel(configIndex)
        let saveConv1D = configIndex == 0
        if saveConv1D {
            // GPT-2's c_fc as a module to save, stored [in, out] as Hugging Face's Conv1D.
            let gpt2 = Kit.randomizedModel(Kit.tinyConfig, seed: 2, trainable: false)
            try gpt2.attachAdapters(LoRAConfig(targets: .names(["c_attn", "c_proj"]), modulesToSave: ["c_fc"]), seed: 3)
            let exported = gpt2.peftTensors(from: UnsafeBufferPointer(gpt2.adapters!.parameters))
            let fc = try #require(exported.first { $0.name == "base_model.model.transformer.h.0.mlp.c_fc.weight" })
            #expect(fc.shape == [8, 32])
            let hf = try #require(gpt2.huggingFaceTensors(from: UnsafeBufferPointer(gpt2.parameters))
                .first { $0.name == "transformer.h.0.mlp.c_fc.weight" })
            #expect(fc.values == hf.values)
        }
        let exported = model.peftTensors(from: UnsafeBufferPointer(adapters.parameters))
        let saved = Array(adapters.parameters)
        adapters.parameters.update(repeating: 0)
        let table = Dictionary(uniqueKeysWithValues: exported.map { ($0.name, ($0.shape, $0.values)) })
        try model.loadPEFTTensors(fileNames: Array(table.keys)) { table[$0] }
        #expect(Array(adapters.parameters) == saved)
        #expect(throws: LoRAError.self) { try model.loadPEFTTensors(fileNames: Array(table.keys) + ["x.lora_A.weight"]) { table[$0] } }
        #expect(throws: LoRAError.self) { try model.loadPEFTTensors(fileNames: []) { _ in nil } }
        #expect(throws: LoRAError.self) { try model.loadPEFTTensors(fileNames: []) { table[$0].map { ([1] + $0.0, $0.1) } } }
    }
}
