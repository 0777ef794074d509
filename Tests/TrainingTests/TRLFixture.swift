import Foundation
import PreferenceData
import Testing
@testable import Training

/// The tiny GPT-2, byte-level BPE tokenizer and pairs that tools/make_trl_fixtures.py ran TRL's DPOTrainer on, and
/// the tiny Llama and PEFT adapters that tools/make_lora_fixtures.py ran it on with LoRA (`fixture` "lora").
enum TRLFixture {
    static func url(_ path: String, in fixture: String = "trl") throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(fixture + "/" + path)
    }

    /// A scratch folder with `model/` holding the config, weights and tokenizer files together, as a Hub download does.
    static func workspace() throws -> (folder: URL, model: URL, pairs: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-trl-\(UUID().uuidString)")
        let model = folder.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for part in ["model", "tokenizer"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: try url(part).path) {
                try FileManager.default.copyItem(at: try url(part).appendingPathComponent(name), to: model.appendingPathComponent(name))
            }
        }
        return (folder, model, try url("pairs.jsonl"))
    }

    /// A scratch folder with the LoRA fixture's base in `model/` (with the TRL fixture's tokenizer files) and the
    /// starting adapter of `run` in `adapter/`, whose base_model_name_or_path is "../model".
    static func loraWorkspace(_ run: String) throws -> (folder: URL, model: URL, adapter: URL, pairs: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-lora-\(UUID().uuidString)")
        let (model, adapter) = (folder.appendingPathComponent("model"), folder.appendingPathComponent("adapter"))
        for (destination, sources) in [(model, [try url("model", in: "lora"), try url("tokenizer")]),
                                       (adapter, [try url("adapter_\(run)", in: "lora")])] {
            try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
            for source in sources {
                for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                    try FileManager.default.copyItem(at: source.appendingPathComponent(name),
                                                     to: destination.appendingPathComponent(name))
                }
            }
        }
        return (folder, model, adapter, try url("pairs.jsonl"))
    }
}

/// What TRL made of the fixture pairs: its tokenized dataset and first collated batch.
extension TRLFixture {
    struct TokenizedFile: Decodable {
        struct Pair: Decodable {
            let row: Int
            let promptIds: [Int32]
            let chosenIds: [Int32]
            let rejectedIds: [Int32]
        }

        struct Config: Decodable {
            let maxLength: Int
            let truncationMode: TruncationMode
        }

        let config: Config
        let droppedRows: [Int]
        let pairs: [Pair]
    }

    struct InitialLogProbs: Decodable {
        struct Batch: Decodable {
            let rows: [Int]
            let inputIds: [[Int32]]
            let attentionMask: [[Int]]
            let completionMask: [[UInt8]]
        }

        let firstBatch: Batch
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String, in fixture: String = "trl") throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: url(name, in: fixture)))
    }

    /// A config that reads the fixture's pairs with its max_length and truncation mode.
    static func config(_ tokenized: TokenizedFile) throws -> TrainingConfig {
        var config = TrainingConfig()
        config.trainDataset = try url("pairs.jsonl").path
        config.maxLength = tokenized.config.maxLength
        config.truncationMode = tokenized.config.truncationMode
        return config
    }
}

