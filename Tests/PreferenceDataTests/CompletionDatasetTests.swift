import Foundation
import Testing
@testable import PreferenceData
import ChatTemplate

/// SFT data: `{"prompt", "completion"}` (strings or message lists) or `{"messages"}`, read as pairs whose two
/// completions are the SFT target.
@Suite struct CompletionDatasetTests {
    private func write(_ text: String, name: String = "sft.jsonl") throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sft-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func promptCompletionStrings() throws {
        let file = try PreferenceDataset.loadCompletions(path: try write("""
            {"prompt": "2+2=", "completion": " 4"}
            {"prompt": "Hi", "completion": " there", "extra": 1}
            """))
        #expect(file.format == .standard)
        #expect(file.records == .standard([PreferenceExample(prompt: "2+2=", chosen: " 4", rejected: " 4"),
                                           PreferenceExample(prompt: "Hi", chosen: " there", rejected: " there")]))
    }

    @Test func messagesSplitAtTheLastAssistantTurn() throws {
        let file = try PreferenceDataset.loadCompletions(path: try write("""
            [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"},
                           {"role": "assistant", "content": "Goodbye."}]},
             {"prompt": [{"role": "user", "content": "Q"}], "completion": [{"role": "assistant", "content": "A"}]}]
            """, name: "sft.json"))
        guard case .conversational(let examples) = file.records else {
            Issue.record("expected conversational records")
            return
        }
        #expect(examples[0].prompt.map(\.content) == ["Be brief.", "Hi", "Hello.", "Bye"])
        #expect(examples[0].chosen == [ChatMessage(role: "assistant", content: "Goodbye.")])
        #expect(examples[0].rejected == examples[0].chosen)
        #expect(examples[1].prompt == [ChatMessage(role: "user", content: "Q")])
    }

    @Test func problemsNameTheRecord() throws {
        func message(_ text: String) throws -> String {
            let path = try write(text)
            do {
                _ = try PreferenceDataset.loadCompletions(path: path)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(try message(#"{"prompt": "a", "completion": "b"}"# + "\n" + #"{"prompt": "a"}"#)
                    .contains("line 2: expected {\"prompt\", \"completion\"}"))
        #expect(try message(#"{"messages": [{"role": "user", "content": "only a question"}]}"#)
                    .contains("line 1: \"messages\" needs an assistant message"))
        #expect(try message(#"{"prompt": "a", "completion": [{"role": "assistant", "content": "b"}]}"#)
                    .contains("line 1: expected"))
        #expect(try message(#"{"prompt": "a", "completion": "b"}"# + "\n"
                            + #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#)
                    .contains("line 2: this record's format differs"))
        #expect(try message("").contains("the file is empty"))
    }
}
