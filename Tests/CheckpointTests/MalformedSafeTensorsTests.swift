import Foundation
import Testing
import Checkpoint

/// A malformed file and the error reading it must give (`file` is filled in with the path the case is written to).
struct MalformedCase: CustomTestStringConvertible, Sendable {
    let label: String
    let bytes: Data
    let expected: @Sendable (String) -> SafeTensorsError
    var testDescription: String { label }
}

private let eightBytes = [UInt8](repeating: 0, count: 8)
private let validHeader = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
private let validFile = safetensorsBytes(header: validHeader, data: eightBytes)

private func header(_ entries: String) -> String { "{\(entries)}" }

let malformedCases: [MalformedCase] = [
    MalformedCase(label: "empty file", bytes: Data(), expected: { .fileTooSmall(file: $0, size: 0) }),
    MalformedCase(label: "shorter than the length prefix", bytes: Data([1, 0, 0]), expected: { .fileTooSmall(file: $0, size: 3) }),
    MalformedCase(label: "truncated inside the header", bytes: validFile.prefix(20),
                  expected: { .headerLengthOutOfRange(file: $0, headerLength: UInt64(validHeader.utf8.count), fileSize: 20) }),
    MalformedCase(label: "truncated inside the data", bytes: validFile.dropLast(3),
                  expected: { .tensorOutOfBounds(file: $0, tensor: "w", begin: 0, end: 8, bufferSize: 5) }),
    MalformedCase(label: "header length beyond the file",
                  bytes: safetensorsBytes(header: validHeader, data: eightBytes, declaredHeaderLength: 1000),
                  expected: { .headerLengthOutOfRange(file: $0, headerLength: 1000, fileSize: validFile.count) }),
    MalformedCase(label: "absurd header length",
                  bytes: safetensorsBytes(header: validHeader, data: eightBytes, declaredHeaderLength: UInt64.max),
                  expected: { .headerLengthOutOfRange(file: $0, headerLength: UInt64.max, fileSize: validFile.count) }),
    MalformedCase(label: "header is not JSON", bytes: safetensorsBytes(header: "{not json"),
                  expected: { .invalidHeader(file: $0, reason: "malformed JSON at line 1, column 2: expected a string key") }),
    MalformedCase(label: "header is not UTF-8",
                  bytes: { var bytes = safetensorsBytes(header: #"{"__metadata__":{"a":"x"}}"#); bytes[30] = 0xff; return bytes }(),
                  expected: { .invalidHeader(file: $0, reason: "malformed JSON at line 1, column 22: the string is not valid UTF-8") }),
    MalformedCase(label: "header is a JSON array", bytes: safetensorsBytes(header: "[1, 2]"),
                  expected: { .invalidHeader(file: $0, reason: "the header is not a JSON object") }),
    MalformedCase(label: "metadata values are not strings",
                  bytes: safetensorsBytes(header: header(#""__metadata__":{"step":3}"#)),
                  expected: { .invalidHeader(file: $0, reason: "'__metadata__' must map strings to strings") }),
    MalformedCase(label: "tensor entry is not an object", bytes: safetensorsBytes(header: header(#""w":[1]"#)),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "the entry must be a JSON object") }),
    MalformedCase(label: "missing dtype", bytes: safetensorsBytes(header: header(#""w":{"shape":[],"data_offsets":[0,0]}"#)),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "missing 'dtype'") }),
    MalformedCase(label: "fractional shape",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}"#)),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "'shape' must be an array of integers") }),
    MalformedCase(label: "negative dimension",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#)),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "'shape' [-2] has a negative dimension") }),
    MalformedCase(label: "three offsets",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}"#), data: eightBytes),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "'data_offsets' [0, 4, 8] must be two non-negative integers") }),
    MalformedCase(label: "offsets are strings",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}"#), data: eightBytes),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "'data_offsets' must be an array of two integers") }),
    MalformedCase(label: "unknown dtype",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}"#), data: [0, 0]),
                  expected: { .unsupportedDType(file: $0, tensor: "w", dtype: "F8_E4M3") }),
    MalformedCase(label: "shape and byte size disagree",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}"#), data: eightBytes),
                  expected: { .sizeMismatch(file: $0, tensor: "w", shape: [3], dtype: "F32", expectedBytes: 12, actualBytes: 8) }),
    MalformedCase(label: "shape overflows",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[9223372036854775807,2],"data_offsets":[0,8]}"#)),
                  expected: { .invalidTensorEntry(file: $0, tensor: "w", reason: "shape [9223372036854775807, 2] is too large") }),
    MalformedCase(label: "offsets past the buffer",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}"#), data: eightBytes),
                  expected: { .tensorOutOfBounds(file: $0, tensor: "w", begin: 8, end: 16, bufferSize: 8) }),
    MalformedCase(label: "begin after end",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}"#), data: eightBytes),
                  expected: { .invalidOffsets(file: $0, tensor: "w", begin: 8, end: 0, reason: "begin is after end") }),
    MalformedCase(label: "overlapping tensors",
                  bytes: safetensorsBytes(header: header(#""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#),
                                          data: eightBytes),
                  expected: { .invalidOffsets(file: $0, tensor: "b", begin: 4, end: 8, reason: "overlaps tensor 'a', which ends at 8") }),
    MalformedCase(label: "gap between tensors",
                  bytes: safetensorsBytes(header: header(#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}"#),
                                          data: eightBytes),
                  expected: { .invalidOffsets(file: $0, tensor: "b", begin: 6, end: 8, reason: "leaves a gap after byte 4 (end of tensor 'a')") }),
    MalformedCase(label: "bytes after the last tensor",
                  bytes: safetensorsBytes(header: header(#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#), data: eightBytes),
                  expected: { .trailingBytes(file: $0, dataEnd: 4, bufferSize: 8) }),
]

@Suite struct MalformedSafeTensorsTests {
    @Test(arguments: malformedCases)
    func malformedFileGivesItsError(_ malformed: MalformedCase) throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("broken.safetensors")
            try malformed.bytes.write(to: url)
            let error = try #require(throws: SafeTensorsError.self) { try SafeTensorsFile.read(contentsOf: url) }
            #expect(error == malformed.expected(url.path))
            #expect(error.description.hasPrefix(url.path))
        }
    }

    @Test func theValidBaseFileReads() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("valid.safetensors")
            try validFile.write(to: url)
            #expect(try SafeTensorsFile.read(contentsOf: url).tensor(named: "w").floats() == [0, 0])
        }
    }

    @Test func missingFileAndDirectoryAreIOErrors() throws {
        try withScratchDirectory { directory in
            let missing = directory.appendingPathComponent("missing.safetensors")
            #expect(throws: CheckpointError.io(operation: "open", path: missing.path, code: ENOENT)) {
                try SafeTensorsFile.read(contentsOf: missing)
            }
            let error = try #require(throws: CheckpointError.self) { try SafeTensorsFile.read(contentsOf: directory) }
            guard case let .io(_, path, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(path == directory.path)
        }
    }
}
