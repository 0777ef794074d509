import Checkpoint
import Foundation
import Model
import Testing

/// The fixtures tools/make_generation_fixtures.py wrote with transformers, and the tiny parity models they ran.
enum GenerationFixtures {
    /// A file of this target's Fixtures folder.
    static func url(_ name: String) throws -> URL {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/\(name)")
        try #require(FileManager.default.fileExists(atPath: url.path), "missing fixture \(url.path)")
        return url
    }

    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(contentsOf: url(name)))
    }

    /// The parity models' files live with the model tests (Tests/ModelTests/Fixtures), read from the source tree.
    static let modelFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelTests/Fixtures")

    /// `<prefix>_config.json` with the weights of `<prefix>_policy.safetensors` (e.g. prefix "gpt2_tiny").
    static func model(_ prefix: String) throws -> any CausalLanguageModel {
        let config = try Data(contentsOf: modelFixtures.appendingPathComponent("\(prefix)_config.json"))
        let model = try makeCausalLanguageModel(huggingFaceConfig: config, trainable: false, parallel: .serial)
        let weights = try SafeTensorsFile.read(contentsOf: modelFixtures.appendingPathComponent("\(prefix)_policy.safetensors"))
        try model.loadHuggingFaceTensors(into: model.parameters) { name in
            try weights[name].map { (shape: $0.shape, values: try $0.floats()) }
        }
        return model
    }
}

/// greedy_generation.json: transformers' greedy `generate` on the tiny GPT-2, Llama and Qwen2.
struct GreedyGenerationFile: Decodable {
    struct Case: Decodable {
        let model: String
        let `case`: String
        let promptIds: [Int32]
        let maxNewTokens: Int
        let repetitionPenalty: Double
        let eosTokenIds: [Int32]
        let generatedIds: [Int32]
    }

    let cases: [Case]
}

/// logits_processors.json: transformers' processors on seeded random scores; nil marks a removed (−∞) score.
struct LogitsProcessorFile: Decodable {
    struct Settings: Decodable {
        let repetitionPenalty: Double
        let temperature: Double
        let topK: Int
        let topP: Double
    }

    struct Case: Decodable {
        let processor: String
        let parameter: Double?
        let inputIds: [Int32]
        let scores: [Float]
        let processed: [Float?]
        let settings: Settings?
    }

    let cases: [Case]
}
