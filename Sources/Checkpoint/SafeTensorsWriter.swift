import Foundation
import JSON

extension SafeTensorsFile {
    /// Writes F32 tensors and `metadata` as a safetensors file, atomically (see `AtomicFile`).
    ///
    /// Layout follows the reference writer: tensors sorted by name, `__metadata__` first in the header (omitted when
    /// empty), header padded with spaces to a multiple of 8 bytes so the data buffer starts 8-byte aligned.
    /// Values are streamed from the caller's buffers to the file; nothing tensor-sized is copied.
    public static func write(_ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)],
                             metadata: [String: String] = [:], to url: URL) throws {
        let path = url.path
        var names = Set<String>()
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != SafeTensorsHeader.metadataKey else {
                throw SafeTensorsError.invalidTensorName(file: path, tensor: tensor.name, reason: "the name is empty or reserved")
            }
            guard names.insert(tensor.name).inserted else {
                throw SafeTensorsError.invalidTensorName(file: path, tensor: tensor.name, reason: "the name is used twice")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafeTensorsError.invalidTensorEntry(file: path, tensor: tensor.name,
                                                          reason: "shape \(tensor.shape) has a negative dimension")
            }
            let elementCount = tensor.shape.reduce(1, *)
            guard elementCount == tensor.values.count else {
                throw SafeTensorsError.elementCountMismatch(file: path, tensor: tensor.name, shape: tensor.shape,
                                                            expected: elementCount, actual: tensor.values.count)
            }
        }
        let ordered = tensors.sorted { $0.name < $1.name }
        let header = encodeHeader(ordered.map { (name: $0.name, shape: $0.shape, byteCount: $0.values.count * 4) },
                                  metadata: metadata)

        try AtomicFile.write(to: url) { sink in
            try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink.writeAll($0) }
            try header.withUnsafeBytes { try sink.writeAll($0) }
            for tensor in ordered {
                try writeLittleEndian(tensor.values, to: sink)
            }
        }
    }

    /// The JSON header, space-padded to a multiple of 8 bytes. Offsets run contiguously in the given order.
    static func encodeHeader(_ tensors: [(name: String, shape: [Int], byteCount: Int)], metadata: [String: String]) -> [UInt8] {
        var header = JSONObject()
        if !metadata.isEmpty {
            let entries = metadata.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSONValue.string($0.value)) }
            header.members.append((SafeTensorsHeader.metadataKey, .object(JSONObject(entries))))
        }
        var offset = 0
        for tensor in tensors {
            let entry: JSONObject = ["dtype": "F32", "shape": .array(tensor.shape.map(JSONValue.integer)),
                                     "data_offsets": .array([.integer(offset), .integer(offset + tensor.byteCount)])]
            header.members.append((tensor.name, .object(entry)))
            offset += tensor.byteCount
        }
        var bytes = Array(JSONValue.object(header).serialized().utf8)
        let padding = (8 - bytes.count % 8) % 8
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        return bytes
    }

    /// Writes Float values as little-endian F32: directly from memory on little-endian hosts,
    /// otherwise byte-swapped through a bounded staging buffer.
    private static func writeLittleEndian(_ values: UnsafeBufferPointer<Float>, to sink: FileSink) throws {
        guard !hostIsLittleEndian else {
            try sink.writeAll(UnsafeRawBufferPointer(values))
            return
        }
        let chunkSize = 1 << 16
        var staging = [UInt32](repeating: 0, count: chunkSize)
        for chunkStart in stride(from: 0, to: values.count, by: chunkSize) {
            let chunk = chunkStart..<min(chunkStart + chunkSize, values.count)
            for (slot, index) in chunk.enumerated() {
                staging[slot] = values[index].bitPattern.littleEndian
            }
            try staging[0..<chunk.count].withUnsafeBytes { try sink.writeAll($0) }
        }
    }
}
