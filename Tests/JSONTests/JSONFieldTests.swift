import Testing
import JSON

private let config = """
    {"rope_scaling": {"factor": "4", "rope_type": "llama3"}, "layers": 8.0, "ratio": 1.5, "window": null,
     "merges": [["a", "b"], "c d", 3], "tied": 1}
    """

private func root() throws -> JSONField {
    try JSONField.parse(Array(config.utf8), file: "config.json")
}

@Suite struct JSONFieldTests {
    @Test func typedAccessErrorsNameTheFileAndTheKeyPath() throws {
        let scaling = try root().required("rope_scaling")
        let factor = try #require(throws: JSONError.self) { try scaling.required("factor").double() }
        #expect(factor == JSONError(file: "config.json", path: "rope_scaling.factor",
                                    problem: .wrongType(expected: "a number", found: "a string")))
        #expect(factor.description == #"config.json: "rope_scaling.factor": expected a number, found a string"#)

        let missing = try #require(throws: JSONError.self) { try scaling.required("low_freq_factor") }
        #expect(missing.description == #"config.json: "rope_scaling.low_freq_factor": missing required key"#)

        let element = try #require(throws: JSONError.self) { try root().required("merges").array()[2].string() }
        #expect(element.description == #"config.json: "merges[2]": expected a string, found a number"#)
        let nested = try #require(throws: JSONError.self) { try root().required("merges").array()[0].array()[1].int() }
        #expect(nested.path == "merges[0][1]")

        let notAnObject = try #require(throws: JSONError.self) { try root().required("layers").optional("x") }
        #expect(notAnObject.description == #"config.json: "layers": expected an object, found a number"#)
    }

    @Test func nullCountsAsAbsent() throws {
        #expect(try root().optional("window") == nil)
        #expect(try root().optional("nothing") == nil)
        let error = try #require(throws: JSONError.self) { try root().required("window") }
        #expect(error == JSONError(file: "config.json", path: "window", problem: .missingKey))
    }

    @Test func integersMayBeWrittenAsWholeDoubles() throws {
        #expect(try root().required("layers").int() == 8)
        #expect(try root().required("layers").double() == 8)
        let fraction = try #require(throws: JSONError.self) { try root().required("ratio").int() }
        #expect(fraction.problem == .wrongType(expected: "an integer", found: "1.5"))
        let flag = try #require(throws: JSONError.self) { try root().required("tied").bool() }
        #expect(flag.problem == .wrongType(expected: "a boolean", found: "a number"))
    }

    @Test func membersAndReaderErrorsKeepThePath() throws {
        let members = try root().required("rope_scaling").members()
        #expect(members.map(\.key) == ["factor", "rope_type"])
        #expect(members.map(\.value.path) == ["rope_scaling.factor", "rope_scaling.rope_type"])
        let scaling = try root().required("rope_scaling")
        #expect(scaling.error("unsupported").description == #"config.json: "rope_scaling": unsupported"#)
        #expect(scaling.error("unsupported", key: "rope_type").path == "rope_scaling.rope_type")
        #expect(try root().error("empty").description == "config.json: empty")
    }
}
