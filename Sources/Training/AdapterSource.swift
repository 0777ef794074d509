import Foundation
import Checkpoint
import Kernels
import Model
import MPI

/// LoRA runs: where the adapter of a run comes from (`use_peft`'s fresh one or a PEFT adapter folder given as
/// `model_name_or_path`), and PEFT adapter folders written and read.
extension ModelSource {
    /// The adapter folder's adapter_config.json, with a `RunError.input` naming the file when it does not fit.
    static func adapterConfig(in folder: URL) throws -> PEFTAdapterConfig {
        do {
            return try PEFTAdapterFolder.read(folder).config
        } catch {
            throw RunError.input("`model_name_or_path` \(folder.path) is a PEFT adapter folder dpo-dist cannot use: \(error)")
        }
    }

    /// The base model of an adapter: `base_model_name_or_path`, a relative path taken against the adapter folder
    /// first and against the working directory (as PEFT does) if there is no such folder there.
    static func adapterBase(of config: PEFTAdapterConfig, in folder: URL) throws -> URL {
        guard let base = config.baseModelNameOrPath, !base.isEmpty else {
            throw RunError.input("\(folder.appendingPathComponent(PEFTAdapterFolder.configFile).path): "
                + "`base_model_name_or_path` is not set, so the adapter's base model is unknown")
        }
        let candidates = base.hasPrefix("/") ? [URL(fileURLWithPath: base)]
            : [folder.appendingPathComponent(base), URL(fileURLWithPath: base)]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw RunError.input("\(folder.appendingPathComponent(PEFTAdapterFolder.configFile).path): the base model "
                + "`\(base)` is no folder (looked for \(candidates.map(\.path).joined(separator: " and "))); download it "
                + "there, or edit base_model_name_or_path")
        }
        return found.standardizedFileURL
    }

    /// The LoRA settings of a run: the adapter folder's own when `model_name_or_path` is one (its `lora_*` keys
    /// apply, as `PeftModel.from_pretrained` reads them), else `use_peft`'s; nil for full fine-tuning.
    func loraConfig(_ config: TrainingConfig) -> LoRAConfig? {
        adapter.map { $0.config.lora } ?? config.lora
    }

    /// Fills `model`'s attached adapters from the adapter folder `model_name_or_path` named.
    func loadAdapter(into model: any CausalLanguageModel) throws {
        guard let adapter else { return }
        try loadAdapterWeights(from: adapter.folder, into: model)
    }

    /// The model of a Hugging Face or adapter folder for inference (`loadMerged`), on one process.
    func loadMergedModel(parallel: Parallel) throws -> any CausalLanguageModel {
        let model = try makeCausalLanguageModel(config: modelConfig, trainable: false, parallel: parallel)
        try loadMerged(into: model, communicator: nil)
        return model
    }

    /// Puts the folder's model into `model` for inference: the base with its adapter merged in when the folder is an
    /// adapter (PEFT's `merge_and_unload`), so it runs at the plain model's speed. With a communicator rank 0 reads and
    /// broadcasts (every rank calls this).
    func loadMerged(into model: any CausalLanguageModel, communicator: Communicator?) throws {
        guard let folder else { preconditionFailure("a model folder to load") }
        if let communicator {
            try load(into: model, seed: 0, communicator: communicator)
        } else {
            try loadWeights(from: folder, into: model)
        }
        guard let adapter else { return }
        let adapters: LoRAAdapters
        do {
            adapters = try model.attachAdapters(adapter.config.lora, seed: 0)
        } catch let error as LoRAError {
            throw RunError.input("\(adapter.folder.path): \(error)")
        }
        if let communicator {
            try communicator.runOnRankZero { try loadAdapter(into: model) }
            try communicator.broadcast(UnsafeMutableRawBufferPointer(adapters.parameters), root: 0)
        } else {
            try loadAdapter(into: model)
        }
        model.mergeAndUnload()
    }

    /// adapter_config.json and adapter_model.safetensors of `adapters`: the resolved target modules by full name, the
    /// base as an absolute path (so PEFT finds it from any working directory), GPT-2's Conv1D flagged.
    func writeAdapterFolder(of model: any CausalLanguageModel, adapters: LoRAAdapters, to destination: URL) throws {
        let lora = adapters.layout.config
        let config = PEFTAdapterConfig(
            baseModelNameOrPath: folder?.standardizedFileURL.path, rank: lora.rank, alpha: lora.alpha,
            dropout: lora.dropout, targetModules: .list(adapters.layout.targetModules),
            modulesToSave: lora.modulesToSave.isEmpty ? nil : lora.modulesToSave, useRSLoRA: lora.useRSLoRA,
            fanInFanOut: model.config.architecture == .gpt2)
        let exported = model.peftTensors(from: UnsafeBufferPointer(adapters.parameters))
        try withContiguousViews(of: exported) { views in
            try PEFTAdapterFolder.write(config, tensors: views, to: destination)
        }
    }
}

/// Reads a PEFT adapter folder's tensors into `model`'s attached adapters, after checking that its rank, alpha and
/// scaling are the adapters' (its tensors then decide whether the targets are).
func loadAdapterWeights(from folder: URL, into model: any CausalLanguageModel) throws {
    guard let adapters = model.adapters else { preconditionFailure("attach the adapters before loading them") }
    do {
        let (config, weights) = try PEFTAdapterFolder.read(folder)
        let (file, ours) = (config.lora, adapters.layout.config)
        guard file.rank == ours.rank, file.alpha == ours.alpha, file.useRSLoRA == ours.useRSLoRA else {
            throw RunError.input("\(folder.path): the adapter has r \(file.rank), lora_alpha \(file.alpha), use_rslora "
                + "\(file.useRSLoRA); the run's adapters have \(ours.rank), \(ours.alpha), \(ours.useRSLoRA)")
        }
        try model.loadPEFTTensors(fileNames: weights.names) { name in
            guard let tensor = weights[name] else { return nil }
            return (tensor.shape, try tensor.floats())
        }
    } catch let error as RunError {
        throw error
    } catch {
        throw RunError.input("\(folder.path): \(error)")
    }
}

/// Copies `tensors` into one contiguous buffer and hands the writer a view of each (alive for the call).
func withContiguousViews(of tensors: [(name: String, shape: [Int], values: [Float])],
                         _ body: ([(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) throws -> Void) throws {
    let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: tensors.reduce(0) { $0 + $1.values.count })
    defer { storage.deallocate() }
    var offset = 0
    let views = tensors.map { tensor -> (name: String, shape: [Int], values: UnsafeBufferPointer<Float>) in
        let slice = UnsafeMutableBufferPointer(rebasing: storage[offset ..< offset + tensor.values.count])
        _ = slice.initialize(from: tensor.values)
        offset += tensor.values.count
        return (tensor.name, tensor.shape, UnsafeBufferPointer(slice))
    }
    try body(views)
}

extension PEFTAdapterConfig {
    /// The adapter's settings as LoRA settings: a list of names matches names, one string is `all-linear` or a regular
    /// expression (PEFT's rules).
    var lora: LoRAConfig {
        let targets: LoRAConfig.Targets
        switch targetModules {
        case .list(let names): targets = .names(names)
        case .pattern(let pattern): targets = pattern == "all-linear" ? .allLinear : .pattern(pattern)
        }
        return LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets, modulesToSave: modulesToSave ?? [],
                          useRSLoRA: useRSLoRA)
    }
}

/// `dpo-dist merge`: the base model of the PEFT adapter folder `adapter` with the adapter folded in (PEFT's
/// `merge_and_unload`), written to `output` as a full Hugging Face folder (model.safetensors, config.json, the base's
/// tokenizer files). Returns the base folder it used.
public func mergeAdapter(_ adapter: String, into output: String, threads: Int) throws -> URL {
    let adapterFolder = URL(fileURLWithPath: adapter).standardizedFileURL
    let outputFolder = URL(fileURLWithPath: output).standardizedFileURL
    guard PEFTAdapterFolder.isAdapterFolder(adapterFolder) else {
        throw RunError.input("\(adapter): no \(PEFTAdapterFolder.configFile); `merge` needs a PEFT adapter folder")
    }
    guard adapterFolder != outputFolder else {
        throw RunError.input("\(output): write the merged model to another folder than the adapter's")
    }
    let source = try ModelSource(folder: adapterFolder.path)
    let model = try source.loadMergedModel(parallel: Parallel(threads: threads))
    do {
        try FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
    } catch {
        throw RunError.input("\(output): cannot create it: \(error.localizedDescription)")
    }
    try source.writeFolder(of: model, to: outputFolder)
    return source.folder!
}
