import Foundation
import Checkpoint

/// Runs `body` with a fresh empty directory that is deleted afterwards.
func withScratchDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("checkpoint-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

/// A committed fixture file written by the official Python package (tools/make_safetensors_fixture.py).
func fixtureURL(_ name: String) throws -> URL {
    guard let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw CocoaError(.fileNoSuchFile)
    }
    return fixtures.appendingPathComponent(name)
}

/// Raw safetensors bytes: length prefix (the header's true length unless overridden), header, data.
func safetensorsBytes(header: String, data: [UInt8] = [], declaredHeaderLength: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    var bytes = Data()
    withUnsafeBytes(of: (declaredHeaderLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: headerBytes)
    bytes.append(contentsOf: data)
    return bytes
}

/// Names of the entries in `directory`, sorted.
func entries(of directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}

/// Calls `SafeTensorsFile.write` with buffers holding copies of `tensors`' values.
func writeF32(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:], to url: URL) throws {
    let buffers = tensors.map { tensor in
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: tensor.values.count)
        _ = buffer.initialize(from: tensor.values)
        return buffer
    }
    defer { buffers.forEach { $0.deallocate() } }
    try SafeTensorsFile.write(zip(tensors, buffers).map { (name: $0.name, shape: $0.shape, values: UnsafeBufferPointer($1)) },
                              metadata: metadata, to: url)
}
