import Foundation
import Testing
@testable import PreferenceData
import TestSupport
import ChatTemplate

/// Writes `text` to a file called `name`, loads it, and returns the DataError that loading must throw.
private func loadError(_ name: String, _ text: String) throws -> DataError {
    let directory = try TemporaryDirectory()
    let path = try directory.write(name, text)
    let error = try #require(throws: DataError.self) { try PreferenceDataset.load(path: path) }
    #expect(error.file == path)
    #expect(error.description.hasPrefix(path))
    return error
}

/// The standard-format examples of a file.
private func standardExamples(_ path: String) throws -> [PreferenceExample] {
    let file = try PreferenceDataset.load(path: path)
    #expect(file.format == .standard)
    guard case .standard(let examples) = file.records else {
        Issue.record("expected standard records, got \(file.records)")
        return []
    }
    return examples
}

private let firstExample = PreferenceExample(prompt: "Is 2+2=5?", chosen: "No, 4.", rejected: "Yes.")
private let secondExample = PreferenceExample(prompt: "Hi \"there\"", chosen: "Hello 👋 世界", rejected: "")

@Suite struct DatasetLoadingTests {
    @Test func loadsJSONLinesSkippingBlankLinesAndIgnoringExtraFields() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("pairs.jsonl", """

            {"prompt": "Is 2+2=5?", "chosen": "No, 4.", "rejected": "Yes.", "score": 3}
              \t
            {"rejected": "", "chosen": "Hello 👋 世界", "prompt": "Hi \\"there\\"", "extra": {"a": [1]}}

            """)
        #expect(try standardExamples(path) == [firstExample, secondExample])
    }

    @Test func loadsJSONArrayRegardlessOfExtension() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("pairs.jsonl", """
              [
              {"prompt": "Is 2+2=5?", "chosen": "No, 4.", "rejected": "Yes."},
              {"prompt": "Hi \\"there\\"", "chosen": "Hello 👋 世界", "rejected": "", "id": 7}
            ]
            """)
        #expect(try standardExamples(path) == [firstExample, secondExample])
    }

    @Test func acceptsByteOrderMarkAndCRLF() throws {
        let directory = try TemporaryDirectory()
        let byteOrderMark = Data([0xEF, 0xBB, 0xBF])
        let lines = #"{"prompt": "Is 2+2=5?", "chosen": "No, 4.", "rejected": "Yes."}"# + "\r\n\r\n"
            + #"{"prompt": "Hi \"there\"", "chosen": "Hello 👋 世界", "rejected": ""}"# + "\r\n"
        let jsonl = try directory.write("crlf.jsonl", byteOrderMark + Data(lines.utf8))
        #expect(try standardExamples(jsonl) == [firstExample, secondExample])

        let array = "[\r\n" + #"{"prompt": "Is 2+2=5?", "chosen": "No, 4.", "rejected": "Yes."}"# + "\r\n]\r\n"
        let json = try directory.write("bom.json", byteOrderMark + Data(array.utf8))
        #expect(try standardExamples(json) == [firstExample])
    }

    @Test func malformedJSONLineNamesLineAndParserReason() throws {
        let error = try loadError("bad.jsonl", """
            {"prompt": "a", "chosen": "b", "rejected": "c"}

            {"prompt": "a", "chosen": "b", "rejected": "c"
            """)
        #expect(error.location == .line(3))
        #expect(error.description.contains(", line 3: malformed JSON: "))
        #expect(error.problem.count > "malformed JSON: ".count + 5)
    }

    @Test func missingFieldNamesLineAndField() throws {
        let error = try loadError("missing.jsonl", """
            {"prompt": "a", "chosen": "b", "rejected": "c"}
            {"prompt": "a", "chosen": "b"}
            """)
        #expect(error.location == .line(2))
        #expect(error.field == "rejected")
        #expect(error.description.hasSuffix(#", line 2: missing field "rejected""#))
    }

    @Test(arguments: [
        (#"{"prompt": 5, "chosen": "b", "rejected": "c"}"#, "prompt", "must be a string or a list of messages, found a number"),
        (#"{"prompt": "a", "chosen": null, "rejected": "c"}"#, "chosen", "must be a string or a list of messages, found null"),
        (#"{"prompt": "a", "chosen": "b", "rejected": true}"#, "rejected", "must be a string or a list of messages, found a boolean"),
        (#"{"prompt": "a", "chosen": {"t": "b"}, "rejected": "c"}"#, "chosen", "must be a string or a list of messages, found an object"),
        (#"{"prompt": ["a"], "chosen": "b", "rejected": "c"}"#, "prompt",
         #"must be a string or a list of {"role", "content"} messages; element [0] is a string"#),
        (#"{"prompt": [{"role": "user"}], "chosen": [], "rejected": []}"#, "prompt",
         #"element [0]: "content" must be a string, found nothing"#),
        (#"{"prompt": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "chosen": [], "rejected": []}"#,
         "prompt", #"element [0]: "content" must be a string, found an array (a list of parts; only plain string content is supported)"#),
    ])
    func wrongFieldTypeNamesLineFieldAndFoundType(line: String, field: String, problem: String) throws {
        let error = try loadError("types.jsonl", "\n" + line + "\n")
        #expect(error.location == .line(2))
        #expect(error.field == field)
        #expect(error.description.hasSuffix(#", line 2: field "\#(field)" \#(problem)"#))
    }

    /// Message lists decode role and content as written; multimodal content (a list of parts) is rejected saying so.
    @Test func chatMessagesDecodeFromJSON() throws {
        let directory = try TemporaryDirectory()
        let completions = #""chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]"#
        let path = try directory.write("chat.jsonl", #"{"prompt": [{"role": "system", "content": "Be brief."}, "#
                                       + #"{"role": "user", "content": "Grüße 👋"}], "# + completions + "}")
        let file = try PreferenceDataset.load(path: path)
        guard case .conversational(let examples) = file.records else {
            Issue.record("expected conversational records, got \(file.records)")
            return
        }
        #expect(examples.map(\.prompt) == [[ChatMessage(role: "system", content: "Be brief."),
                                            ChatMessage(role: "user", content: "Grüße 👋")]])

        let parts = try loadError("parts.jsonl", #"{"prompt": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "#
                                  + completions + "}")
        #expect(parts.problem.contains("list of parts"))
    }

    @Test func nonObjectLineIsRejected() throws {
        let error = try loadError("scalar.jsonl", "\"just a string\"\n")
        #expect(error.location == .line(1))
        #expect(error.description.contains(", line 1: expected a JSON object"))
        #expect(error.description.hasSuffix("found a string"))
    }

    @Test func jsonArrayErrorsNameTheElementIndex() throws {
        let missing = try loadError("missing.json", """
            [{"prompt": "a", "chosen": "b", "rejected": "c"},
             {"prompt": "a", "chosen": "b", "rejected": "c"},
             {"prompt": "a", "rejected": "c"}]
            """)
        #expect(missing.location == .arrayIndex(2))
        #expect(missing.description.hasSuffix(#", array element [2]: missing field "chosen""#))

        let wrongType = try loadError("types.json", #"[{"prompt": "a", "chosen": "b", "rejected": 1.5}]"#)
        #expect(wrongType.location == .arrayIndex(0))
        #expect(wrongType.description.hasSuffix(
            #", array element [0]: field "rejected" must be a string or a list of messages, found a number"#))

        let notObject = try loadError("numbers.json", "[1, 2]")
        #expect(notObject.location == .arrayIndex(0))
        #expect(notObject.description.hasSuffix("found a number"))
    }

    @Test func malformedJSONArrayIncludesParserReason() throws {
        let error = try loadError("bad.json", #"[{"prompt": "a", "chosen": "b", "rejected": "c"},"#)
        #expect(error.location == nil)
        #expect(error.description.contains(": malformed JSON: "))
        #expect(error.problem.count > "malformed JSON: ".count + 5)
    }

    @Test(arguments: ["", "   \n\r\n\t", "\u{FEFF}\n"])
    func emptyFileIsAnError(contents: String) throws {
        let error = try loadError("empty.jsonl", contents)
        #expect(error.location == nil)
        #expect(error.description.contains(": the file is empty"))
    }

    @Test func emptyArrayHasNoExamples() throws {
        let error = try loadError("empty.json", " [ ] ")
        #expect(error.description.hasSuffix(": the file contains no examples"))
    }

    @Test func missingFileAndDirectoryAreErrors() throws {
        let directory = try TemporaryDirectory()
        let missingPath = directory.url.appendingPathComponent("nope.jsonl").path
        #expect(throws: DataError(file: missingPath, problem: "the file does not exist")) {
            try PreferenceDataset.load(path: missingPath)
        }
        #expect(throws: DataError(file: directory.url.path, problem: "this is a directory, not a dataset file")) {
            try PreferenceDataset.load(path: directory.url.path)
        }
    }

    @Test(.enabled(if: getuid() != 0, "root can read files without read permission"))
    func unreadableFileIsAnError() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("locked.jsonl", #"{"prompt": "a", "chosen": "b", "rejected": "c"}"#)
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: path)
        let error = try #require(throws: DataError.self) { try PreferenceDataset.load(path: path) }
        #expect(error.description.hasPrefix("\(path): the file cannot be read"))
    }
}
