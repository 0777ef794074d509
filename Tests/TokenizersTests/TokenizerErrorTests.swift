import Foundation
import Testing
import TokenizerFixtures
@testable import Tokenizers

/// Bad tokenizer folders are rejected with an error naming the file, the key and the problem.
@Suite struct TokenizerErrorTests {
    /// A scratch copy of a fixture folder with `tokenizer.json` edited by literal replacements (the fixture files are
    /// compact JSON, so the edits can target exact text) and optionally some files removed or replaced.
    private func brokenCopy(of name: String, tokenizerEdits: [(String, String)] = [], removing: [String] = [],
                            replacing: [String: String] = [:]) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: TokenizerFixtures.folder(name), to: folder)
        let tokenizerURL = folder.appendingPathComponent("tokenizer.json")
        var json = try String(contentsOf: tokenizerURL, encoding: .utf8)
        for (original, replacement) in tokenizerEdits {
            #expect(json.contains(original), "fixture no longer contains \(original)")
            json = json.replacingOccurrences(of: original, with: replacement)
        }
        try json.write(to: tokenizerURL, atomically: true, encoding: .utf8)
        for file in removing { try FileManager.default.removeItem(at: folder.appendingPathComponent(file)) }
        for (file, contents) in replacing {
            try contents.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        return folder.path
    }

    private func loadError(_ folder: String) -> TokenizerError? {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        return #expect(throws: TokenizerError.self) { try HuggingFaceTokenizer(folder: folder) }
    }

    @Test func unknownNormalizerIsNamed() throws {
        let error = loadError(try brokenCopy(of: "qwen2", tokenizerEdits: [(#"{"type":"NFC"}"#, #"{"type":"Lowercase"}"#)]))
        #expect(error?.file.hasSuffix("tokenizer.json") == true)
        #expect(error?.key == "normalizer.type")
        #expect(error?.problem == #"unsupported normalizer type "Lowercase""#)
    }

    @Test func unknownPreTokenizerIsNamed() throws {
        let error = loadError(try brokenCopy(of: "qwen2", tokenizerEdits: [(#"{"type":"Split","#, #"{"type":"Whitespace","#)]))
        #expect(error?.key == "pre_tokenizer.pretokenizers[0].type")
        #expect(error?.problem == #"unsupported pre-tokenizer type "Whitespace""#)
    }

    @Test func unsupportedModelAndDecoderAreNamed() throws {
        let model = loadError(try brokenCopy(of: "gpt2", tokenizerEdits: [(#""model":{"type":"BPE""#, #""model":{"type":"Unigram""#)]))
        #expect(model?.key == "model.type")
        #expect(model?.problem == #"unsupported model type "Unigram""#)
        let decoder = loadError(try brokenCopy(of: "llama2", tokenizerEdits: [(#"{"type":"Fuse"}"#, #"{"type":"CTC"}"#)]))
        #expect(decoder?.key == "decoder.decoders[2].type")
    }

    @Test func malformedJSONNamesTheFileAndPosition() throws {
        let truncated = loadError(try brokenCopy(of: "gpt2", tokenizerEdits: [(#""normalizer":null,"#, #""normalizer":nul,"#)]))
        #expect(truncated?.file.hasSuffix("tokenizer.json") == true)
        #expect(truncated?.problem.hasPrefix("malformed JSON at line 1, column") == true)

        let config = loadError(try brokenCopy(of: "qwen2", replacing: ["tokenizer_config.json": "{\n  \"eos_token\": \"<|im_end|>\",\n}\n"]))
        #expect(config?.file.hasSuffix("tokenizer_config.json") == true)
        #expect(config?.problem.hasPrefix("malformed JSON at line 3, column 1") == true)
    }

    @Test func mergesMustReferToVocabularyTokens() throws {
        let error = loadError(try brokenCopy(of: "qwen2", tokenizerEdits: [(#""merges":["#, #""merges":[["Ġ","nope"],"#)]))
        #expect(error?.key == "model.merges[0]")
        #expect(error?.problem == #"merge refers to "nope", which is not in model.vocab"#)
    }

    @Test func specialTokensMustExist() throws {
        let noEOS = loadError(try brokenCopy(of: "gpt2", removing: ["special_tokens_map.json"]))
        #expect(noEOS?.problem.hasPrefix("no eos_token") == true)

        let unknownEOS = loadError(try brokenCopy(of: "qwen2", replacing: ["tokenizer_config.json": #"{"eos_token": "<|nope|>"}"#]))
        #expect(unknownEOS?.file.hasSuffix("tokenizer_config.json") == true)
        #expect(unknownEOS?.key == "eos_token")
        #expect(unknownEOS?.problem.hasPrefix(#""<|nope|>" is not a token of"#) == true)
    }

    @Test func missingTokenizerJSONIsNamed() throws {
        let error = loadError(try brokenCopy(of: "gpt2", removing: ["tokenizer.json"]))
        #expect(error?.file.hasSuffix("tokenizer.json") == true)
        #expect(error?.problem == "cannot read the file")
    }
}
