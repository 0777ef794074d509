import Foundation
import Testing
@testable import PreferenceData
import ChatTemplate
import TestSupport

/// Prompt files for `dpo-dist generate`: `{"prompt"}` as text or messages, or `{"messages"}`.
@Suite struct PromptFileTests {
    @Test func promptsAreTextOrConversationsWhateverElseTheRecordHolds() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("prompts.jsonl", """
            {"prompt": "Once upon a time"}
            {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello"}]}

            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why?"}], "id": 3}
            """)
        let file = try PreferenceDataset.loadPrompts(path: path)
        #expect(file.prompts == [.text("Once upon a time"), .messages([ChatMessage(role: "user", content: "Hi")]),
                                 .messages([ChatMessage(role: "system", content: "Be brief."),
                                            ChatMessage(role: "user", content: "Why?")])])
        #expect(file.locations == [.line(1), .line(2), .line(4)])
    }

    @Test func recordsWithoutOneOfTheFieldsAreNamed() throws {
        let directory = try TemporaryDirectory()
        func problem(_ text: String) throws -> String {
            let path = try directory.write("bad.jsonl", text)
            let error = try #require(throws: DataError.self) { try PreferenceDataset.loadPrompts(path: path) }
            return "\(error)".replacingOccurrences(of: path, with: "FILE")
        }
        #expect(try problem(#"{"prompt": "a"}"# + "\n" + #"{"completion": "b"}"#)
                == #"FILE, line 2: expected a "prompt" (a string or a list of messages) or "messages""#)
        #expect(try problem(#"{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}"#)
                == #"FILE, line 1: has both "prompt" and "messages"; give one of them"#)
        #expect(try problem(#"{"messages": "hello"}"#)
                == #"FILE, line 1: field "messages" must be a list of {"role", "content"} messages"#)
        #expect(try problem(#"[{"prompt": 3}]"#).hasPrefix("FILE, array element [0]: field \"prompt\" must be a string"))
    }
}
