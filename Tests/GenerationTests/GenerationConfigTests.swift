import Foundation
import Generation
import Testing

@Suite("generation_config.json")
struct GenerationConfigTests {
    private func settings(_ json: String) throws -> GenerationSettings {
        var settings = GenerationSettings()
        try settings.apply(huggingFaceGenerationConfig: Data(json.utf8), file: "model/generation_config.json")
        return settings
    }

    @Test func readsTheKeysItSetsAndIgnoresTheRest() throws {
        let read = try settings("""
            {"do_sample": true, "temperature": 0.6, "top_k": 20, "top_p": 0.95, "repetition_penalty": 1.05,
             "max_new_tokens": 64, "eos_token_id": [2, 7], "stop_strings": "END", "bos_token_id": 1, "pad_token_id": null,
             "transformers_version": "5.24.0"}
            """)
        var expected = GenerationSettings()
        (expected.doSample, expected.temperature, expected.topK, expected.topP) = (true, 0.6, 20, 0.95)
        (expected.repetitionPenalty, expected.maxNewTokens) = (1.05, 64)
        (expected.eosTokenIDs, expected.stopStrings) = ([2, 7], ["END"])
        #expect(read == expected)
        #expect(try settings(#"{"eos_token_id": 0, "temperature": null}"#).eosTokenIDs == [0])
        #expect(try settings(#"{"eos_token_id": 0, "temperature": null}"#).temperature == 1)
    }

    @Test func mistypedKeysAreNamedWithTheFile() {
        func problem(_ json: String) -> String? {
            do { _ = try settings(json) } catch { return "\(error)" }
            return nil
        }
        #expect(problem(#"{"do_sample": 1}"#) == #"model/generation_config.json: "do_sample": expected a boolean, found a number"#)
        #expect(problem(#"{"top_k": 2.5}"#) == #"model/generation_config.json: "top_k": expected an integer, found 2.5"#)
        #expect(problem(#"{"temperature": "hot"}"#) == #"model/generation_config.json: "temperature": expected a number, found a string"#)
        #expect(problem(#"{"eos_token_id": [1, true]}"#)
                == #"model/generation_config.json: "eos_token_id[1]": expected an integer, found a boolean"#)
        #expect(problem(#"{"stop_strings": 3}"#) == #"model/generation_config.json: "stop_strings": expected a string, found a number"#)
        #expect(problem("[1]") == "model/generation_config.json: expected an object, found an array")
    }
}
