import Testing
import JSON

@Suite struct JSONWriterTests {
    static let sample: JSONValue = .object([
        "name": .string("tiny \"model\"\n"), "layers": .integer(2), "eps": .double(1e-05), "theta": .double(500000),
        "tied": .bool(false), "window": .null, "shape": .array([.integer(3), .integer(0)]), "nested": .object(["é": .array([])]),
    ])

    @Test(arguments: [JSONStyle.compact, .spaced, .indentedSorted,
                      JSONStyle(indent: "\t", itemSeparator: " ,", keySeparator: " : ", escapesNonASCII: true)])
    func writtenTextParsesBackToTheSameValue(style: JSONStyle) throws {
        let text = Self.sample.serialized(style)
        let parsed = try JSONValue.parse(Array(text.utf8), file: "written.json")
        if style.sortsKeys {
            guard case .object(let original) = Self.sample, case .object(let sorted) = parsed else {
                Issue.record("not objects")
                return
            }
            #expect(Set(sorted.members.map(\.key)) == Set(original.members.map(\.key)))
            for member in original.members { #expect(sorted[member.key] == member.value) }
        } else {
            #expect(parsed == Self.sample)
        }
    }

    @Test func layoutsAreExact() {
        #expect(Self.sample.serialized() == #"{"name":"tiny \"model\"\n","layers":2,"eps":1e-05,"theta":500000.0,"#
                + #""tied":false,"window":null,"shape":[3,0],"nested":{"é":[]}}"#)
        #expect(JSONValue.object(["step": .integer(1), "loss": .double(0.5)]).serialized(.spaced) == #"{"step": 1, "loss": 0.5}"#)
        #expect(Self.sample.serialized(.indentedSorted) == """
            {
              "eps": 1e-05,
              "layers": 2,
              "name": "tiny \\"model\\"\\n",
              "nested": {
                "é": []
              },
              "shape": [
                3,
                0
              ],
              "theta": 500000.0,
              "tied": false,
              "window": null
            }
            """)
    }

    @Test func stringsEscapeWhatJSONRequires() {
        let text = "q\" b\\ /\u{08}\u{0C}\n\r\t\u{01}\u{1F}\u{7F} é 👋"
        #expect(JSONValue.string(text).serialized() == #""q\" b\\ /\b\f\n\r\t\u0001\u001f"# + "\u{7F} é 👋\"")
        let ascii = JSONStyle(escapesNonASCII: true)
        #expect(JSONValue.string(text).serialized(ascii) == #""q\" b\\ /\b\f\n\r\t\u0001\u001f\u007f \u00e9 \ud83d\udc4b""#)
        #expect(JSONValue.string("e\u{301}").serialized(ascii) == #""e\u0301""#)
    }

    @Test func doublesReadBackExactlyAndNonFiniteOnesAreNullUnlessPythonIsAskedFor() throws {
        let doubles = [0.1, 1.0 / 3, -0.0, 1e16, 1e-7, 123456789.125, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        #expect(JSONValue.array(doubles.map(JSONValue.double)).serialized(.spaced)
                == "[0.1, 0.3333333333333333, -0.0, 1e+16, 1e-07, 123456789.125, 1.7976931348623157e+308, 5e-324]")
        for number in doubles {
            #expect(try JSONValue.parse(Array(JSONValue.double(number).serialized().utf8), file: "x") == .double(number))
        }
        let nonFinite = JSONValue.array([.double(.nan), .double(.infinity), .double(-.infinity)])
        #expect(nonFinite.serialized() == "[null,null,null]")
        #expect(nonFinite.serialized(JSONStyle(writesNonFiniteNumbersAsPython: true)) == "[NaN,Infinity,-Infinity]")
    }

    @Test func sortedKeysFollowCodePoints() {
        let object = JSONValue.object(["b": .integer(1), "é": .integer(2), "B": .integer(3), "a": .integer(4), "👋": .integer(5), "ﬀ": .integer(6)])
        #expect(object.serialized(JSONStyle(sortsKeys: true)) == #"{"B":3,"a":4,"b":1,"é":2,"ﬀ":6,"👋":5}"#)
    }
}
