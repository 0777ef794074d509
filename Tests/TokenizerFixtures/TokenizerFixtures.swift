import Foundation
import Testing
import Tokenizers

// The folders in Fixtures/tokenizers are small tokenizers trained locally and laid out like GPT-2, SmolLM, Llama-3, Qwen2
// and Llama-2 (two conversions); expected.json records the Hugging Face `tokenizers` library's ids and decodings for a
// corpus of awkward text. Regenerate with tools/make_tokenizer_fixtures.py. TokenizersTests checks parity with them,
// PreferenceDataTests tokenizes TRL's data preparation fixtures with them.

/// The fixture tokenizer folders and their recorded expectations.
public enum TokenizerFixtures {
    public static let names = ["gpt2", "smollm", "llama3", "qwen2", "llama2", "llama2_metaspace"]

    public struct Case: Decodable {
        public let text: String
        public let ids: [Int32]
        public let idsWithSpecialTokens: [Int32]
        public let decoded: String
    }

    public struct Expected: Decodable {
        public let vocabSize: Int
        public let cases: [Case]
    }

    public static func folder(_ name: String) throws -> URL {
        try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures/tokenizers/\(name)")
    }

    public static func tokenizer(_ name: String) throws -> HuggingFaceTokenizer {
        try HuggingFaceTokenizer(folder: folder(name).path)
    }

    public static func expected(_ name: String) throws -> Expected {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Expected.self, from: Data(contentsOf: folder(name).appendingPathComponent("expected.json")))
    }

    public static var corpus: [String] {
        get throws { try expected("gpt2").cases.map(\.text) }
    }
}
