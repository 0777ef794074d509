/// The four projections of a block that are Linear layers: where an adapter's output is added.
enum Projection: Int, CaseIterable, Sendable {
    /// q|k|v (GPT-2's one c_attn, or q_proj, k_proj, v_proj side by side).
    case qkv
    case attentionOutput
    /// up (GPT-2's c_fc), or gate_proj|up_proj side by side.
    case mlpInput
    case mlpOutput
}

/// One Linear module of the model under its Hugging Face name, and where its rows lie in our fused weights: output
/// columns `outputOffset ..< outputOffset + outputWidth` of a block's `projection`.
struct LinearModule: Sendable {
    let name: String
    let layer: Int
    let projection: Projection
    let outputOffset: Int
    let outputWidth: Int
    let inputWidth: Int
    /// Its weight in the base buffer.
    let weight: ParameterTensor
}

/// One adapter: lora_A [rank, inputWidth] and lora_B [outputWidth, rank] at offsets of the adapter buffer.
struct LowRankSegment: Sendable {
    let module: LinearModule
    let a: Int
    let b: Int
    /// Index among the model's adapters, which separates their dropout masks.
    let index: Int
}

/// Where LoRA's trainable tensors live in the adapters' own flat buffer, and which base tensors they belong to.
///
/// The buffer follows the base buffer's order: for each base tensor, in order, its adapter's lora_A and lora_B (a
/// targeted weight) or its trainable copy (a tensor of a module to save). Tensors are named as PEFT's
/// adapter_model.safetensors names them ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
/// "base_model.model.lm_head.weight"). So the part of the buffer that belongs to any base range is one range, and the
/// backward's progress reports map over (`trainableRange(coveringBase:)`).
public struct AdapterLayout: Sendable {
    public let config: LoRAConfig
    /// The resolved targets: full Hugging Face names of the adapted modules, in buffer order.
    public let targetModules: [String]
    /// The modules trained in full, by full Hugging Face name, in buffer order.
    public let savedModules: [String]
    public let tensors: [ParameterTensor]
    public let parameterCount: Int
    /// Adapters per block and projection, in output-column order.
    let segments: [[[LowRankSegment]]]
    /// Each base tensor of a saved module with the offset of its copy.
    let savedCopies: [(base: ParameterTensor, copy: Int)]
    /// Each trainable tensor's base anchor (the base offset of the tensor it adapts or copies), in buffer order.
    private let anchors: [Int]
    /// The widest input of any adapter (scratch sizing).
    let widestInput: Int

    init(config: LoRAConfig, modelConfig: ModelConfig, baseTensors: [ParameterTensor], linearModules: [LinearModule],
         huggingFaceName: (ParameterTensor) -> String) throws {
        try config.validate()
        let targets = config.targets == .familyDefault ? .familyDefault(modelConfig.architecture) : config.targets
        func moduleName(_ tensor: ParameterTensor) -> String {
            let name = huggingFaceName(tensor)
            return name.hasSuffix(".weight") || name.hasSuffix(".bias") ? String(name[..<name.lastIndex(of: ".")!]) : name
        }
        let saved = try Self.savedModules(config.modulesToSave, baseTensors: baseTensors, linearModules: linearModules,
                                          moduleName: moduleName, modelConfig: modelConfig)
        let excludedBySaving = { (module: String) in
            config.modulesToSave.contains { saved in
                module == saved || module.hasPrefix(saved + ".") || module.hasSuffix("." + saved)
                    || module.contains("." + saved + ".")
            }
        }
        let linearNames = Set(linearModules.map(\.name))
        // Targets may only name Linear modules of the blocks; PEFT adapts embeddings and the LM head too, dpo-dist
        // does not (a tied head is the embedding module here).
        if targets != .allLinear {
            for tensor in baseTensors where !linearNames.contains(moduleName(tensor)) && targets.matches(moduleName(tensor))
                && !excludedBySaving(moduleName(tensor)) {
                throw LoRAError.unsupportedTarget(module: moduleName(tensor), reason: tensor.shape.count == 2
                    ? "dpo-dist adapts the Linear layers of the blocks only; train it in full with lora_modules_to_save"
                    : "it is not a Linear layer")
            }
        }
        let targeted = linearModules.filter { targets.matches($0.name) && !excludedBySaving($0.name) }
        guard !targeted.isEmpty else {
            throw LoRAError.noTargetFound(targets: targets.description, modules: linearModules.map(\.name))
        }
        let targetedOffsets = Dictionary(uniqueKeysWithValues: targeted.map { ($0.weight.offset, $0) })

        var tensors: [ParameterTensor] = [], anchors: [Int] = [], copies: [(base: ParameterTensor, copy: Int)] = []
        var segments = [[[LowRankSegment]]](repeating: Projection.allCases.map { _ in [] }, count: modelConfig.layers)
        var next = 0
        func add(_ name: String, _ shape: [Int], decays: Bool, anchor: Int) -> Int {
            let tensor = ParameterTensor(name: name, shape: shape, offset: next, decays: decays)
            tensors.append(tensor)
            anchors.append(anchor)
            next += tensor.count
            return tensor.offset
        }
        let prefix = "base_model.model."
        for base in baseTensors {
            if let module = targetedOffsets[base.offset] {
                let a = add(prefix + module.name + ".lora_A.weight", [config.rank, module.inputWidth], decays: true,
                            anchor: base.offset)
                let b = add(prefix + module.name + ".lora_B.weight", [module.outputWidth, config.rank], decays: true,
                            anchor: base.offset)
                segments[module.layer][module.projection.rawValue].append(
                    LowRankSegment(module: module, a: a, b: b, index: segments.joined().joined().count))
            } else if saved.contains(moduleName(base)) {
                let copy = add(prefix + huggingFaceName(base), base.shape, decays: base.decays, anchor: base.offset)
                copies.append((base, copy))
            }
        }
        self.config = config
        targetModules = targeted.map(\.name)
        savedModules = baseTensors.map(moduleName).reduce(into: []) { names, name in
            if saved.contains(name) && names.last != name { names.append(name) }
        }
        self.tensors = tensors
        parameterCount = next
        self.segments = segments.map { $0.map { $0.sorted { $0.module.outputOffset < $1.module.outputOffset } } }
        savedCopies = copies
        self.anchors = anchors
        widestInput = targeted.map(\.inputWidth).max() ?? 0
    }

    /// The modules `modules_to_save` names (PEFT: every module whose full name ends with one of the strings). Refused:
    /// a name matching nothing, the tied embedding / LM head (one tensor here, two modules in Hugging Face), and one of
    /// several modules we fuse into one product (q/k/v, gate/up) without the others.
    private static func savedModules(_ names: [String], baseTensors: [ParameterTensor], linearModules: [LinearModule],
                                     moduleName: (ParameterTensor) -> String, modelConfig: ModelConfig) throws -> Set<String> {
        let modules = Set(baseTensors.map(moduleName))
        let tokenEmbedding = moduleName(baseTensors[0])
        var saved = Set<String>()
        for name in names {
            let matched = modules.filter { $0.hasSuffix(name) }
            if modelConfig.tiedEmbeddings && (matched.contains(tokenEmbedding) || "lm_head".hasSuffix(name)) {
                throw LoRAError.unsupportedModuleToSave(name: name, reason: "the model ties its LM head to the token "
                    + "embedding, which dpo-dist holds once; PEFT would train a separate copy of one of them")
            }
            guard !matched.isEmpty else {
                throw LoRAError.unsupportedModuleToSave(name: name, reason: "no module of the model ends with it")
            }
            saved.formUnion(matched)
        }
        let fusedGroups = Dictionary(grouping: linearModules) { "\($0.layer).\($0.projection.rawValue)" }.values
        for group in fusedGroups where group.count > 1 {
            let savedInGroup = group.filter { saved.contains($0.name) }
            if !savedInGroup.isEmpty && savedInGroup.count < group.count {
                throw LoRAError.unsupportedModuleToSave(name: savedInGroup[0].name, reason: "dpo-dist runs "
                    + group.map(\.name).joined(separator: ", ") + " as one product, so they are trained in full together or not at all")
            }
        }
        return saved
    }

    /// The part of the adapter buffer that belongs to base tensors starting in `range`.
    func trainableRange(coveringBase range: Range<Int>) -> Range<Int> {
        let first = anchors.firstIndex { $0 >= range.lowerBound } ?? anchors.count
        let last = anchors.lastIndex { $0 < range.upperBound } ?? -1
        guard first <= last else {
            let position = first < tensors.count ? tensors[first].offset : parameterCount
            return position ..< position
        }
        return tensors[first].offset ..< tensors[last].range.upperBound
    }

    /// Where the trainable copy of base element `offset` is, if it belongs to a saved module.
    func copyOffset(ofBase offset: Int) -> Int? {
        savedCopies.first { $0.base.range.contains(offset) }.map { $0.copy + offset - $0.base.offset }
    }
}
