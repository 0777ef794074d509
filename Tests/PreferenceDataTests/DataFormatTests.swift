import Foundation
import Testing
@testable import PreferenceData
import TestSupport
import ChatTemplate

private func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: text) }
private func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: text) }

/// Loads the same records written as JSON Lines and as a JSON array; both must give the same file contents.
private func loadBothWays(_ records: [String]) throws -> PreferenceFile {
    let directory = try TemporaryDirectory()
    let lines = try PreferenceDataset.load(path: directory.write("records.jsonl", records.joined(separator: "\n")))
    let array = try PreferenceDataset.load(path: directory.write("records.json", "[" + records.joined(separator: ",\n") + "]"))
    #expect(lines.format == array.format)
    #expect(lines.records == array.records)
    #expect(lines.locations == records.indices.map { .line($0 + 1) })
    #expect(array.locations == records.indices.map { .arrayIndex($0) })
    return lines
}

private func loadError(_ text: String) throws -> DataError {
    let directory = try TemporaryDirectory()
    let path = try directory.write("bad.jsonl", text)
    return try #require(throws: DataError.self) { try PreferenceDataset.load(path: path) }
}

@Suite struct DataFormatTests {
    @Test func standardRecords() throws {
        let file = try loadBothWays([#"{"prompt": "Q?", "chosen": "Yes.", "rejected": "No.", "id": 3}"#])
        #expect(file.format == .standard)
        #expect(file.records == .standard([PreferenceExample(prompt: "Q?", chosen: "Yes.", rejected: "No.")]))
    }

    @Test func conversationalRecordsKeepRolesAndIgnoreOtherMessageKeys() throws {
        let file = try loadBothWays([
            #"{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "x"}], "#
                + #""chosen": [{"role": "assistant", "content": "Hello."}], "rejected": [{"role": "assistant", "content": "Go."}]}"#,
            #"{"prompt": [], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]}"#,
        ])
        #expect(file.format == .conversational)
        #expect(file.format.isConversational)
        #expect(file.records == .conversational([
            ConversationalExample(prompt: [ChatMessage(role: "system", content: "Be brief."), user("Hi")],
                                  chosen: [assistant("Hello.")], rejected: [assistant("Go.")]),
            ConversationalExample(prompt: [], chosen: [assistant("A")], rejected: [assistant("B")]),
        ]))
    }

    @Test func implicitPromptStringsAreSplitAsTRLDoes() throws {
        let file = try loadBothWays([
            // The completions differ after "A: ": the space moves from the prompt to the completions.
            #"{"chosen": "Q: Hot?\nA: Yes.", "rejected": "Q: Hot?\nA: No."}"#,
            // They differ right after "A:" (no space before the difference): nothing moves.
            #"{"chosen": "Q: 2+2?\nA:4", "rejected": "Q: 2+2?\nA:5"}"#,
            // One is a prefix of the other: the prompt stops one character short of the shorter.
            #"{"chosen": "The cat sat.", "rejected": "The cat sat. Then it left."}"#,
        ])
        #expect(file.format == .implicitPromptStandard)
        #expect(file.records == .standard([
            PreferenceExample(prompt: "Q: Hot?\nA:", chosen: " Yes.", rejected: " No."),
            PreferenceExample(prompt: "Q: 2+2?\nA:", chosen: "4", rejected: "5"),
            PreferenceExample(prompt: "The cat sat", chosen: ".", rejected: ". Then it left."),
        ]))
    }

    @Test func implicitPromptMessagesSplitAtTheFirstDifferentMessage() throws {
        let file = try loadBothWays([
            #"{"chosen": [{"role": "user", "content": "Hi "}, {"role": "assistant", "content": "Hello"}], "#
                + #""rejected": [{"role": "user", "content": "Hi "}, {"role": "assistant", "content": "Go"}]}"#,
        ])
        #expect(file.format == .implicitPromptConversational)
        #expect(file.records == .conversational([
            ConversationalExample(prompt: [user("Hi ")], chosen: [assistant("Hello")], rejected: [assistant("Go")]),
        ]))
    }

    @Test func extractPromptEdgeCases() {
        func split(_ chosen: String, _ rejected: String) -> [String]? {
            PreferenceDataset.extractPrompt(chosen: Array(chosen), rejected: Array(rejected), isSpace: { $0 == " " })
                .map { [String($0.prompt), String($0.chosen), String($0.rejected)] }
        }
        #expect(split("same", "same") == ["sam", "e", "e"])
        #expect(split("a b", "a c") == ["a", " b", " c"])
        // Differing first characters give an empty prompt, even when chosen ends in a space (see the doc comment).
        #expect(split("yes ", "no") == ["", "yes ", "no"])
        #expect(split("", "no") == nil)
    }

    @Test func mixedFormatsNameTheLineAndBothFormats() throws {
        let error = try loadError("""
            {"prompt": "Q?", "chosen": "Yes.", "rejected": "No."}

            {"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "Y"}], "rejected": [{"role": "assistant", "content": "N"}]}
            """)
        #expect(error.location == .line(3))
        #expect(error.description.hasSuffix(", line 3: this record is \(PreferenceFormat.conversational), but the "
            + "first record (line 1) is \(PreferenceFormat.standard); a file must use one format"))

        let implicitAfterExplicit = try loadError("""
            {"prompt": "Q?", "chosen": "Yes.", "rejected": "No."}
            {"chosen": "Q? Yes.", "rejected": "Q? No."}
            """)
        #expect(implicitAfterExplicit.location == .line(2))
        #expect(implicitAfterExplicit.problem.contains("this record is \(PreferenceFormat.implicitPromptStandard)"))
    }

    @Test func aRecordMixingStringsAndMessagesIsAnError() throws {
        let error = try loadError(#"{"prompt": "Q?", "chosen": [{"role": "assistant", "content": "Y"}], "rejected": "N"}"#)
        #expect(error.location == .line(1))
        #expect(error.field == "chosen")
        #expect(error.problem == #"field "prompt" is a string but "chosen" is a list of messages; a record's fields are "#
            + "either all strings or all message lists")
    }

    @Test func emptyCompletionsCannotBeUsed() throws {
        let emptyList = try loadError(#"{"prompt": [], "chosen": [], "rejected": [{"role": "assistant", "content": "N"}]}"#)
        #expect(emptyList.field == "chosen")
        #expect(emptyList.problem == #"field "chosen" is an empty list of messages"#)

        let nothingToSplit = try loadError(#"{"chosen": "", "rejected": "No."}"#)
        #expect(nothingToSplit.location == .line(1))
        #expect(nothingToSplit.problem.hasPrefix(#"without a "prompt" field, "chosen" and "rejected" must both be non-empty"#))
    }
}
