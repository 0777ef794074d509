import Foundation
import Testing
@testable import Checkpoint

/// Bitwise equality, so NaN payloads, infinities and the sign of zero are compared too.
private func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.map(\.bitPattern) == b.map(\.bitPattern)
}

@Suite struct SafeTensorsRoundTripTests {
    @Test func f32RoundTripKeepsValuesShapesAndMetadata() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            let weight: [Float] = [1, -2.5, .infinity, -.infinity, .nan, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
            let bias: [Float] = [0.125]
            let oddName = "h.0 \"quoted\"\\ü\n\u{1}"
            let metadata = ["format": "pt", "step": "42", "note": "line\nbreak \"q\" ✓"]
            try writeF32([(name: "z.weight", shape: [2, 4], values: weight), (name: oddName, shape: [], values: bias),
                          (name: "a.empty", shape: [0, 3], values: [])], metadata: metadata, to: url)
            let file = try SafeTensorsFile.read(contentsOf: url)
            #expect(file.metadata == metadata)
            #expect(Set(file.names) == ["z.weight", oddName, "a.empty"])
            let weightTensor = try #require(file["z.weight"])
            #expect(weightTensor.dtype == .F32)
            #expect(weightTensor.shape == [2, 4])
            #expect(sameBits(try weightTensor.floats(), weight))
            #expect(try file.tensor(named: oddName).shape == [])
            #expect(try file.tensor(named: oddName).floats() == bias)
            #expect(try file.tensor(named: "a.empty").floats().isEmpty)
            #expect(try entries(of: directory) == ["model.safetensors"], "no temporary file is left behind")
        }
    }

    @Test func writerPadsHeaderToEightBytesAndSortsByName() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("sorted.safetensors")
            try writeF32([(name: "b", shape: [3], values: [1, 2, 3]), (name: "a", shape: [3], values: [4, 5, 6])], to: url)
            let bytes = try Data(contentsOf: url)
            let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            #expect(headerLength % 8 == 0)
            #expect(bytes.count == 8 + headerLength + 24)
            let header = try #require(String(data: bytes[8..<(8 + headerLength)], encoding: .utf8))
            #expect(!header.contains("__metadata__"), "empty metadata is omitted")
            #expect(try SafeTensorsFile.read(contentsOf: url).names == ["a", "b"])
        }
    }

    @Test func writerMatchesTheOfficialWriterByteForByte() throws {
        let reference = try Data(contentsOf: fixtureURL("f32_writer_reference.safetensors"))
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("ours.safetensors")
            try writeF32([(name: "wte", shape: [3, 2], values: (0..<6).map { Float($0) / 4 }),
                          (name: "h.0.ln_1.bias", shape: [3], values: [-1.5, 2.0, 0.0]),
                          (name: "ln_f.weight", shape: [], values: [1.0])], metadata: ["format": "pt"], to: url)
            #expect(try Data(contentsOf: url) == reference)
        }
    }

    /// Values streamed in pieces (a sharded optimizer state arriving rank by rank) make the file of the whole buffers,
    /// a slice reads back from the middle of a tensor, and pieces that do not add up are refused.
    @Test func piecewiseWriteEqualsTheWholeWriteAndSlicesReadBack() throws {
        try withScratchDirectory { directory in
            let (whole, pieces) = (directory.appendingPathComponent("whole.safetensors"),
                                   directory.appendingPathComponent("pieces.safetensors"))
            let (b, a): ([Float], [Float]) = ((0..<10).map { Float($0) / 8 }, [-1, 2.5])
            try writeF32([(name: "b", shape: [10], values: b), (name: "a", shape: [2], values: a)], to: whole)
            var asked: [Int] = []
            try SafeTensorsFile.write([("b", [10]), ("a", [2])], to: pieces) { index, write in
                asked.append(index)
                let values = index == 0 ? b : a
                for start in stride(from: 0, to: values.count, by: 3) {
                    try values[start ..< min(start + 3, values.count)].withUnsafeBufferPointer { try write($0) }
                }
            }
            #expect(asked == [1, 0], "tensors come in file order, named by their index in the list")
            #expect(try Data(contentsOf: pieces) == Data(contentsOf: whole))
            var slice = [Float](repeating: 0, count: 4)
            try slice.withUnsafeMutableBufferPointer {
                try SafeTensorsFile.read(contentsOf: pieces).tensor(named: "b").copyFloats(3 ..< 7, into: $0)
            }
            #expect(slice == Array(b[3 ..< 7]))
            let short = directory.appendingPathComponent("short.safetensors")
            #expect(throws: SafeTensorsError.elementCountMismatch(file: short.path, tensor: "b", shape: [10], expected: 10, actual: 9)) {
                try SafeTensorsFile.write([("b", [10])], to: short) { _, write in
                    try b.dropLast().withUnsafeBufferPointer { try write($0) }
                }
            }
            #expect(!FileManager.default.fileExists(atPath: short.path))
        }
    }

    @Test func writerRejectsBadTensorsAndWritesNothing() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("bad.safetensors")
            #expect(throws: SafeTensorsError.elementCountMismatch(file: url.path, tensor: "w", shape: [2, 2], expected: 4, actual: 3)) {
                try writeF32([(name: "w", shape: [2, 2], values: [1, 2, 3])], to: url)
            }
            #expect(throws: SafeTensorsError.invalidTensorName(file: url.path, tensor: "w", reason: "the name is used twice")) {
                try writeF32([(name: "w", shape: [1], values: [1]), (name: "w", shape: [1], values: [2])], to: url)
            }
            #expect(throws: SafeTensorsError.invalidTensorName(file: url.path, tensor: "__metadata__",
                                                               reason: "the name is empty or reserved")) {
                try writeF32([(name: "__metadata__", shape: [1], values: [1])], to: url)
            }
            #expect(throws: SafeTensorsError.invalidTensorEntry(file: url.path, tensor: "w",
                                                                reason: "shape [-1, -3] has a negative dimension")) {
                try writeF32([(name: "w", shape: [-1, -3], values: [1, 2, 3])], to: url)
            }
            let leftovers = try entries(of: directory)
            #expect(leftovers.isEmpty)
        }
    }

    @Test func writeIntoMissingDirectoryFailsWithPath() throws {
        try withScratchDirectory { directory in
            let url = directory.appendingPathComponent("missing/model.safetensors")
            let error = try #require(throws: CheckpointError.self) {
                try writeF32([(name: "w", shape: [1], values: [1])], to: url)
            }
            guard case let .io(_, path, code) = error else { Issue.record("unexpected \(error)"); return }
            #expect(code == ENOENT)
            #expect(path.hasPrefix(directory.appendingPathComponent("missing").path))
        }
    }
}

@Suite struct OfficialFixtureTests {
    @Test func readsTensorsWrittenByPythonSafetensors() throws {
        let file = try SafeTensorsFile.read(contentsOf: fixtureURL("reference.safetensors"))
        #expect(file.metadata == ["format": "pt", "note": "fixture \"quoted\" ü"])
        #expect(file.names == ["token.ids", "double.scalar", "empty", "linear.weight", "bf16.edges", "half.edges"])

        let linear = try file.tensor(named: "linear.weight")
        #expect(linear.dtype == .F32)
        #expect(linear.shape == [2, 3])
        #expect(try linear.floats() == [0.5, -1.25, 3.0, 1024.0, -0.0078125, 7.0])

        let half = try file.tensor(named: "half.edges")
        #expect(half.dtype == .F16)
        #expect(sameBits(try half.floats(), [65504, 0x1p-14, 0x1p-24, 1023 * 0x1p-24, .infinity, -.infinity, .nan, -0.0, 1]))

        let bf16 = try file.tensor(named: "bf16.edges")
        #expect(bf16.dtype == .BF16)
        let bf16Values = try bf16.floats()
        #expect(bf16Values[4].isNaN)
        #expect(sameBits(Array(bf16Values[0..<4]) + [bf16Values[5]],
                         [Float(bitPattern: 0x7f7f_0000), 0x1p-126, 0x1p-133, -.infinity, 3.140625]))

        let double = try file.tensor(named: "double.scalar")
        #expect(double.dtype == .F64)
        #expect(double.shape == [])
        #expect(try double.floats() == [-2.5])

        let empty = try file.tensor(named: "empty")
        #expect(empty.shape == [0, 4])
        #expect(empty.elementCount == 0)
        #expect(try empty.floats().isEmpty)
    }

    @Test func copiesFloatsIntoACallerBuffer() throws {
        let file = try SafeTensorsFile.read(contentsOf: fixtureURL("reference.safetensors"))
        let path = file.url.path
        var flat = [Float](repeating: 99, count: 8)
        try flat.withUnsafeMutableBufferPointer { buffer in
            try file.tensor(named: "linear.weight").copyFloats(into: UnsafeMutableBufferPointer(rebasing: buffer[1..<7]))
            #expect(throws: SafeTensorsError.elementCountMismatch(file: path, tensor: "linear.weight", shape: [2, 3],
                                                                  expected: 6, actual: 8)) {
                try file.tensor(named: "linear.weight").copyFloats(into: buffer)
            }
        }
        #expect(flat == [99, 0.5, -1.25, 3.0, 1024.0, -0.0078125, 7.0, 99])
    }

    @Test func integerTensorsAreNotConvertedAndMissingNamesAreReported() throws {
        let file = try SafeTensorsFile.read(contentsOf: fixtureURL("reference.safetensors"))
        let path = file.url.path
        let ids = try file.tensor(named: "token.ids")
        #expect(ids.dtype == .I64)
        #expect(ids.shape == [3])
        #expect(throws: SafeTensorsError.notFloatingPoint(file: path, tensor: "token.ids", dtype: .I64)) { try ids.floats() }
        #expect(file["wpe"] == nil)
        let error = try #require(throws: SafeTensorsError.self) { try file.tensor(named: "wpe") }
        #expect(error == .missingTensor(file: path, tensor: "wpe"))
        #expect(error.description.contains(path) && error.description.contains("'wpe'"))
    }
}

@Suite struct HalfPrecisionConversionTests {
    @Test func halfEdgeValues() {
        #expect(floatFromHalfBits(0x0000).bitPattern == Float(0).bitPattern)
        #expect(floatFromHalfBits(0x8000).bitPattern == Float(-0.0).bitPattern)
        #expect(floatFromHalfBits(0x0001) == 0x1p-24)          // smallest subnormal
        #expect(floatFromHalfBits(0x8001) == -0x1p-24)
        #expect(floatFromHalfBits(0x03ff) == 1023 * 0x1p-24)   // largest subnormal
        #expect(floatFromHalfBits(0x0400) == 0x1p-14)          // smallest normal
        #expect(floatFromHalfBits(0x3c00) == 1)
        #expect(floatFromHalfBits(0x3c01) == 1 + 0x1p-10)
        #expect(floatFromHalfBits(0xc000) == -2)
        #expect(floatFromHalfBits(0x7bff) == 65504)            // largest finite
        #expect(floatFromHalfBits(0x7c00) == .infinity)
        #expect(floatFromHalfBits(0xfc00) == -.infinity)
        #expect(floatFromHalfBits(0x7e00).isNaN)
        #expect(floatFromHalfBits(0x7c01).isSignalingNaN)     // payload kept: quiet bit stays clear
        #expect(floatFromHalfBits(0xfe00).sign == .minus)
    }

    #if !(os(macOS) && arch(x86_64))
    @Test func halfMatchesFloat16ForEveryBitPattern() {
        for bits in UInt16.min...UInt16.max {
            let ours = floatFromHalfBits(bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                #expect(ours.isNaN && ours.sign == reference.sign, "bits \(bits)")
            } else if ours.bitPattern != reference.bitPattern {
                Issue.record("bits \(String(bits, radix: 16)): \(ours) != \(reference)")
            }
        }
    }
    #endif

    @Test func bfloat16EdgeValues() {
        #expect(floatFromBFloat16Bits(0x3f80) == 1)
        #expect(floatFromBFloat16Bits(0xbf80) == -1)
        #expect(floatFromBFloat16Bits(0x8000).bitPattern == Float(-0.0).bitPattern)
        #expect(floatFromBFloat16Bits(0x0001) == 0x1p-133)     // smallest subnormal
        #expect(floatFromBFloat16Bits(0x0080) == 0x1p-126)     // smallest normal
        #expect(floatFromBFloat16Bits(0x7f7f) == Float(bitPattern: 0x7f7f_0000))
        #expect(floatFromBFloat16Bits(0x7f80) == .infinity)
        #expect(floatFromBFloat16Bits(0xff80) == -.infinity)
        #expect(floatFromBFloat16Bits(0x7fc0).isNaN)
        #expect(floatFromBFloat16Bits(0x4049) == 3.140625)
    }
}
