import Foundation
import Checkpoint
import Kernels
import Model
import MPI
import PreferenceData
import Tokenizers
import ChatTemplate
import JSON

/// Where a run's model comes from: a Hugging Face folder (`model_name_or_path`: config.json, safetensors
/// weights, tokenizer files), a PEFT adapter folder on such a base (`adapter`), or the built-in
/// GPT-2-architecture model with the byte-level tokenizer, shaped by the `model.*` keys and randomly initialised
/// from `seed`.
struct ModelSource {
    let modelConfig: ModelConfig
    let tokenizer: any Tokenizer
    /// The Hugging Face folder, nil for the built-in model.
    let folder: URL?
    /// `bos_token_id`, `eos_token_id` and `pad_token_id` for the config.json of saved models: the source folder's own
    /// values, or the byte tokenizer's end-of-text id (GPT-2's convention).
    let specialTokenIDs: JSONObject
    /// The PEFT adapter folder `model_name_or_path` named and its config; `folder` is then its base model.
    private(set) var adapter: (folder: URL, config: PEFTAdapterConfig)?

    /// Marks, in config.json, a model saved with the built-in byte-level tokenizer, which has no tokenizer.json.
    static let byteTokenizerKey = "dpo_dist_tokenizer"

    /// Tokenizer files copied next to every saved model, so the folder loads with `AutoTokenizer` too.
    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"]

    init(config: TrainingConfig) throws {
        guard let path = config.modelNameOrPath else {
            tokenizer = ByteTokenizer()
            modelConfig = .gpt2(vocabSize: tokenizer.vocabSize, maxPositions: config.maxPositions,
                                layers: config.layers, heads: config.heads, channels: config.channels)
            folder = nil
            let endOfText = Int(tokenizer.eosTokenID)
            specialTokenIDs = ["bos_token_id": .integer(endOfText), "eos_token_id": .integer(endOfText),
                               "pad_token_id": .integer(endOfText), Self.byteTokenizerKey: "bytes"]
            return
        }
        self = try ModelSource(folder: path)
        guard config.maxLength <= modelConfig.maxPositions else {
            throw RunError.input("`max_length` (\(config.maxLength)) exceeds the model's \(modelConfig.maxPositions) positions "
                + "(\(URL(fileURLWithPath: path).appendingPathComponent("config.json").path))")
        }
    }

    /// A Hugging Face model folder (`model_name_or_path`) with its tokenizer, or a PEFT adapter folder with its base
    /// (see `adapterBase`). A run's `output_dir` is one once the run has saved its final model; a run folder holding
    /// only checkpoints is refused with the latest one named.
    init(folder path: String) throws {
        let folder = URL(fileURLWithPath: path)
        guard !PEFTAdapterFolder.isAdapterFolder(folder) else {
            let config = try Self.adapterConfig(in: folder)
            self = try ModelSource(modelFolder: try Self.adapterBase(of: config, in: folder).path)
            adapter = (folder, config)
            return
        }
        self = try ModelSource(modelFolder: path)
    }

    /// A Hugging Face model folder with its tokenizer.
    private init(modelFolder path: String) throws {
        let folder = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RunError.input("`model_name_or_path` \(path): no such folder (download the model first, e.g. "
                + "`huggingface-cli download HuggingFaceTB/SmolLM2-135M-Instruct --local-dir \(path)`)")
        }
        let configFile = folder.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configFile.path) else {
            if let checkpoint = try? CheckpointDirectory(outputDir: folder).latest() {
                throw RunError.input("\(configFile.path): missing; \(path) holds the checkpoints of a run that has not "
                    + "saved its final model: pass one of them, e.g. the latest, \(checkpoint.path)")
            }
            throw RunError.input("\(configFile.path): missing; `model_name_or_path` must be a Hugging Face model folder")
        }
        // A JSONError names the file itself.
        let json = try JSONField.parse(data, file: configFile.path)
        do {
            modelConfig = try ModelConfig(huggingFaceConfig: json)
        } catch let error as ModelError {
            throw RunError.input("\(configFile.path): \(error)")
        }
        specialTokenIDs = JSONObject(try json.members()
            .filter { ["bos_token_id", "eos_token_id", "pad_token_id", Self.byteTokenizerKey].contains($0.key) }
            .map { (key: $0.key, value: $0.value.value) })
        if specialTokenIDs[Self.byteTokenizerKey] == "bytes" {
            // A folder dpo-dist saved from its built-in model (e.g. `dpo-dist sft`, then `train` on the result).
            tokenizer = ByteTokenizer()
        } else {
            let tokenizer = try HuggingFaceTokenizer(folder: folder.path)
            try tokenizer.checkFits(modelVocabSize: modelConfig.vocabSize, modelFile: configFile.path)
            self.tokenizer = tokenizer
        }
        self.folder = folder
    }

    /// Puts the model's weights into `model` on every rank: rank 0 reads them from the folder (or draws the built-in
    /// model's from `seed`) and broadcasts them, so only rank 0 needs to read the model folder.
    func load(into model: any CausalLanguageModel, seed: Int, communicator: Communicator) throws {
        try communicator.runOnRankZero {
            if let folder {
                try loadWeights(from: folder, into: model)
            } else {
                model.initializeRandomly(seed: UInt64(seed))
            }
        }
        try communicator.broadcast(UnsafeMutableRawBufferPointer(model.parameters), root: 0)
    }

    /// The chat template for conversational data: the built-in one named by `chat_template`, else the model's own.
    func chatTemplate(named name: String?) throws -> ChatTemplate {
        if let folder {
            return try ChatTemplate.load(tokenizerConfig: folder.appendingPathComponent("tokenizer_config.json").path,
                                         builtInName: name)
        }
        guard let name else {
            throw RunError.input("the built-in model has no chat template: name one with `chat_template` "
                + "(\(ChatTemplate.builtInNames.joined(separator: ", ")))")
        }
        return try ChatTemplate.builtIn(named: name)
    }

    /// Writes `model` as a Hugging Face folder: `model.safetensors` in transformers' names and layout,
    /// `config.json`, and the source folder's tokenizer files; with adapters attached a PEFT adapter folder instead
    /// (`writeAdapterFolder`). Each file is written atomically.
    func writeFolder(of model: any CausalLanguageModel, to destination: URL) throws {
        if let adapters = model.adapters {
            try writeAdapterFolder(of: model, adapters: adapters, to: destination)
            try copyTokenizerFiles(to: destination)
            return
        }
        let exported = model.huggingFaceTensors(from: UnsafeBufferPointer(model.parameters))
        try withContiguousViews(of: exported) { views in
            try SafeTensorsFile.write(views, metadata: ["format": "pt"],
                                      to: destination.appendingPathComponent(ModelWeights.singleFile))
        }
        try AtomicFile.write(model.config.huggingFaceConfigJSON(adding: specialTokenIDs),
                             to: destination.appendingPathComponent("config.json"))
        try copyTokenizerFiles(to: destination)
    }

    /// The source folder's tokenizer files, so the written folder loads with `AutoTokenizer` too.
    private func copyTokenizerFiles(to destination: URL) throws {
        guard let folder else { return }
        for name in Self.tokenizerFiles {
            let source = folder.appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: source.path) {
                try AtomicFile.write(data, to: destination.appendingPathComponent(name))
            }
        }
    }
}

/// Builds the model a Hugging Face folder describes (config.json) and reads its weights: what a run does before
/// training, without data or tokenizer (used by `dpo-dist bench --load`).
public func loadModelFolder(_ path: String, threads: Int) throws -> any CausalLanguageModel {
    let folder = URL(fileURLWithPath: path)
    let configFile = folder.appendingPathComponent("config.json")
    guard let data = FileManager.default.contents(atPath: configFile.path) else {
        throw RunError.input("\(configFile.path): missing; expected a Hugging Face model folder")
    }
    let model = try makeCausalLanguageModel(huggingFaceConfig: data, file: configFile.path, trainable: false,
                                            parallel: Parallel(threads: threads))
    try loadWeights(from: folder, into: model)
    return model
}

/// Reads a Hugging Face folder's weights (single or sharded safetensors, any float dtype) into `model`.
func loadWeights(from folder: URL, into model: any CausalLanguageModel) throws {
    let weights = try ModelWeights.open(folder: folder)
    try model.loadHuggingFaceTensors(into: model.parameters) { name in
        guard let tensor = weights[name] else { return nil }
        return (tensor.shape, try tensor.floats())
    }
}
